// Batch (hand-built multipart/mixed, since no Node client batches), and the admin endpoints and knobs: faults,
// latency, counters, reset, config validation, state.
import type { Storage } from '@google-cloud/storage';
import type { storage_v1 } from 'googleapis';
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import {
  adminFetch,
  adminJson,
  counters,
  failure,
  mintToken,
  rootUrl,
  setConfig,
  useAdminEmulator,
} from './clients.js';

let emu: RunningEmulator;
let gcs: Storage;
let api: storage_v1.Storage;
const B = 'batch-bucket';

useAdminEmulator({ buckets: [B], config: { latencyMs: 0, faults: [], bucketWriteLimitPerSecond: 0 } }, (x) => {
  ({ emu, gcs, api } = x);
});

interface Part {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

function batchBody(parts: Part[], boundary: string): string {
  return `${parts
    .map((p, i) => {
      const headers = Object.entries(p.headers ?? {})
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      const body = p.body ?? '';
      const len = body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : '';
      return (
        `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <item${i + 1}>\r\n\r\n` +
        `${p.method} ${p.path} HTTP/1.1\r\n${headers}${len}\r\n${body}`
      );
    })
    .join('\r\n')}\r\n--${boundary}--\r\n`;
}

interface PartAnswer {
  contentId: string | undefined;
  status: number;
  body: string;
}

function parseBatchAnswer(contentType: string, text: string): PartAnswer[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1] as string;
  return text
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((chunk) => {
      const [outer, ...rest] = chunk.split('\r\n\r\n');
      const inner = rest.join('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(inner)?.[1]);
      const body = inner.split('\r\n\r\n').slice(1).join('\r\n\r\n').trim();
      return { contentId: /Content-ID: (.*)/i.exec(outer as string)?.[1]?.trim(), status, body };
    });
}

/** `token: null` sends the batch without an outer Authorization header. */
async function batch(parts: Part[], token: string | null = emu.adminToken): Promise<PartAnswer[]> {
  const boundary = 'batch_boundary_x';
  const res = await fetch(`${emu.url}/batch/storage/v1`, {
    method: 'POST',
    headers: {
      'content-type': `multipart/mixed; boundary=${boundary}`,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: batchBody(parts, boundary),
  });
  expect(res.status).toBe(200);
  return parseBatchAnswer(res.headers.get('content-type') as string, await res.text());
}

describe('batch', () => {
  it('runs each part with its own status (mixed outcomes) and Content-ID response-<id>', async () => {
    for (const n of ['a', 'b', 'c']) await gcs.bucket(B).file(`d/${n}`).save(n, { resumable: false });
    const answers = await batch([
      { method: 'DELETE', path: `/storage/v1/b/${B}/o/d%2Fa` },
      { method: 'DELETE', path: `/storage/v1/b/${B}/o/d%2Fmissing` },
      { method: 'GET', path: `/storage/v1/b/${B}/o/d%2Fb` },
      { method: 'DELETE', path: `/storage/v1/b/${B}/o/d%2Fc?ifGenerationMatch=1` },
      {
        method: 'PATCH',
        path: `/storage/v1/b/${B}/o/d%2Fb`,
        headers: { 'Content-Type': 'application/json' },
        body: '{"metadata":{"via":"batch"}}',
      },
    ]);
    expect(answers.map((a) => a.status)).toEqual([204, 404, 200, 412, 200]);
    expect(answers.map((a) => a.contentId)).toEqual([
      '<response-item1>',
      '<response-item2>',
      '<response-item3>',
      '<response-item4>',
      '<response-item5>',
    ]);
    expect(JSON.parse(answers[2]?.body as string).name).toBe('d/b');
    expect(JSON.parse(answers[1]?.body as string).error.code).toBe(404);
    const [files] = await gcs.bucket(B).getFiles();
    expect(files.map((f) => f.name)).toEqual(['d/b', 'd/c']);
    expect(files[0]?.metadata.metadata).toEqual({ via: 'batch' });
  });

  it('100 deletes in one batch count as one HTTP request and 100 calls', async () => {
    for (let i = 0; i < 100; i++) await gcs.bucket(B).file(`many/${i}`).save('x', { resumable: false });
    await counters(emu, true);
    const answers = await batch(
      Array.from({ length: 100 }, (_, i) => ({ method: 'DELETE', path: `/storage/v1/b/${B}/o/many%2F${i}` })),
    );
    expect(answers.every((a) => a.status === 204)).toBe(true);
    const c = await counters(emu);
    expect(c.httpRequests).toBe(1);
    expect(c.byOp['storage.objects.delete']).toBe(100);
    expect(c.byOp['storage.batch']).toBe(1);
  });

  it('refuses more than 100 parts', async () => {
    const boundary = 'b101';
    const res = await fetch(`${emu.url}/batch/storage/v1`, {
      method: 'POST',
      headers: { 'content-type': `multipart/mixed; boundary=${boundary}`, authorization: `Bearer ${emu.adminToken}` },
      body: batchBody(
        Array.from({ length: 101 }, () => ({ method: 'GET', path: `/storage/v1/b/${B}` })),
        boundary,
      ),
    });
    expect(res.status).toBe(400);
  });

  it("parts use the outer token unless they carry their own; a bad part token is that part's 401", async () => {
    await gcs.bucket(B).file('t').save('x', { resumable: false });
    const stranger = await mintToken(emu, 'serviceAccount:stranger@tidemark-dev.iam.gserviceaccount.com');
    const answers = await batch(
      [
        { method: 'GET', path: `/storage/v1/b/${B}/o/t` },
        { method: 'GET', path: `/storage/v1/b/${B}/o/t`, headers: { Authorization: `Bearer ${stranger}` } },
        { method: 'GET', path: `/storage/v1/b/${B}/o/t`, headers: { Authorization: 'Bearer nonsense' } },
      ],
      emu.adminToken,
    );
    expect(answers.map((a) => a.status)).toEqual([200, 403, 401]);
    const noOuter = await batch([{ method: 'GET', path: `/storage/v1/b/${B}/o/t` }], null);
    expect(noOuter.map((a) => a.status)).toEqual([401]);
  });
});

describe('faults', () => {
  it('status faults by op answer Google-shaped errors; other ops are untouched', async () => {
    await gcs.bucket(B).file('f').save('x', { resumable: false });
    await setConfig(emu, { faults: [{ op: 'storage.objects.get', rate: 1, kind: 503 }] });
    const e = await failure(() => api.objects.get({ bucket: B, object: 'f' }));
    expect(e.status).toBe(503);
    const list = await api.objects.list({ bucket: B });
    expect(list.data.items).toHaveLength(1);
    await setConfig(emu, { faults: [{ op: '*', rate: 1, kind: 429 }] });
    const raw = await adminFetch(emu, `/storage/v1/b/${B}`);
    expect(raw.status).toBe(429);
    const body = (await raw.json()) as { error: { code: number; errors: { reason: string; domain: string }[] } };
    expect(body.error.code).toBe(429);
    expect(body.error.errors[0]).toMatchObject({ reason: 'rateLimitExceeded', domain: 'global' });
    // Admin endpoints are never faulted (else a test could not turn faults off).
    await setConfig(emu, { faults: [] });
    expect((await adminFetch(emu, `/storage/v1/b/${B}`)).status).toBe(200);
  });

  it('a fault only for one member', async () => {
    const member = 'serviceAccount:flaky@tidemark-dev.iam.gserviceaccount.com';
    const token = await mintToken(emu, member);
    await setConfig(emu, { faults: [{ op: 'storage.buckets.get', rate: 1, kind: 500, member }] });
    const theirs = await fetch(`${emu.url}/storage/v1/b/${B}`, { headers: { authorization: `Bearer ${token}` } });
    expect(theirs.status).toBe(500);
    expect((await adminFetch(emu, `/storage/v1/b/${B}`)).status).toBe(200);
  });

  it('reset drops the connection; slow delays the answer', async () => {
    await setConfig(emu, { faults: [{ op: 'storage.buckets.get', rate: 1, kind: 'reset' }] });
    await expect(adminFetch(emu, `/storage/v1/b/${B}`)).rejects.toThrow();
    await setConfig(emu, { faults: [{ op: 'storage.buckets.get', rate: 1, kind: 'slow', delayMs: 300 }] });
    const t0 = performance.now();
    const res = await adminFetch(emu, `/storage/v1/b/${B}`);
    expect(res.status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290); // a lower bound only: never flaky
  });

  it('malformedJson answers 200 with a JSON type and a body that is not JSON, and changes nothing', async () => {
    await setConfig(emu, { faults: [{ op: 'storage.objects.insert', rate: 1, kind: 'malformedJson' }] });
    const name = 'malformed-json-probe';
    const res = await api.objects.insert(
      { bucket: B, name, uploadType: 'media', media: { body: 'x' } },
      { rootUrl: rootUrl(emu) },
    );
    // googleapis (gaxios) does not fail: it hands the text over as `data` (a caller must check the shape).
    expect(res.status).toBe(200);
    expect(typeof res.data).toBe('string');
    expect(() => JSON.parse(res.data as unknown as string)).toThrow();
    await setConfig(emu, { faults: [] });
    expect((await adminFetch(emu, `/storage/v1/b/${B}/o/${name}`)).status).toBe(404);
  });

  it('truncated closes the connection mid-answer after the call took effect', async () => {
    await setConfig(emu, { faults: [{ op: 'storage.objects.insert', rate: 1, kind: 'truncated' }] });
    const name = 'truncated-probe';
    await expect(
      api.objects.insert({ bucket: B, name, uploadType: 'media', media: { body: 'x' } }, { rootUrl: rootUrl(emu) }),
    ).rejects.toThrow();
    await setConfig(emu, { faults: [] });
    expect((await adminFetch(emu, `/storage/v1/b/${B}/o/${name}`)).status).toBe(200);
  });

  it('an unknown fault kind is refused with the list of kinds', async () => {
    const res = await adminFetch(emu, '/_emulator/config', {
      method: 'PUT',
      body: JSON.stringify({ faults: [{ op: '*', rate: 1, kind: 'garbled' }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("'malformedJson', 'truncated'");
  });

  it('a fault with rate 0 never fires', async () => {
    await setConfig(emu, { faults: [{ op: '*', rate: 0, kind: 503 }] });
    for (let i = 0; i < 20; i++) expect((await adminFetch(emu, `/storage/v1/b/${B}`)).status).toBe(200);
  });
});

describe('latency, counters, reset, config, state', () => {
  it('latencyMs delays every call', async () => {
    await setConfig(emu, { latencyMs: 250 });
    const t0 = performance.now();
    await api.buckets.get({ bucket: B });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(240); // a lower bound only: never flaky
  });

  it('counters count calls by op and member; ?reset=true zeroes them', async () => {
    const member = 'serviceAccount:counted@tidemark-dev.iam.gserviceaccount.com';
    const token = await mintToken(emu, member);
    await counters(emu, true);
    await api.buckets.get({ bucket: B });
    await api.buckets.get({ bucket: B });
    await fetch(`${emu.url}/storage/v1/b/${B}/o`, { headers: { authorization: `Bearer ${token}` } });
    await fetch(`${emu.url}/storage/v1/b/${B}/o`);
    const c = await adminJson<{
      total: number;
      byOp: Record<string, number>;
      byMember: Record<string, number>;
      byOpAndMember: Record<string, Record<string, number>>;
    }>(emu, '/_emulator/counters?reset=true');
    expect(c.total).toBe(4);
    expect(c.byOp).toEqual({ 'storage.buckets.get': 2, 'storage.objects.list': 2 });
    expect(c.byMember).toEqual({ 'emulator:admin': 2, [member]: 1, anonymous: 1 });
    expect(c.byOpAndMember['storage.objects.list']).toEqual({ [member]: 1, anonymous: 1 });
    expect((await counters(emu)).total).toBe(0);
  });

  it('reset forgets buckets, objects and IAM state', async () => {
    await gcs.bucket(B).file('x').save('x', { resumable: false });
    const token = await mintToken(emu, 'user:someone@example.com');
    await adminJson(emu, '/_emulator/reset', { method: 'POST' });
    expect((await failure(() => api.buckets.get({ bucket: B }))).status).toBe(404);
    const res = await fetch(`${emu.url}/storage/v1/b?project=${emu.projectId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(401); // minted tokens are gone too
  });

  it('config: partial updates merge, bad input is a 400 that says what is wrong', async () => {
    const merged = await adminJson<Record<string, unknown>>(emu, '/_emulator/config', {
      method: 'PUT',
      body: JSON.stringify({ latencyMs: 5 }),
    });
    expect(merged).toMatchObject({ latencyMs: 5, bucketWriteLimitPerSecond: 0, iamPropagationDelayMs: 0, faults: [] });
    const bad: [unknown, string][] = [
      [{ latencyMs: -1 }, 'latencyMs'],
      [{ latencyMs: 'fast' }, 'latencyMs'],
      [{ bogus: 1 }, "unknown config field 'bogus'"],
      [{ faults: {} }, 'faults must be an array'],
      [{ faults: [{ op: 'x', rate: 2, kind: 503 }] }, 'rate'],
      [{ faults: [{ op: 'x', rate: 1, kind: 200 }] }, 'kind'],
      [{ faults: [{ op: 'x', rate: 1, kind: 'slow' }] }, 'delayMs'],
      [[1, 2], 'JSON object'],
    ];
    for (const [body, words] of bad) {
      const res = await adminFetch(emu, '/_emulator/config', { method: 'PUT', body: JSON.stringify(body) });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(words);
    }
    expect(await adminJson(emu, '/_emulator/config')).toMatchObject({ latencyMs: 5 });
  });

  it('admin endpoints need the admin token', async () => {
    const token = await mintToken(emu, 'user:not-admin@example.com');
    for (const [method, path] of [
      ['POST', '/_emulator/reset'],
      ['GET', '/_emulator/counters'],
      ['PUT', '/_emulator/config'],
      ['GET', '/_emulator/state'],
    ] as const) {
      const res = await fetch(`${emu.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      expect(res.status, path).toBe(403);
      const anon = await fetch(`${emu.url}${path}`, { method });
      expect(anon.status, path).toBe(401);
    }
  });

  it('state dumps buckets, objects and the IAM half', async () => {
    await gcs.bucket(B).file('s/1').save('12345', { resumable: false });
    const state = await adminJson<{
      buckets: { name: string; objects: { name: string; size: number }[] }[];
      iam: unknown;
    }>(emu, '/_emulator/state');
    expect(state.buckets).toEqual([
      expect.objectContaining({ name: B, objects: [expect.objectContaining({ name: 's/1', size: 5 })] }),
    ]);
    expect(state.iam).toBeTruthy();
  });

  it('unknown paths are 404 and wrong methods 405, in Google’s error shape', async () => {
    const res = await adminFetch(emu, '/storage/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(404);
    expect((await adminFetch(emu, '/_emulator/reset')).status).toBe(405);
  });
});
