// One call through the emulator: route match, body decoding, authentication, counters, latency, faults, the
// handler, and Google-shaped errors. Used for every HTTP request and for every part of a batch.
import type { IncomingHttpHeaders } from 'node:http';
import { gunzipSync } from 'node:zlib';
import {
  ADMIN_MEMBER,
  type Authorizer,
  type EmulatorConfig,
  type EmuRequest,
  type EmuResponse,
  HttpError,
  type Route,
} from './contract.js';
import { type Counters, faultError, pickFault } from './knobs.js';
import { credentialFingerprint, type RequestLog } from './request-log.js';
import type { Router } from './router.js';

/** What an emulator logger must offer (a pino logger does). */
export interface EmulatorLog {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLog: EmulatorLog = { debug() {}, warn() {}, error() {} };

/**
 * Routes of the HTTP core may name the member of a call themselves: a call on a resumable upload session's URI acts
 * as the session's owner, with or without a token (the session URI is the credential, as on Google). When
 * `sessionMember` answers undefined, the route's own `auth` applies.
 */
export interface CoreRoute extends Route {
  sessionMember?: (req: EmuRequest) => string | undefined;
}

export interface RawCall {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  /** As received: still gzip-encoded when the headers say so. */
  body: Buffer;
}

export type Outcome =
  | { reset: true }
  | {
      reset?: false;
      status: number;
      headers: Record<string, string>;
      body: Buffer;
      /** A `truncated` fault: send half of the body (announcing all of it), then close the connection. */
      truncate?: boolean;
    };

/** What a `malformedJson` fault answers: a JSON content type, a body that is not JSON. */
const MALFORMED_JSON = Buffer.from('{"kind": "storage#object", "name": "tidemark-emulator-malformed');

/** Thrown by a handler to make the server drop the connection (a batch part's `reset` fault). */
export class ResetConnection extends Error {
  override name = 'ResetConnection';
}

export interface PipelineDeps {
  router: Router;
  authorizer: () => Authorizer;
  config: () => EmulatorConfig;
  counters: Counters;
  log: EmulatorLog;
  random?: () => number;
  /** Where counted calls are recorded (`GET /_emulator/requests`), if anywhere. */
  requestLog?: RequestLog;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Emulator-only operations (admin endpoints) are not counted, slowed or faulted. */
export const isEmulatorOp = (op: string): boolean => op.startsWith('emulator.');

export function decodeBody(headers: IncomingHttpHeaders, body: Buffer): Buffer {
  const encoding = String(headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
  if (encoding === '' || encoding === 'identity') return body;
  if (encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new HttpError(400, `Unsupported Content-Encoding '${encoding}' (only gzip is supported).`);
  }
  if (body.length === 0) return body; // a zero-length body that says gzip is an empty body
  try {
    return gunzipSync(body);
  } catch (err) {
    throw new HttpError(400, `The request body says Content-Encoding: gzip but is not gzip data (${String(err)}).`);
  }
}

/**
 * The method a call means: Google honours `X-HTTP-Method-Override` on POST, which Java's google-http-client
 * (the Hadoop connector's) uses for PATCH because its default transport cannot send PATCH.
 */
export function effectiveMethod(call: Pick<RawCall, 'method' | 'headers'>): string {
  const override = call.headers['x-http-method-override'];
  const value = (Array.isArray(override) ? override[0] : override)?.trim().toUpperCase();
  return call.method === 'POST' && value ? value : call.method;
}

export function errorOutcome(err: HttpError): Outcome {
  return {
    status: err.status,
    headers: { 'content-type': 'application/json; charset=UTF-8', ...(err.headers ?? {}) },
    body: Buffer.from(JSON.stringify(err.toBody())),
  };
}

export function renderResponse(res: EmuResponse): Outcome {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers ?? {})) headers[k.toLowerCase()] = v;
  let body: Buffer;
  if (res.body === undefined) body = Buffer.alloc(0);
  else if (Buffer.isBuffer(res.body)) body = res.body;
  else if (typeof res.body === 'string') body = Buffer.from(res.body);
  else {
    body = Buffer.from(JSON.stringify(res.body));
    headers['content-type'] ??= 'application/json; charset=UTF-8';
  }
  return { status: res.status, headers, body };
}

/** What one call revealed on its way through, for the request log. */
interface Seen {
  route?: Route;
  method?: string;
  bucket?: string | undefined;
  /** The object or managed folder the path names. */
  name?: string | undefined;
  member?: string | undefined;
  headers?: IncomingHttpHeaders;
}

export class Pipeline {
  constructor(private readonly deps: PipelineDeps) {}

  /**
   * Runs one call. `top` marks an HTTP request (latency applies once per HTTP request, a batch's parts do not add
   * more); `defaultAuthorization` is the enclosing batch request's token.
   */
  async run(call: RawCall, opts: { top: boolean; defaultAuthorization?: string }): Promise<Outcome> {
    const startMs = Date.now();
    const seen: Seen = {};
    const out = await this.runOnce(call, opts, seen);
    const requestLog = this.deps.requestLog;
    if (requestLog && seen.route && !isEmulatorOp(seen.route.op)) {
      const ua = seen.headers?.['user-agent'];
      const credential = seen.headers ? credentialFingerprint(seen.headers) : undefined;
      requestLog.record({
        startMs,
        endMs: Date.now(),
        op: seen.route.op,
        method: seen.method ?? call.method,
        principal: seen.member ?? 'anonymous',
        ...(seen.bucket ? { bucket: seen.bucket } : {}),
        ...(seen.name ? { name: seen.name } : {}),
        status: out.reset ? 0 : out.status,
        ...(ua ? { userAgent: Array.isArray(ua) ? ua.join(' ') : ua } : {}),
        ...(credential ? { credential } : {}),
      });
    }
    return out;
  }

  private async runOnce(
    call: RawCall,
    opts: { top: boolean; defaultAuthorization?: string },
    seen: Seen,
  ): Promise<Outcome> {
    const { router, counters, log } = this.deps;
    let route: Route | undefined;
    let member: string | undefined;
    let truncate = false;
    try {
      const method = effectiveMethod(call);
      const m = router.match(method, call.url.pathname);
      if (!m.route) {
        if (opts.top) counters.request();
        if (m.methods.length > 0) {
          throw new HttpError(405, `Method ${method} is not allowed here (allowed: ${m.methods.join(', ')}).`);
        }
        throw new HttpError(404, `Not Found: no such method ${method} ${call.url.pathname}`, 'notFound');
      }
      route = m.route;
      seen.route = route;
      seen.method = method;
      seen.bucket = m.params.bucket;
      seen.name = m.params.object ?? m.params.folder;
      const counted = !isEmulatorOp(route.op);
      if (opts.top && counted) counters.request();
      const headers = { ...call.headers };
      if (headers.authorization === undefined && opts.defaultAuthorization !== undefined) {
        headers.authorization = opts.defaultAuthorization;
      }
      seen.headers = headers;
      const req: EmuRequest = {
        method,
        url: call.url,
        params: m.params,
        query: call.url.searchParams,
        headers,
        body: Buffer.alloc(0),
        member: undefined,
      };
      try {
        member = this.authenticate(route, req);
      } finally {
        if (counted) counters.call(route.op, member);
      }
      req.member = member;
      seen.member = member;
      if (counted) {
        const config = this.deps.config();
        if (opts.top && config.latencyMs > 0) await sleep(config.latencyMs);
        const fault = pickFault(config.faults, route.op, member, this.deps.random);
        if (fault) {
          log.debug({ op: route.op, member, fault }, 'injected fault');
          counters.fault(fault.kind);
          if (fault.kind === 'reset') return { reset: true };
          if (fault.kind === 'malformedJson') {
            return {
              status: 200,
              headers: { 'content-type': 'application/json; charset=UTF-8' },
              body: MALFORMED_JSON,
            };
          }
          if (fault.kind === 'truncated') truncate = true;
          else if (fault.kind === 'slow') await sleep(fault.delayMs ?? 0);
          else throw faultError(fault.kind, route.op);
        }
      }
      req.body = decodeBody(call.headers, call.body);
      const res = await route.handler(req);
      const out = renderResponse(res);
      return truncate && !out.reset ? { ...out, truncate } : out;
    } catch (err) {
      if (err instanceof ResetConnection) return { reset: true };
      if (err instanceof HttpError) {
        log.debug({ op: route?.op, member, status: err.status, message: err.message }, 'call refused');
        return errorOutcome(err);
      }
      log.error({ op: route?.op, member, err: String(err), stack: (err as Error)?.stack }, 'emulator handler failed');
      return errorOutcome(new HttpError(500, `Internal emulator error: ${String(err)}`, 'backendError'));
    }
  }

  private authenticate(route: Route, req: EmuRequest): string | undefined {
    const auth = route.auth ?? 'bearer';
    const session = (route as CoreRoute).sessionMember?.(req);
    if (session !== undefined || auth === 'none') return session;
    const authorization = req.headers.authorization;
    const member = this.deps.authorizer().authenticate(Array.isArray(authorization) ? authorization[0] : authorization);
    if (auth === 'admin' && member !== ADMIN_MEMBER) {
      throw new HttpError(403, `${route.op} needs the emulator's admin token.`, 'forbidden');
    }
    return member;
  }
}
