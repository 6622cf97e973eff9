// Uploads: `uploadType=media`, `multipart` (multipart/related) and `resumable` (session URI on this emulator, chunks
// with Content-Range, 308 until complete, status queries, resuming after an interrupted PUT). Served under
// `/upload/storage/v1/...` and gcloud's `/resumable/upload/storage/v1/...`.

import { authz, type CoreContext, checkObjectName, getBucket, memberOf, pathParam } from './context.js';
import { type EmuRequest, type EmuResponse, HttpError } from './contract.js';
import { crc32c, crc32cBase64, md5Base64 } from './hashes.js';
import { parseJsonObject, withoutNulls } from './json.js';
import { headerParam, mediaType, parseMultipart } from './multipart.js';
import { newObjectMeta } from './object-meta.js';
import { writeObject } from './objects.js';
import type { CoreRoute } from './pipeline.js';
import { readPreconditions } from './preconditions.js';
import { objectResource } from './resources.js';
import type { WritableObjectMeta } from './store.js';
import { applyChunk, parseContentRange, receivedRange, type UploadSession } from './upload-sessions.js';

const PREFIXES = ['/upload/storage/v1', '/resumable/upload/storage/v1'];

function header(req: EmuRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Checksums a client declared in the object metadata. */
function declaredHashes(body: Record<string, unknown>): { md5Hash?: string; crc32c?: string } {
  const out: { md5Hash?: string; crc32c?: string } = {};
  if (typeof body.md5Hash === 'string') out.md5Hash = body.md5Hash;
  if (typeof body.crc32c === 'string') out.crc32c = body.crc32c;
  return out;
}

/** Also honours `x-goog-hash: crc32c=…,md5=…` request headers. */
function headerHashes(req: EmuRequest): { md5Hash?: string; crc32c?: string } {
  const out: { md5Hash?: string; crc32c?: string } = {};
  const v = header(req, 'x-goog-hash');
  if (!v) return out;
  for (const part of v.split(',')) {
    const eq = part.indexOf('=');
    const k = part.slice(0, eq).trim().toLowerCase();
    const val = part.slice(eq + 1).trim();
    if (k === 'md5') out.md5Hash = val;
    if (k === 'crc32c') out.crc32c = val;
  }
  return out;
}

function verifyHashes(data: Buffer, expect: { md5Hash?: string; crc32c?: string }): void {
  if (expect.md5Hash !== undefined) {
    const got = md5Base64(data);
    if (got !== expect.md5Hash) {
      throw new HttpError(400, `Provided MD5 hash "${expect.md5Hash}" doesn't match calculated MD5 hash "${got}".`);
    }
  }
  if (expect.crc32c !== undefined) {
    const got = crc32cBase64(crc32c(data));
    if (got !== expect.crc32c) {
      throw new HttpError(400, `Provided CRC32C "${expect.crc32c}" doesn't match calculated CRC32C "${got}".`);
    }
  }
}

/** Query parameters that set metadata on simple uploads. */
function queryMeta(req: EmuRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const ce = req.query.get('contentEncoding');
  if (ce) out.contentEncoding = ce;
  return out;
}

export function uploadRoutes(ctx: CoreContext): CoreRoute[] {
  const finish = (
    member: string,
    bucket: string,
    name: string,
    data: Buffer,
    meta: WritableObjectMeta,
    expect: { md5Hash?: string; crc32c?: string },
    query: URLSearchParams,
  ): EmuResponse => {
    verifyHashes(data, expect);
    const o = writeObject(ctx, member, bucket, name, data, meta, readPreconditions(query));
    return { status: 200, body: objectResource(o, ctx.baseUrl()) };
  };

  const insert =
    (prefix: string) =>
    (req: EmuRequest): EmuResponse => {
      // The Go client (google-api-go-client) sends every chunk with POST to the session URI.
      if (req.query.has('upload_id')) return chunk(req);
      const member = memberOf(req);
      const bucket = pathParam(req, 'bucket');
      const contentType = header(req, 'content-type');
      const uploadType =
        req.query.get('uploadType') ?? (mediaType(contentType) === 'multipart/related' ? 'multipart' : 'media');
      switch (uploadType) {
        case 'media': {
          const name = checkObjectName(req.query.get('name') ?? undefined);
          const meta = newObjectMeta({ ...queryMeta(req), ...(contentType ? { contentType } : {}) });
          return finish(member, bucket, name, req.body, meta, headerHashes(req), req.query);
        }
        case 'multipart': {
          if (mediaType(contentType) !== 'multipart/related') {
            throw new HttpError(
              400,
              `uploadType=multipart needs Content-Type multipart/related, got '${contentType}'.`,
            );
          }
          const boundary = headerParam(contentType ?? '', 'boundary');
          if (!boundary) throw new HttpError(400, 'The multipart/related Content-Type has no boundary.');
          const parts = parseMultipart(req.body, boundary);
          if (parts.length !== 2) {
            throw new HttpError(400, `A multipart upload has 2 parts (metadata, media), got ${parts.length}.`);
          }
          const [metaPart, dataPart] = parts as [(typeof parts)[0], (typeof parts)[0]];
          const body = withoutNulls(parseJsonObject(metaPart.body));
          let data = dataPart.body;
          if ((dataPart.headers['content-transfer-encoding'] ?? '').toLowerCase() === 'base64') {
            data = Buffer.from(data.toString('latin1'), 'base64');
          }
          const name = checkObjectName(
            typeof body.name === 'string' && body.name !== '' ? body.name : (req.query.get('name') ?? undefined),
          );
          const partType = dataPart.headers['content-type'];
          const meta = newObjectMeta({ ...queryMeta(req), ...(partType ? { contentType: partType } : {}), ...body });
          return finish(member, bucket, name, data, meta, { ...headerHashes(req), ...declaredHashes(body) }, req.query);
        }
        case 'resumable': {
          const body = withoutNulls(parseJsonObject(req.body));
          const name = checkObjectName(
            typeof body.name === 'string' && body.name !== '' ? body.name : (req.query.get('name') ?? undefined),
          );
          authz(ctx).require(member, 'storage.objects.create', { bucket, object: name });
          getBucket(ctx, bucket);
          const xType = header(req, 'x-upload-content-type');
          const meta = newObjectMeta({ ...queryMeta(req), ...(xType ? { contentType: xType } : {}), ...body });
          const xLen = header(req, 'x-upload-content-length');
          let total: number | undefined;
          if (xLen !== undefined && xLen !== '') {
            if (!/^\d+$/.test(xLen)) throw new HttpError(400, `Invalid X-Upload-Content-Length '${xLen}'.`);
            total = Number(xLen);
          }
          const pre = readPreconditions(req.query);
          const s = ctx.uploads.create({
            bucket,
            name,
            meta,
            expect: declaredHashes(body),
            pre,
            member,
            ...(total !== undefined ? { total } : {}),
          });
          const q = new URLSearchParams(req.query);
          q.set('uploadType', 'resumable');
          q.set('name', name);
          q.set('upload_id', s.id);
          const location = `${ctx.baseUrl()}${prefix}/b/${encodeURIComponent(bucket)}/o?${q.toString()}`;
          return { status: 200, headers: { location, 'x-guploader-uploadid': s.id }, body: '' };
        }
        default:
          throw new HttpError(400, `Invalid uploadType '${uploadType}' (media, multipart or resumable).`);
      }
    };

  const session = (req: EmuRequest): UploadSession => {
    const id = req.query.get('upload_id');
    const s = ctx.uploads.get(id);
    if (!s) throw new HttpError(404, `No such upload session: ${id ?? '(no upload_id)'}`, 'notFound');
    if (s.bucket !== req.params.bucket) throw new HttpError(400, 'The upload session belongs to another bucket.');
    return s;
  };

  /** A chunk or status query on the session URI (PUT, or POST from the Go client). */
  const chunk = (req: EmuRequest): EmuResponse => {
    const s = session(req);
    if (s.result) return { status: 200, body: s.result };
    const rangeHeader = header(req, 'content-range');
    const range =
      rangeHeader === undefined && req.body.length === 0 && s.received > 0
        ? ({ kind: 'query' } as const)
        : parseContentRange(rangeHeader, req.body.length);
    // A refused chunk (400) leaves the session as it was: the client can query and resume.
    const complete = applyChunk(s, range, req.body);
    if (!complete) return incomplete(req, receivedRange(s));
    const data = Buffer.concat(s.chunks);
    try {
      const out = finish(s.member, s.bucket, s.name, data, s.meta, { ...s.expect, ...headerHashes(req) }, preQuery(s));
      s.result = out.body as object;
      s.chunks = [];
      return out;
    } catch (err) {
      // A refused completion (403, 412, bad hash) ends the session, as on Google.
      ctx.uploads.delete(s.id);
      throw err;
    }
  };

  const cancel = (req: EmuRequest): EmuResponse => {
    const s = session(req);
    ctx.uploads.delete(s.id);
    return { status: 499, body: '' };
  };

  const routes: CoreRoute[] = [];
  for (const prefix of PREFIXES) {
    const path = `${prefix}/b/:bucket/o`;
    const sessionMember = (req: EmuRequest) => ctx.uploads.get(req.query.get('upload_id'))?.member;
    routes.push(
      { method: 'POST', path, op: 'storage.objects.insert', sessionMember, handler: insert(prefix) },
      // The session URI is the credential, as on Google: chunks need no token.
      { method: 'PUT', path, op: 'storage.objects.insert', auth: 'none', sessionMember, handler: chunk },
      { method: 'DELETE', path, op: 'storage.objects.insert', auth: 'none', sessionMember, handler: cancel },
    );
  }
  return routes;
}

/**
 * "Resume incomplete": 308 with the received range, or, when the client sent `X-GUploader-No-308: yes` (Go's
 * client does, since a bare 308 is a redirect to HTTP stacks), 200 with `X-HTTP-Status-Code-Override: 308`.
 */
export function incomplete(req: EmuRequest, headers: Record<string, string>): EmuResponse {
  if (header(req, 'x-guploader-no-308')?.trim().toLowerCase() === 'yes') {
    return { status: 200, headers: { ...headers, 'x-http-status-code-override': '308' }, body: '' };
  }
  return { status: 308, headers, body: '' };
}

function preQuery(s: UploadSession): URLSearchParams {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(s.pre)) q.set(k, String(v));
  return q;
}
