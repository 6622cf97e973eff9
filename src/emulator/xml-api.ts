// Object reads through the XML API (`GET`/`HEAD /BUCKET/OBJECT` on the storage host), which the Go client uses for
// every read unless it is built with `storage.WithJSONReads()`. Same permission (storage.objects.get on the object,
// checked before existence), same media answer as `alt=media` (Range, x-goog-* headers), XML-shaped errors, and the
// XML API's precondition headers. Writes, listings and everything else of the XML API are not emulated.
import { authz, type CoreContext, getObject, memberOf, pathParam } from './context.js';
import { type EmuRequest, type EmuResponse, HttpError } from './contract.js';
import { mediaResponse } from './objects.js';
import type { CoreRoute } from './pipeline.js';
import { checkPreconditions, intParam, type Preconditions } from './preconditions.js';

/** First path segments of the JSON API and the emulator's own routes: never a bucket of the XML API here. */
const RESERVED = new Set(['storage', 'upload', 'download', 'resumable', 'batch', 'computeMetadata', '_emulator', 'v1']);

const XML_CODES: Record<number, string> = {
  400: 'InvalidArgument',
  401: 'AuthenticationRequired',
  403: 'AccessDenied',
  404: 'NoSuchKey',
  412: 'PreconditionFailed',
  416: 'InvalidRange',
  429: 'SlowDown',
};

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Google's XML error document for an HttpError. */
export function xmlError(err: HttpError): EmuResponse {
  let code = XML_CODES[err.status] ?? 'InternalError';
  if (err.status === 404 && err.message.includes('bucket')) code = 'NoSuchBucket';
  const message =
    code === 'NoSuchKey'
      ? 'The specified key does not exist.'
      : code === 'NoSuchBucket'
        ? 'The specified bucket does not exist.'
        : code === 'AccessDenied'
          ? 'Access denied.'
          : err.message;
  const body =
    "<?xml version='1.0' encoding='UTF-8'?>" +
    `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>` +
    `<Details>${escapeXml(err.message)}</Details></Error>`;
  return {
    status: err.status,
    headers: { ...(err.headers ?? {}), 'content-type': 'application/xml; charset=UTF-8' },
    body,
  };
}

function headerInt(req: EmuRequest, name: string): number | undefined {
  const raw = req.headers[name];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v.trim() === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new HttpError(400, `Invalid value for ${name}: '${v}'.`);
  return Number(v.trim());
}

/** `x-goog-if-generation-match` and `x-goog-if-metageneration-match`, the XML API's preconditions. */
function xmlPreconditions(req: EmuRequest): Preconditions {
  const out: Preconditions = {};
  const g = headerInt(req, 'x-goog-if-generation-match');
  const m = headerInt(req, 'x-goog-if-metageneration-match');
  if (g !== undefined) out.ifGenerationMatch = g;
  if (m !== undefined) out.ifMetagenerationMatch = m;
  return out;
}

export function xmlRoutes(ctx: CoreContext): CoreRoute[] {
  const read = (req: EmuRequest): EmuResponse => {
    const bucket = pathParam(req, 'bucket');
    try {
      const name = pathParam(req, 'object');
      const pre = xmlPreconditions(req);
      authz(ctx).require(memberOf(req), 'storage.objects.get', { bucket, object: name });
      const o = getObject(ctx, bucket, name, intParam(req.query, 'generation'));
      checkPreconditions(o, pre);
      return mediaResponse(o, req);
    } catch (err) {
      if (err instanceof HttpError) return xmlError(err);
      throw err;
    }
  };
  const path = '/:bucket/:object*';
  const accepts = (params: Record<string, string>) => !RESERVED.has(params.bucket ?? '');
  return [
    { method: 'GET', path, op: 'storage.objects.get', accepts, handler: read },
    // HEAD answers GET's headers (Content-Length included); the server sends no body for HEAD.
    { method: 'HEAD', path, op: 'storage.objects.get', accepts, handler: read },
  ];
}
