// `POST /batch/storage/v1`: a multipart/mixed body of up to 100 embedded HTTP requests, each run through the same
// pipeline (with the outer request's token unless the part has its own) and answered in its own part.
import { randomBytes } from 'node:crypto';
import type { CoreContext } from './context.js';
import { type EmuRequest, type EmuResponse, HttpError } from './contract.js';
import { headerParam, mediaType, parseHttpMessage, parseMultipart, reasonPhrase } from './multipart.js';
import { type CoreRoute, type Outcome, type RawCall, ResetConnection } from './pipeline.js';

export const MAX_BATCH_PARTS = 100;

export type RunCall = (call: RawCall, opts: { top: boolean; defaultAuthorization?: string }) => Promise<Outcome>;

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Google answers `Content-ID: <response-X>` for a part sent as `Content-ID: <X>`. */
export function responseContentId(id: string | undefined): string | undefined {
  if (id === undefined || id === '') return undefined;
  const m = /^<(.*)>$/.exec(id.trim());
  return m ? `<response-${m[1]}>` : `response-${id.trim()}`;
}

export function batchRoutes(ctx: CoreContext, run: RunCall): CoreRoute[] {
  const handler = async (req: EmuRequest): Promise<EmuResponse> => {
    const contentType = single(req.headers['content-type']);
    if (mediaType(contentType) !== 'multipart/mixed') {
      throw new HttpError(400, `A batch request must be multipart/mixed, got '${contentType ?? ''}'.`);
    }
    const boundary = headerParam(contentType ?? '', 'boundary');
    if (!boundary) throw new HttpError(400, 'The multipart/mixed Content-Type has no boundary.');
    const parts = parseMultipart(req.body, boundary);
    if (parts.length === 0) throw new HttpError(400, 'The batch request has no parts.');
    if (parts.length > MAX_BATCH_PARTS) {
      throw new HttpError(
        400,
        `A batch request cannot contain more than ${MAX_BATCH_PARTS} requests (got ${parts.length}).`,
      );
    }
    const outerAuth = single(req.headers.authorization);
    const out: Buffer[] = [];
    const respBoundary = `batch_${randomBytes(12).toString('hex')}`;
    for (const part of parts) {
      let outcome: Outcome;
      try {
        const ptype = mediaType(part.headers['content-type']);
        if (ptype !== '' && ptype !== 'application/http') {
          throw new HttpError(400, `A batch part must be application/http, got '${ptype}'.`);
        }
        const msg = parseHttpMessage(part.body);
        const url = new URL(msg.target, ctx.baseUrl());
        if (url.pathname.startsWith('/batch/'))
          throw new HttpError(400, 'A batch request cannot contain a batch request.');
        let body = msg.body;
        const len = single(msg.headers['content-length']);
        if (len !== undefined && /^\d+$/.test(len) && Number(len) <= body.length) body = body.subarray(0, Number(len));
        const call: RawCall = { method: msg.method, url, headers: msg.headers, body };
        outcome = await run(call, {
          top: false,
          ...(outerAuth !== undefined ? { defaultAuthorization: outerAuth } : {}),
        });
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        outcome = {
          status: err.status,
          headers: { 'content-type': 'application/json; charset=UTF-8' },
          body: Buffer.from(JSON.stringify(err.toBody())),
        };
      }
      if (outcome.reset) throw new ResetConnection();
      const cid = responseContentId(part.headers['content-id']);
      const head = [`--${respBoundary}`, 'Content-Type: application/http'];
      if (cid) head.push(`Content-ID: ${cid}`);
      const inner = [`HTTP/1.1 ${outcome.status} ${reasonPhrase(outcome.status)}`];
      for (const [k, v] of Object.entries(outcome.headers)) inner.push(`${k}: ${v}`);
      inner.push(`content-length: ${outcome.body.length}`);
      out.push(
        Buffer.from(`${head.join('\r\n')}\r\n\r\n${inner.join('\r\n')}\r\n\r\n`),
        outcome.body,
        Buffer.from('\r\n'),
      );
    }
    out.push(Buffer.from(`--${respBoundary}--\r\n`));
    return {
      status: 200,
      headers: { 'content-type': `multipart/mixed; boundary=${respBoundary}` },
      body: Buffer.concat(out),
    };
  };

  // The outer request may carry no token when every part has its own; the parts are authenticated one by one.
  const sessionMember = (req: EmuRequest): string | undefined => {
    const auth = single(req.headers.authorization);
    if (!auth) return undefined;
    try {
      return ctx.iam().authorizer.authenticate(auth);
    } catch {
      return undefined; // each part then answers 401 itself
    }
  };
  return ['/batch/storage/v1', '/batch'].map((path) => ({
    method: 'POST',
    path,
    op: 'storage.batch',
    auth: 'none',
    sessionMember,
    handler,
  }));
}
