// Cloud Storage JSON API object methods: get (metadata and media, ranges), list, delete, patch, update, rewrite,
// copy, move and compose, each checking exactly the permissions Google checks (docs/emulator.md has the table).

import {
  authz,
  boolParam,
  type CoreContext,
  checkObjectName,
  getBucket,
  getObject,
  jsonObject,
  memberOf,
  noSuchObject,
  pathParam,
} from './context.js';
import { type EmuRequest, type EmuResponse, HttpError } from './contract.js';
import { crc32cBase64 } from './hashes.js';
import { int64Field } from './json.js';
import { listNames, MAX_LIST_RESULTS } from './listing.js';
import { hasWritableFields, newObjectMeta, patchObjectMeta, updateObjectMeta } from './object-meta.js';
import type { CoreRoute } from './pipeline.js';
import {
  checkPreconditions,
  failedPrecondition,
  intParam,
  type Preconditions,
  preconditionFailed,
  readPreconditions,
} from './preconditions.js';
import { objectEtag, objectResource } from './resources.js';
import { type StoredObject, stripUndefined, type WritableObjectMeta } from './store.js';

const O = '/storage/v1/b/:bucket/o';

function underHold(o: StoredObject): HttpError | undefined {
  const hold = o.temporaryHold ? 'Temporary' : o.eventBasedHold ? 'Event-Based' : undefined;
  if (!hold) return undefined;
  return new HttpError(
    403,
    `Object '${o.bucket}/${o.name}' is under active ${hold} hold and cannot be deleted, overwritten or archived until hold is removed.`,
    'retentionPolicyNotMet',
  );
}

/**
 * Writes a new object generation as `member`: storage.objects.create on the destination, plus storage.objects.delete
 * when it replaces a live object; preconditions are checked against the live object.
 */
export function writeObject(
  ctx: CoreContext,
  member: string,
  bucket: string,
  name: string,
  data: Buffer,
  meta: WritableObjectMeta,
  pre: Preconditions,
  extra: { composite?: { componentCount: number } } = {},
): StoredObject {
  const az = authz(ctx);
  checkObjectName(name);
  az.require(member, 'storage.objects.create', { bucket, object: name });
  const b = getBucket(ctx, bucket);
  const existing = b.objects.get(name);
  checkPreconditions(existing, pre);
  if (existing) {
    az.require(member, 'storage.objects.delete', { bucket, object: name });
    const held = underHold(existing);
    if (held) throw held;
  }
  return ctx.store.putObject(b, name, data, meta, extra);
}

/** The metadata a copy inherits from its source. */
function inheritedMeta(o: StoredObject): WritableObjectMeta {
  return stripUndefined({
    contentType: o.contentType,
    contentEncoding: o.contentEncoding,
    contentDisposition: o.contentDisposition,
    contentLanguage: o.contentLanguage,
    cacheControl: o.cacheControl,
    customTime: o.customTime,
    metadata: o.metadata ? { ...o.metadata } : undefined,
  });
}

function compositeOf(o: StoredObject): { composite?: { componentCount: number } } {
  return o.componentCount !== undefined ? { composite: { componentCount: o.componentCount } } : {};
}

/** `Range: bytes=a-b | a- | -n` → [start, end] inclusive; undefined for no (or an ignorable) range. */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*(?:,.*)?$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (size === 0) return undefined; // nothing to slice: answer the (empty) whole
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (end < start) return undefined;
  return [start, end];
}

function mediaHeaders(o: StoredObject): Record<string, string> {
  const hash = [`crc32c=${crc32cBase64(o.crc32c)}`];
  if (o.md5Hash) hash.push(`md5=${o.md5Hash}`);
  const h: Record<string, string> = {
    'content-type': o.contentType ?? 'application/octet-stream',
    'x-goog-generation': String(o.generation),
    'x-goog-metageneration': String(o.metageneration),
    'x-goog-hash': hash.join(','),
    'x-goog-stored-content-length': String(o.data.length),
    'x-goog-stored-content-encoding': o.contentEncoding ?? 'identity',
    'x-goog-storage-class': o.storageClass ?? 'STANDARD',
    etag: `"${objectEtag(o)}"`,
    'last-modified': new Date(o.updated).toUTCString(),
    'accept-ranges': 'bytes',
  };
  if (o.cacheControl) h['cache-control'] = o.cacheControl;
  if (o.contentDisposition) h['content-disposition'] = o.contentDisposition;
  if (o.contentLanguage) h['content-language'] = o.contentLanguage;
  for (const [k, v] of Object.entries(o.metadata ?? {})) {
    if (/^[A-Za-z0-9-]+$/.test(k)) h[`x-goog-meta-${k.toLowerCase()}`] = encodeURIComponent(v);
  }
  return h;
}

export function mediaResponse(o: StoredObject, req: EmuRequest): EmuResponse {
  const headers = mediaHeaders(o);
  const range = parseRange(req.headers.range, o.data.length);
  if (range === 'unsatisfiable') {
    throw new HttpError(416, 'The requested range cannot be satisfied.', 'requestedRangeNotSatisfiable', undefined, {
      'content-range': `bytes */${o.data.length}`,
    });
  }
  if (range) {
    const [a, b] = range;
    return {
      status: 206,
      headers: { ...headers, 'content-range': `bytes ${a}-${b}/${o.data.length}` },
      body: o.data.subarray(a, b + 1),
    };
  }
  return { status: 200, headers, body: o.data };
}

/** A GET's preconditions: a failed *NotMatch answers 304, the others 412. */
function checkGetPreconditions(o: StoredObject, pre: Preconditions): EmuResponse | undefined {
  const failed = failedPrecondition(o, pre);
  if (failed === undefined) return undefined;
  if (failed === 'ifGenerationNotMatch' || failed === 'ifMetagenerationNotMatch') return { status: 304 };
  throw preconditionFailed();
}

export function objectRoutes(ctx: CoreContext): CoreRoute[] {
  const res = (o: StoredObject): EmuResponse => ({ status: 200, body: objectResource(o, ctx.baseUrl()) });

  const get = (req: EmuRequest, media: boolean): EmuResponse => {
    const bucket = pathParam(req, 'bucket');
    const name = pathParam(req, 'object');
    const pre = readPreconditions(req.query);
    authz(ctx).require(memberOf(req), 'storage.objects.get', { bucket, object: name });
    const o = getObject(ctx, bucket, name, intParam(req.query, 'generation'));
    const notModified = checkGetPreconditions(o, pre);
    if (notModified) return notModified;
    return media || req.query.get('alt') === 'media' ? mediaResponse(o, req) : res(o);
  };

  const list = (req: EmuRequest): EmuResponse => {
    const bucket = pathParam(req, 'bucket');
    const q = req.query;
    const prefix = q.get('prefix') ?? '';
    authz(ctx).require(memberOf(req), 'storage.objects.list', { bucket, listPrefix: prefix });
    const b = getBucket(ctx, bucket);
    const maxResults = intParam(q, 'maxResults');
    const page = listNames(b.names, {
      prefix,
      delimiter: q.get('delimiter') ?? undefined,
      includeTrailingDelimiter: boolParam(q, 'includeTrailingDelimiter'),
      startOffset: q.get('startOffset') ?? undefined,
      endOffset: q.get('endOffset') ?? undefined,
      matchGlob: q.get('matchGlob') ?? undefined,
      maxResults:
        maxResults === undefined || maxResults === 0 ? MAX_LIST_RESULTS : Math.min(maxResults, MAX_LIST_RESULTS),
      pageToken: q.get('pageToken') ?? undefined,
    });
    const base = ctx.baseUrl();
    const body: Record<string, unknown> = { kind: 'storage#objects' };
    if (page.nextPageToken) body.nextPageToken = page.nextPageToken;
    if (page.prefixes.length > 0) body.prefixes = page.prefixes;
    if (page.names.length > 0) {
      body.items = page.names.map((n) => objectResource(b.objects.get(n) as StoredObject, base));
    }
    return { status: 200, body };
  };

  const del = (req: EmuRequest): EmuResponse => {
    const bucket = pathParam(req, 'bucket');
    const name = pathParam(req, 'object');
    const pre = readPreconditions(req.query);
    authz(ctx).require(memberOf(req), 'storage.objects.delete', { bucket, object: name });
    const o = getObject(ctx, bucket, name, intParam(req.query, 'generation'));
    checkPreconditions(o, pre);
    const held = underHold(o);
    if (held) throw held;
    ctx.store.deleteObject(getBucket(ctx, bucket), name);
    return { status: 204 };
  };

  const modify = (req: EmuRequest, replace: boolean): EmuResponse => {
    const bucket = pathParam(req, 'bucket');
    const name = pathParam(req, 'object');
    const pre = readPreconditions(req.query);
    authz(ctx).require(memberOf(req), 'storage.objects.update', { bucket, object: name });
    const o = getObject(ctx, bucket, name, intParam(req.query, 'generation'));
    checkPreconditions(o, pre);
    const body = jsonObject(req);
    const current: WritableObjectMeta = inheritedMeta(o);
    for (const k of ['storageClass', 'temporaryHold', 'eventBasedHold'] as const) {
      if (o[k] !== undefined) (current as Record<string, unknown>)[k] = o[k];
    }
    const next = replace ? updateObjectMeta(current, body) : patchObjectMeta(current, body);
    for (const k of [
      'contentType',
      'contentEncoding',
      'contentDisposition',
      'contentLanguage',
      'cacheControl',
      'customTime',
      'metadata',
      'temporaryHold',
      'eventBasedHold',
    ] as const) {
      delete o[k];
    }
    Object.assign(o, next);
    o.metageneration++;
    o.updated = ctx.store.now();
    return res(o);
  };

  /** rewriteTo and copyTo: get on the source, create (+ delete when overwriting) on the destination. */
  const copy = (req: EmuRequest, rewrite: boolean): EmuResponse => {
    const member = memberOf(req);
    const sb = pathParam(req, 'bucket');
    const so = pathParam(req, 'object');
    const db = pathParam(req, 'destBucket');
    const dn = pathParam(req, 'destObject');
    authz(ctx).require(member, 'storage.objects.get', { bucket: sb, object: so });
    const source = getObject(ctx, sb, so, intParam(req.query, 'sourceGeneration'));
    checkPreconditions(source, readPreconditions(req.query, true));
    const body = jsonObject(req);
    const meta = hasWritableFields(body) ? newObjectMeta(body) : inheritedMeta(source);
    const dest = writeObject(ctx, member, db, dn, source.data, meta, readPreconditions(req.query), compositeOf(source));
    if (!rewrite) return res(dest);
    const size = String(dest.data.length);
    return {
      status: 200,
      body: {
        kind: 'storage#rewriteResponse',
        totalBytesRewritten: size,
        objectSize: size,
        done: true,
        resource: objectResource(dest, ctx.baseUrl()),
      },
    };
  };

  /** objects.move (same bucket): get + delete on the source, create (+ delete when overwriting) on the destination. */
  const move = (req: EmuRequest): EmuResponse => {
    const member = memberOf(req);
    const bucket = pathParam(req, 'bucket');
    const so = pathParam(req, 'object');
    const dn = pathParam(req, 'destObject');
    const az = authz(ctx);
    az.require(member, 'storage.objects.get', { bucket, object: so });
    az.require(member, 'storage.objects.delete', { bucket, object: so });
    if (so === dn) throw new HttpError(400, 'The source and destination object names must be different.');
    const source = getObject(ctx, bucket, so);
    checkPreconditions(source, readPreconditions(req.query, true));
    const held = underHold(source);
    if (held) throw held;
    const dest = writeObject(
      ctx,
      member,
      bucket,
      dn,
      source.data,
      { ...inheritedMeta(source), ...(source.storageClass ? { storageClass: source.storageClass } : {}) },
      readPreconditions(req.query),
      compositeOf(source),
    );
    ctx.store.deleteObject(getBucket(ctx, bucket), so);
    return res(dest);
  };

  /** compose: create (+ delete when overwriting) on the destination, get (+ delete with deleteSourceObjects) on every source. */
  const compose = (req: EmuRequest): EmuResponse => {
    const member = memberOf(req);
    const bucket = pathParam(req, 'bucket');
    const dn = pathParam(req, 'object');
    const body = jsonObject(req);
    const sources = body.sourceObjects;
    if (!Array.isArray(sources) || sources.length === 0) {
      throw new HttpError(400, 'Required parameter: sourceObjects', 'required');
    }
    if (sources.length > 32)
      throw new HttpError(400, 'The number of source components provided (over 32) exceeds the maximum.');
    const deleteSources = body.deleteSourceObjects;
    if (deleteSources !== undefined && typeof deleteSources !== 'boolean') {
      throw new HttpError(400, 'Invalid value for deleteSourceObjects: expected a boolean.');
    }
    const az = authz(ctx);
    const parts: StoredObject[] = [];
    for (const [i, s] of sources.entries()) {
      if (typeof s !== 'object' || s === null || typeof (s as { name?: unknown }).name !== 'string') {
        throw new HttpError(400, `sourceObjects[${i}].name is required.`, 'required');
      }
      const src = s as { name: string; generation?: unknown; objectPreconditions?: unknown };
      az.require(member, 'storage.objects.get', { bucket, object: src.name });
      if (deleteSources === true) az.require(member, 'storage.objects.delete', { bucket, object: src.name });
      const gen = int64Field(src.generation, `sourceObjects[${i}].generation`);
      const pre = src.objectPreconditions;
      if (pre !== undefined && (typeof pre !== 'object' || pre === null || Array.isArray(pre))) {
        throw new HttpError(400, `sourceObjects[${i}].objectPreconditions must be an object.`);
      }
      const want = int64Field(
        (pre as { ifGenerationMatch?: unknown } | undefined)?.ifGenerationMatch,
        `sourceObjects[${i}].objectPreconditions.ifGenerationMatch`,
      );
      const o = getBucket(ctx, bucket).objects.get(src.name);
      if (!o || (gen !== undefined && o.generation !== gen)) throw noSuchObject(bucket, src.name);
      if (want !== undefined && want !== o.generation) throw preconditionFailed();
      parts.push(o);
    }
    const componentCount = parts.reduce((n, p) => n + (p.componentCount ?? 1), 0);
    if (componentCount > 1024) throw new HttpError(400, 'The composite object would have more than 1024 components.');
    const destBody = body.destination;
    const meta =
      typeof destBody === 'object' && destBody !== null ? newObjectMeta(destBody as Record<string, unknown>) : {};
    const data = Buffer.concat(parts.map((p) => p.data));
    if (deleteSources === true) {
      const held = parts.map(underHold).find((e) => e !== undefined);
      if (held) throw held;
    }
    const dest = writeObject(ctx, member, bucket, dn, data, meta, readPreconditions(req.query), {
      composite: { componentCount },
    });
    // deleteSourceObjects: the sources go once the composite is written (a source that is the destination stays).
    if (deleteSources === true) {
      const b = getBucket(ctx, bucket);
      for (const p of new Set(parts.map((x) => x.name))) if (p !== dn) ctx.store.deleteObject(b, p);
    }
    return res(dest);
  };

  return [
    { method: 'GET', path: O, op: 'storage.objects.list', handler: list },
    { method: 'GET', path: `${O}/:object`, op: 'storage.objects.get', handler: (r) => get(r, false) },
    { method: 'DELETE', path: `${O}/:object`, op: 'storage.objects.delete', handler: del },
    { method: 'PATCH', path: `${O}/:object`, op: 'storage.objects.patch', handler: (r) => modify(r, false) },
    { method: 'PUT', path: `${O}/:object`, op: 'storage.objects.update', handler: (r) => modify(r, true) },
    {
      method: 'POST',
      path: `${O}/:object/rewriteTo/b/:destBucket/o/:destObject`,
      op: 'storage.objects.rewrite',
      handler: (r) => copy(r, true),
    },
    {
      method: 'POST',
      path: `${O}/:object/copyTo/b/:destBucket/o/:destObject`,
      op: 'storage.objects.copy',
      handler: (r) => copy(r, false),
    },
    { method: 'POST', path: `${O}/:object/moveTo/o/:destObject`, op: 'storage.objects.move', handler: move },
    { method: 'POST', path: `${O}/:object/compose`, op: 'storage.objects.compose', handler: compose },
    // Names sent with a raw `/` (not %2F) still address one object.
    { method: 'GET', path: `${O}/:object*`, op: 'storage.objects.get', handler: (r) => get(r, false) },
    { method: 'DELETE', path: `${O}/:object*`, op: 'storage.objects.delete', handler: del },
    { method: 'PATCH', path: `${O}/:object*`, op: 'storage.objects.patch', handler: (r) => modify(r, false) },
    { method: 'PUT', path: `${O}/:object*`, op: 'storage.objects.update', handler: (r) => modify(r, true) },
    {
      method: 'GET',
      path: '/download/storage/v1/b/:bucket/o/:object*',
      op: 'storage.objects.get',
      handler: (r) => get(r, true),
    },
  ];
}
