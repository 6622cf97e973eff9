// Shared setup for emulator tests: the real Google clients pointed at a running emulator, configured as
// design §3 says (with the workarounds for the clients' known bugs), plus small admin helpers.
import { Storage } from '@google-cloud/storage';
import { OAuth2Client } from 'google-auth-library';
import { google, type storage_v1 } from 'googleapis';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { type EmulatorOptions, type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { gcloudEnv } from './gcloud-env.js';

export { gcloudEnv };

export type Emu = Pick<RunningEmulator, 'url' | 'adminToken' | 'projectId' | 'projectNumber'>;

export async function start(opts: EmulatorOptions = {}): Promise<RunningEmulator> {
  return startEmulator({ config: { bucketWriteLimitPerSecond: 0 }, ...opts });
}

/**
 * `@google-cloud/storage` acting with `token`. Its resumable uploads go out without the token (the auth option is
 * not passed on), so an interceptor sets Authorization on every request.
 */
export function storageClient(emu: Emu, token: string): Storage {
  // Must be the google-auth-library major that @google-cloud/storage uses (9.x); another major drops the header.
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: token });
  const storage = new Storage({
    apiEndpoint: emu.url,
    useAuthWithCustomEndpoint: true,
    authClient,
    projectId: emu.projectId,
    retryOptions: { autoRetry: false },
  });
  storage.interceptors.push({
    request: (reqOpts) => {
      reqOpts.headers = { ...(reqOpts.headers ?? {}), Authorization: `Bearer ${token}` };
      // The declared type wants `uri`; the options passed at run time are the request's own and carry it.
      return reqOpts as typeof reqOpts & { uri: string };
    },
  });
  return storage;
}

/** A `google.auth.OAuth2` (googleapis' own google-auth-library major) holding `token`. */
export function oauth(token: string): InstanceType<typeof google.auth.OAuth2> {
  const auth = new google.auth.OAuth2();
  auth.setCredentials({ access_token: token });
  return auth;
}

/** The JSON API root with a trailing slash, as googleapis wants it. */
export const rootUrl = (emu: Emu): string => `${emu.url}/`;

/**
 * googleapis storage v1 acting with `token`. Media uploads ignore the service-level rootUrl: pass
 * `{ rootUrl: rootUrl(emu) }` as the call's second argument.
 */
export function googleStorage(emu: Emu, token: string): storage_v1.Storage {
  return google.storage({ version: 'v1', auth: oauth(token), rootUrl: rootUrl(emu), retry: false });
}

/** A fetch with the admin token. */
export async function adminFetch(emu: Emu, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${emu.adminToken}`);
  if (init.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return fetch(`${emu.url}${path}`, { ...init, headers });
}

/** A fetch whose answer must be 2xx; returns the parsed JSON (or undefined for an empty body). */
export async function adminJson<T = unknown>(emu: Emu, path: string, init: RequestInit = {}): Promise<T> {
  const res = await adminFetch(emu, path, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** A token for `principal` (any IAM member), minted with `POST /_emulator/tokens` (the IAM half's endpoint). */
export async function mintToken(emu: Emu, principal: string): Promise<string> {
  const body = await adminJson<{ access_token: string }>(emu, '/_emulator/tokens', {
    method: 'POST',
    body: JSON.stringify({ principal }),
  });
  return body.access_token;
}

/** Creates a bucket as the admin (uniform bucket-level access on unless said otherwise). */
export async function createBucket(
  emu: Emu,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  return adminJson(emu, `/storage/v1/b?project=${emu.projectId}`, {
    method: 'POST',
    body: JSON.stringify({ name, iamConfiguration: { uniformBucketLevelAccess: { enabled: true } }, ...extra }),
  });
}

/** Sets emulator knobs (PUT /_emulator/config). */
export async function setConfig(emu: Emu, patch: Record<string, unknown>): Promise<void> {
  await adminJson(emu, '/_emulator/config', { method: 'PUT', body: JSON.stringify(patch) });
}

export async function counters(
  emu: Emu,
  reset = false,
): Promise<{ total: number; httpRequests: number; byOp: Record<string, number>; byMember: Record<string, number> }> {
  return adminJson(emu, `/_emulator/counters${reset ? '?reset=true' : ''}`);
}

/** The HTTP status of an error thrown by either client. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown } };
  for (const v of [e?.response?.status, e?.status, e?.code]) {
    if (typeof v === 'number') return v;
  }
  return undefined;
}

/** Runs `fn`, which must fail; returns the HTTP status and error. */
export async function failure(fn: () => Promise<unknown>): Promise<{ status: number | undefined; error: Error }> {
  try {
    await fn();
  } catch (error) {
    return { status: statusOf(error), error: error as Error };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export interface AdminSession {
  emu: RunningEmulator;
  /** @google-cloud/storage acting with the admin token. */
  gcs: Storage;
  /** googleapis storage v1 acting with the admin token. */
  api: storage_v1.Storage;
}

/**
 * One emulator for the test file, reset before each test (then `config` applied and `buckets` created), with both
 * clients acting as the admin. `bind` gets them once the emulator is up (assign them to the file's variables).
 */
export function useAdminEmulator(
  opts: { buckets?: string[]; config?: Record<string, unknown> },
  bind: (s: AdminSession) => void,
): void {
  let emu: RunningEmulator | undefined;
  beforeAll(async () => {
    emu = await start();
    bind({ emu, gcs: storageClient(emu, emu.adminToken), api: googleStorage(emu, emu.adminToken) });
  });
  afterAll(() => emu?.stop());
  beforeEach(async () => {
    if (!emu) throw new Error('emulator did not start');
    await adminJson(emu, '/_emulator/reset', { method: 'POST' });
    if (opts.config) await setConfig(emu, opts.config);
    for (const b of opts.buckets ?? []) await createBucket(emu, b);
  });
}
