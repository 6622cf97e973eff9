// The controller's one way to reach Cloud Storage: the googleapis storage v1 client (it has managedFolders; design §3).
// Authentication is Application Default Credentials (on GKE: the metadata server, i.e. Workload Identity), or a
// static access token for development. An endpoint override points every call, media included, at another server.
import { google, type storage_v1 } from 'googleapis';

export const STORAGE_SCOPE = 'https://www.googleapis.com/auth/devstorage.full_control';

export interface GcsClientOptions {
  /** JSON API root without path, e.g. http://127.0.0.1:4443 (TIDEMARK_GCS_ENDPOINT); default Google's. */
  endpoint?: string | undefined;
  /** A bearer token to use as is (TIDEMARK_GCS_ACCESS_TOKEN); default: Application Default Credentials. */
  accessToken?: string | undefined;
}

export interface Gcs {
  storage: storage_v1.Storage;
  /** `rootUrl` to pass per call for media requests, which ignore the service-level one (design §3). */
  rootUrl: string | undefined;
}

export function createGcs(opts: GcsClientOptions): Gcs {
  const rootUrl = opts.endpoint ? `${opts.endpoint.replace(/\/+$/, '')}/` : undefined;
  let auth: storage_v1.Options['auth'];
  if (opts.accessToken) {
    // Must be googleapis' own OAuth2 class: a client from another google-auth-library major drops headers.
    const oauth = new google.auth.OAuth2();
    oauth.setCredentials({ access_token: opts.accessToken });
    auth = oauth;
  } else {
    auth = new google.auth.GoogleAuth({ scopes: [STORAGE_SCOPE] });
  }
  const storage = google.storage({ version: 'v1', auth, ...(rootUrl ? { rootUrl } : {}) });
  return { storage, rootUrl };
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
