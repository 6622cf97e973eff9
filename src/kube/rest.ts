import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { KubeConnectionConfig } from './credentials.js';
import { linkSignals } from './signals.js';
import { sleep } from './sleep.js';

/**
 * A raw JSON client for the Kubernetes API, authenticated by our own kubeconfig (`loadKubeConfig` in kubeconfig.ts)
 * or by any object with the same two methods, such as @kubernetes/client-node's KubeConfig (tests use it).
 *
 * Why not the generated typed clients for the runtime's own calls: they run every object through an
 * ObjectSerializer that turns timestamps into Date objects and writes MicroTime fields (Lease.renewTime,
 * Event.eventTime) with millisecond precision, and their watch helper cannot pass `allowWatchBookmarks` or
 * `timeoutSeconds` and drops the server's Status body on errors. Plain JSON in, plain JSON out keeps the cache
 * small, the wire format exact and the errors informative. Authentication and TLS come from the configuration's
 * `applyToHTTPSOptions`.
 *
 * Retries: a 401 is sent again once after `refreshCredentials()` (an exec plugin's token expired early, a rotated
 * token file); a 429 (API priority and fairness, "storage is (re)initializing") is sent again after its Retry-After,
 * up to RETRIES_429 times, for requests that are safe to repeat: GET, PUT carrying metadata.resourceVersion, DELETE
 * carrying preconditions.
 */

/** How many times a 429 is retried by default, and the bounds of the wait (the server's Retry-After, default 1 s). */
export const RETRIES_429 = 5;
const RETRY_AFTER_MIN_S = 1;
const RETRY_AFTER_MAX_S = 10;

/** A resource kind as the API serves it. `group` is '' for the core group. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

/** The `Status` object the API server returns with errors. */
export interface KubeStatus {
  kind?: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

/** An error answered by the API server (or a transport failure while talking to it). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    readonly method: string,
    readonly path: string,
    /** The server's Retry-After header, in seconds, when it sent one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${method} ${path}: ${statusCode} ${reason}: ${message}`);
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 409;
export const isGone = (e: unknown): boolean => e instanceof KubeApiError && e.statusCode === 410;

export function apiVersionOf(rt: Pick<ResourceType, 'group' | 'version'>): string {
  return rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
}

/** The URL path of a collection or an object, e.g. `/apis/g/v/namespaces/ns/plural/name/status`. */
export function resourcePath(
  rt: ResourceType,
  at: { namespace?: string | undefined; name?: string | undefined; subresource?: string | undefined } = {},
): string {
  const root = rt.group === '' ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`;
  if (!rt.namespaced && at.namespace) {
    throw new Error(`${rt.plural}.${rt.group || 'core'} is cluster-scoped: no namespace may be given`);
  }
  if (rt.namespaced && at.name !== undefined && !at.namespace) {
    throw new Error(`${rt.plural}.${rt.group || 'core'} is namespaced: a namespace is required to address ${at.name}`);
  }
  if (at.subresource !== undefined && at.name === undefined) {
    throw new Error('a subresource needs an object name');
  }
  let path = root;
  if (at.namespace) path += `/namespaces/${encodeURIComponent(at.namespace)}`;
  path += `/${rt.plural}`;
  if (at.name !== undefined) path += `/${encodeURIComponent(at.name)}`;
  if (at.subresource !== undefined) path += `/${at.subresource}`;
  return path;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Defaults to application/json when a body is given. */
  contentType?: string;
  signal?: AbortSignal;
  /** Per-request timeout; default the client's (30 s). */
  timeoutMs?: number;
}

export const MERGE_PATCH = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';

export class KubeRest {
  readonly server: URL;
  private readonly timeoutMs: number;
  private readonly proxied: boolean;
  private readonly retries429: number;
  private pooled: { fingerprint: string; agent: http.Agent } | undefined;

  constructor(
    readonly kubeConfig: KubeConnectionConfig,
    opts: { timeoutMs?: number; retries429?: number } = {},
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.proxied = Boolean(cluster.proxyUrl);
    this.retries429 = opts.retries429 ?? RETRIES_429;
  }

  /**
   * The library makes a fresh Agent (no keep-alive) for every request, so every call would pay a TLS handshake.
   * Without a proxy we keep one keep-alive agent per set of TLS credentials instead (re-made when the credentials
   * read from the kubeconfig change, e.g. a rotated client certificate).
   */
  private agentFor(options: https.RequestOptions, protocol: string): http.Agent | undefined {
    if (this.proxied) return options.agent as http.Agent | undefined;
    const h = createHash('sha256');
    for (const part of [options.ca, options.cert, options.key, options.pfx]) {
      for (const item of Array.isArray(part) ? part : [part]) {
        h.update(
          item === undefined ? '-' : typeof item === 'string' || Buffer.isBuffer(item) ? item : JSON.stringify(item),
        );
        h.update('\0');
      }
    }
    h.update(`${options.passphrase ?? ''}\0${options.rejectUnauthorized}\0${options.servername ?? ''}\0${protocol}`);
    const fingerprint = h.digest('hex');
    if (this.pooled?.fingerprint !== fingerprint) {
      // The old agent is not destroyed: open watches still use it; its idle sockets close on the server's timeout.
      const agent =
        protocol === 'http:'
          ? new http.Agent({ keepAlive: true })
          : new https.Agent({
              keepAlive: true,
              ca: options.ca,
              cert: options.cert,
              key: options.key,
              pfx: options.pfx,
              passphrase: options.passphrase,
              ...(options.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.rejectUnauthorized }),
              ...(options.servername ? { servername: options.servername } : {}),
            });
      this.pooled = { fingerprint, agent };
    }
    return this.pooled.agent;
  }

  /** Closes pooled connections (watches are ended by their own signals). */
  close(): void {
    this.pooled?.agent.destroy();
    this.pooled = undefined;
  }

  private url(path: string, query?: Query): URL {
    const base = this.server.pathname.replace(/\/$/, '');
    const url = new URL(this.server.origin + base + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    return url;
  }

  /** `sendOnce`, with the retries described at the top of this file. */
  private async send(
    method: string,
    path: string,
    opts: RequestOptions,
    signal: AbortSignal,
  ): Promise<http.IncomingMessage> {
    let refreshed = false;
    for (let tries429 = 0; ; ) {
      const sent: https.RequestOptions = {};
      try {
        return await this.sendOnce(method, path, opts, signal, sent);
      } catch (err) {
        if (!(err instanceof KubeApiError)) throw err;
        if (err.statusCode === 401 && !refreshed && this.kubeConfig.refreshCredentials?.(sent)) {
          refreshed = true;
          continue;
        }
        if (err.statusCode !== 429 || tries429 >= this.retries429 || !repeatable(method, opts)) throw err;
        tries429++;
        const seconds = Math.min(RETRY_AFTER_MAX_S, Math.max(RETRY_AFTER_MIN_S, err.retryAfterSeconds ?? 0));
        await sleep(seconds * 1000, signal);
        if (signal.aborted) throw signal.reason;
      }
    }
  }

  /**
   * Sends a request and resolves with the response once its status line arrived (status is checked). `options`
   * (empty) is filled with what was sent, for the 401 handling.
   */
  private async sendOnce(
    method: string,
    path: string,
    opts: RequestOptions,
    signal: AbortSignal,
    options: https.RequestOptions,
  ): Promise<http.IncomingMessage> {
    const url = this.url(path, opts.query);
    options.method = method;
    options.headers = { Accept: 'application/json' };
    await this.kubeConfig.applyToHTTPSOptions(options);
    options.agent = this.agentFor(options, url.protocol);
    const headers = options.headers as Record<string, string>;
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const transport = url.protocol === 'http:' ? http : https;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = transport.request(url, { ...options, signal }, resolve);
      req.on('error', (err) =>
        reject(
          signal.aborted && signal.reason instanceof Error
            ? signal.reason
            : new KubeApiError(0, 'TransportError', err.message, method, path),
        ),
      );
      req.end(payload);
    });
    const code = res.statusCode ?? 0;
    if (code >= 200 && code < 300) return res;
    const text = await readAll(res);
    let status: KubeStatus = {};
    try {
      status = JSON.parse(text) as KubeStatus;
    } catch {
      status = { message: text.slice(0, 500) };
    }
    const retryAfter = res.headers['retry-after'] === undefined ? Number.NaN : Number(res.headers['retry-after']);
    throw new KubeApiError(
      code,
      status.reason || http.STATUS_CODES[code] || 'Unknown',
      status.message || text.slice(0, 500),
      method,
      path,
      Number.isFinite(retryAfter) ? retryAfter : undefined,
    );
  }

  /** A JSON request: resolves with the parsed body; rejects with KubeApiError for any non-2xx answer. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const linked = linkSignals([opts.signal], opts.timeoutMs ?? this.timeoutMs);
    try {
      const res = await this.send(method, path, opts, linked.signal);
      const text = await readAll(res);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch (err) {
      if (linked.timedOut()) {
        throw new KubeApiError(0, 'Timeout', `no answer within ${opts.timeoutMs ?? this.timeoutMs} ms`, method, path);
      }
      throw err;
    } finally {
      linked.done();
    }
  }

  /**
   * Opens a streaming GET (a watch). Resolves with the open response after a 2xx status; the caller reads it and
   * ends it by aborting `signal`. No timeout applies to the body.
   */
  async stream(path: string, query: Query, signal: AbortSignal): Promise<http.IncomingMessage> {
    return this.send('GET', path, { query }, signal);
  }

  async get<T extends KubeObject>(
    rt: ResourceType,
    name: string,
    namespace?: string,
    opts: RequestOptions = {},
  ): Promise<T> {
    return this.request<T>('GET', resourcePath(rt, { name, namespace }), opts);
  }

  async create<T extends KubeObject>(rt: ResourceType, obj: T, opts: RequestOptions = {}): Promise<T> {
    const namespace = rt.namespaced ? obj.metadata?.namespace : undefined;
    return this.request<T>('POST', resourcePath(rt, { namespace }), { ...opts, body: obj });
  }

  /** PUT of a whole object (or of its subresource); carries metadata.resourceVersion for optimistic concurrency. */
  async replace<T extends KubeObject>(
    rt: ResourceType,
    obj: T,
    subresource?: string,
    opts: RequestOptions = {},
  ): Promise<T> {
    const name = obj.metadata?.name;
    if (!name) throw new Error('replace: object has no metadata.name');
    const namespace = rt.namespaced ? obj.metadata?.namespace : undefined;
    return this.request<T>('PUT', resourcePath(rt, { name, namespace, subresource }), { ...opts, body: obj });
  }

  /** A JSON merge patch (RFC 7386) of an object or a subresource. */
  async mergePatch<T extends KubeObject>(
    rt: ResourceType,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    subresource?: string,
    opts: RequestOptions = {},
  ): Promise<T> {
    return this.request<T>('PATCH', resourcePath(rt, { name, namespace, subresource }), {
      ...opts,
      body: patch,
      contentType: MERGE_PATCH,
    });
  }

  async delete(rt: ResourceType, name: string, namespace?: string, opts: RequestOptions = {}): Promise<unknown> {
    return this.request('DELETE', resourcePath(rt, { name, namespace }), opts);
  }
}

/** Whether sending a request twice does no more than sending it once (the 429 retry's condition). */
export function repeatable(method: string, opts: RequestOptions): boolean {
  const body = opts.body as { metadata?: { resourceVersion?: unknown }; preconditions?: unknown } | undefined;
  switch (method) {
    case 'GET':
    case 'HEAD':
      return true;
    case 'PUT':
      return typeof body?.metadata?.resourceVersion === 'string' && body.metadata.resourceVersion !== '';
    case 'DELETE':
      return body?.preconditions !== undefined && body.preconditions !== null;
    default:
      return false;
  }
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
  });
}
