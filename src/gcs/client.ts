// The controller's one way to reach Cloud Storage: the storage v1 client of googleapis, from its per-API package
// `@googleapis/storage` (same generated code and google-auth-library as `googleapis`, with managedFolders; design §3)
// rather than the whole `googleapis` package, which alone takes Node from ~39 MB to ~154 MB RSS (this one: ~57 MB).
// Authentication is Application Default Credentials (on GKE: the metadata server, i.e. Workload Identity), or a
// static access token for development. An endpoint override points every call, media included, at another server.
import { auth as googleAuth, type storage_v1, storage as storageClient } from '@googleapis/storage';

export const STORAGE_SCOPE = 'https://www.googleapis.com/auth/devstorage.full_control';

/**
 * Told about every GCS call made through `gcsCall`: the method (Google's id, e.g. `storage.buckets.setIamPolicy`),
 * the HTTP status (0 when no answer came: connection reset, timeout) and the time it took. The controller turns it
 * into `tidemark_gcs_requests_total{method,code}`.
 */
export type GcsCallHook = (method: string, status: number, ms: number) => void;

export interface GcsClientOptions {
  /** JSON API root without path, e.g. http://127.0.0.1:4443 (TIDEMARK_GCS_ENDPOINT); default Google's. */
  endpoint?: string | undefined;
  /** A bearer token to use as is (TIDEMARK_GCS_ACCESS_TOKEN); default: Application Default Credentials. */
  accessToken?: string | undefined;
  /** Called after every call made through `gcsCall` (the access backends use it for all of theirs). */
  onCall?: GcsCallHook | undefined;
  /** Aborts every call of this client, in flight or later (the controller's leadership term; issue 8 item 8). */
  signal?: AbortSignal | undefined;
}

export interface Gcs {
  storage: storage_v1.Storage;
  /** `rootUrl` to pass per call for media requests, which ignore the service-level one (design §3). */
  rootUrl: string | undefined;
  onCall?: GcsCallHook | undefined;
  /** The client's abort signal (GcsClientOptions.signal), for calls made outside `storage` (JSON batches). */
  signal?: AbortSignal | undefined;
}

export function createGcs(opts: GcsClientOptions): Gcs {
  const rootUrl = opts.endpoint ? `${opts.endpoint.replace(/\/+$/, '')}/` : undefined;
  let auth: storage_v1.Options['auth'];
  if (opts.accessToken) {
    // Must be the client package's own OAuth2 class: a client from another google-auth-library major drops headers.
    const oauth = new googleAuth.OAuth2();
    oauth.setCredentials({ access_token: opts.accessToken });
    auth = oauth;
  } else {
    auth = new googleAuth.GoogleAuth({ scopes: [STORAGE_SCOPE] });
  }
  const storage = storageClient({
    version: 'v1',
    auth,
    ...(rootUrl ? { rootUrl } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { storage, rootUrl, onCall: opts.onCall, signal: opts.signal };
}

/** The HTTP status of an error thrown by a googleapis call, if it has one. */
export function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { status?: unknown; code?: unknown; response?: { status?: unknown } };
  for (const v of [e.response?.status, e.status, e.code]) {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && /^\d{3}$/.test(v)) return Number(v);
  }
  return undefined;
}

/** Google's error message from a failed call (`error.message` of the JSON body), else the error's own message. */
export function gcsMessage(err: unknown): string {
  const body = (err as { response?: { data?: unknown } } | null)?.response?.data;
  if (typeof body === 'object' && body !== null) {
    const m = (body as { error?: { message?: unknown } }).error?.message;
    if (typeof m === 'string' && m !== '') return m;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Per-call options for the access backends' calls: no automatic retries inside the client (gaxios would silently
 * retry 429/5xx on GET and PUT, hiding them from the write-rate logic and from the call counts); the backends
 * decide what to retry.
 */
export const NO_RETRY = { retry: false } as const;

/** Runs one GCS call, timing it and telling `gcs.onCall` its method and status. Errors propagate unchanged. */
export async function gcsCall<T>(gcs: Gcs, method: string, fn: () => Promise<{ status: number; data: T }>): Promise<T> {
  const started = performance.now();
  try {
    const res = await fn();
    gcs.onCall?.(method, res.status, performance.now() - started);
    return res.data;
  } catch (err) {
    gcs.onCall?.(method, httpStatus(err) ?? 0, performance.now() - started);
    throw err;
  }
}
