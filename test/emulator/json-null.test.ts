// The class behind Python's compose 404 (issue 9): clients send `"field": null` for "not set", and Google reads a
// JSON null as an absent field everywhere but in a patch. Property: for every request body below, any set of its
// optional fields sent as null gets the same answer as the same fields left out. Each variant runs on fresh
// resources; answers are compared on status and the fields that request decides.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { adminFetch, useAdminEmulator } from './clients.js';

let emu: RunningEmulator;
useAdminEmulator({}, (s) => {
  emu = s.emu;
});

type Json = Record<string, unknown>;
let n = 0;
const fresh = (p: string) => `${p}-${++n}`;

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** Sets (value given) or deletes (undefined) the member at a dotted path; missing parents are left alone. */
function at(body: Json, path: string, value: null | undefined): Json {
  const out = clone(body);
  const keys = path.split('.');
  let node: unknown = out;
  for (const k of keys.slice(0, -1)) {
    node = (node as Record<string, unknown> | undefined)?.[k];
    if (typeof node !== 'object' || node === null) return out;
  }
  const last = keys[keys.length - 1] as string;
  if (value === undefined) delete (node as Record<string, unknown>)[last];
  else (node as Record<string, unknown>)[last] = value;
  return out;
}

async function call(
  method: string,
  path: string,
  body: unknown,
  contentType?: string,
): Promise<{ status: number; body: Json }> {
  const res = await adminFetch(emu, path, {
    method,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(contentType ? { headers: { 'content-type': contentType } } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
}

async function bucket(extra: Json = {}): Promise<string> {
  const name = fresh('nulls');
  const r = await call('POST', `/storage/v1/b?project=${emu.projectId}`, {
    name,
    iamConfiguration: { uniformBucketLevelAccess: { enabled: true } },
    ...extra,
  });
  expect(r.status).toBe(200);
  return name;
}

async function put(b: string, name: string, data: string): Promise<Json> {
  const res = await adminFetch(emu, `/upload/storage/v1/b/${b}/o?uploadType=media&name=${encodeURIComponent(name)}`, {
    method: 'POST',
    body: data,
    headers: { 'content-type': 'text/plain' },
  });
  return (await res.json()) as Json;
}

const pick = (body: Json, keys: string[]) => Object.fromEntries(keys.map((k) => [k, body[k]]));

interface Template {
  name: string;
  optional: string[];
  /** Sends the body (built by `body`, then edited) on fresh resources; answers what must not depend on null vs absent. */
  run: (edit: (body: Json) => Json) => Promise<unknown>;
}

const templates: Template[] = [
  {
    name: 'objects.compose',
    optional: [
      'sourceObjects.0.generation',
      'sourceObjects.0.objectPreconditions',
      'sourceObjects.0.objectPreconditions.ifGenerationMatch',
      'sourceObjects.1.generation',
      'destination',
      'destination.contentType',
      'destination.metadata',
      'destination.metadata.a',
      'kind',
    ],
    run: async (edit) => {
      const b = await bucket();
      const p1 = await put(b, 'p1', 'abc');
      await put(b, 'p2', 'def');
      const body = edit({
        kind: 'storage#composeRequest',
        sourceObjects: [
          { name: 'p1', generation: p1.generation, objectPreconditions: { ifGenerationMatch: p1.generation } },
          { name: 'p2' },
        ],
        destination: { contentType: 'text/csv', metadata: { a: '1' } },
      });
      const r = await call('POST', `/storage/v1/b/${b}/o/whole/compose`, body);
      return { status: r.status, ...pick(r.body, ['size', 'contentType', 'metadata', 'componentCount']) };
    },
  },
  {
    name: 'objects.rewrite',
    optional: ['contentType', 'metadata', 'metadata.k', 'cacheControl', 'contentDisposition'],
    run: async (edit) => {
      const b = await bucket();
      await put(b, 'src', 'payload');
      const body = edit({
        contentType: 'text/x',
        metadata: { k: 'v' },
        cacheControl: 'no-cache',
        contentDisposition: 'inline',
      });
      const r = await call('POST', `/storage/v1/b/${b}/o/src/rewriteTo/b/${b}/o/dst`, body);
      const res = (r.body.resource ?? {}) as Json;
      return {
        status: r.status,
        ...pick(res, ['size', 'contentType', 'metadata', 'cacheControl', 'contentDisposition']),
      };
    },
  },
  {
    name: 'objects.insert (multipart metadata)',
    optional: [
      'contentType',
      'metadata',
      'metadata.k',
      'cacheControl',
      'md5Hash',
      'crc32c',
      'customTime',
      'temporaryHold',
    ],
    run: async (edit) => {
      const b = await bucket();
      const data = 'hello';
      const meta = edit({
        name: 'm',
        contentType: 'text/plain',
        metadata: { k: 'v' },
        cacheControl: 'private',
        md5Hash: createHash('md5').update(data).digest('base64'),
        crc32c: 'mnG7TA==',
        customTime: '2026-01-01T00:00:00Z',
        temporaryHold: false,
      });
      const boundary = 'nullsBoundary';
      const body =
        `--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify(meta)}\r\n` +
        `--${boundary}\r\nContent-Type: application/octet-stream\r\n\r\n${data}\r\n--${boundary}--\r\n`;
      const r = await call(
        'POST',
        `/upload/storage/v1/b/${b}/o?uploadType=multipart`,
        body,
        `multipart/related; boundary=${boundary}`,
      );
      return { status: r.status, ...pick(r.body, ['size', 'contentType', 'metadata', 'cacheControl', 'customTime']) };
    },
  },
  {
    name: 'buckets.setIamPolicy',
    optional: ['version', 'etag', 'bindings.0.condition', 'bindings.0.condition.description', 'kind', 'resourceId'],
    run: async (edit) => {
      const b = await bucket();
      const current = await call('GET', `/storage/v1/b/${b}/iam`, undefined);
      const body = edit({
        kind: 'storage#policy',
        resourceId: `projects/_/buckets/${b}`,
        version: 3,
        etag: current.body.etag,
        bindings: [
          {
            role: 'roles/storage.objectViewer',
            members: ['user:a@example.com'],
            condition: { title: 't', description: 'd', expression: 'true' },
          },
        ],
      });
      const r = await call('PUT', `/storage/v1/b/${b}/iam`, body);
      return { status: r.status, ...pick(r.body, ['version', 'bindings']) };
    },
  },
  {
    name: 'buckets.insert',
    optional: [
      'iamConfiguration',
      'iamConfiguration.uniformBucketLevelAccess',
      'iamConfiguration.uniformBucketLevelAccess.enabled',
      'labels',
      'versioning',
      'location',
      'storageClass',
      'softDeletePolicy',
      'softDeletePolicy.retentionDurationSeconds',
    ],
    run: async (edit) => {
      const body = edit({
        name: fresh('nb'),
        iamConfiguration: { uniformBucketLevelAccess: { enabled: true } },
        labels: { a: 'b' },
        versioning: { enabled: true },
        location: 'EU',
        storageClass: 'NEARLINE',
        softDeletePolicy: { retentionDurationSeconds: '0' },
      });
      const r = await call('POST', `/storage/v1/b?project=${emu.projectId}`, body);
      const softDelete = (r.body.softDeletePolicy as { retentionDurationSeconds?: string } | undefined)
        ?.retentionDurationSeconds;
      const ubla = (r.body.iamConfiguration as { uniformBucketLevelAccess?: { enabled?: boolean } } | undefined)
        ?.uniformBucketLevelAccess?.enabled;
      return {
        status: r.status,
        ubla,
        softDelete,
        ...pick(r.body, ['labels', 'versioning', 'location', 'storageClass']),
      };
    },
  },
  {
    name: 'projects.setIamPolicy (Resource Manager)',
    optional: ['policy.version', 'policy.etag', 'updateMask'],
    run: async (edit) => {
      const current = await call('POST', `/v1/projects/${emu.projectId}:getIamPolicy`, {});
      const body = edit({
        policy: {
          version: 1,
          etag: current.body.etag,
          bindings: [{ role: 'roles/viewer', members: ['user:v@example.com'] }],
        },
        updateMask: 'bindings,etag',
      });
      const r = await call('POST', `/v1/projects/${emu.projectId}:setIamPolicy`, body);
      return { status: r.status, bindings: r.body.bindings };
    },
  },
];

describe('a JSON null is an absent field (except in a patch)', () => {
  for (const t of templates) {
    it(`${t.name}: any optional fields sent as null answer as if left out`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.subarray(t.optional, { minLength: 1 }), async (paths) => {
          const asNull = await t.run((b) => paths.reduce((acc, p) => at(acc, p, null), b));
          const absent = await t.run((b) => paths.reduce((acc, p) => at(acc, p, undefined), b));
          expect(asNull).toEqual(absent);
        }),
        { numRuns: 12 },
      );
    });
  }

  it('the base bodies themselves succeed (so the comparisons above are between real answers)', async () => {
    for (const t of templates) {
      expect(await t.run((b) => b), t.name).toMatchObject({ status: 200 });
    }
  });

  it('in a patch, null clears the field', async () => {
    const b = await bucket();
    await put(b, 'o', 'x');
    await call('PATCH', `/storage/v1/b/${b}/o/o`, { contentDisposition: 'inline', metadata: { k: 'v' } });
    const r = await call('PATCH', `/storage/v1/b/${b}/o/o`, { contentDisposition: null, metadata: { k: null } });
    expect(r.status).toBe(200);
    expect(r.body.contentDisposition).toBeUndefined();
    expect(r.body.metadata ?? {}).toEqual({});
  });
});
