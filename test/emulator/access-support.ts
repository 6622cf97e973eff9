// Shared setup for the access backend tests: the controller as its own service account holding only a custom role
// with the permissions docs/access.md claims, a job principal acting through @google-cloud/storage, and the
// prefix-boundary checks both modes must pass.
import type { Storage } from '@google-cloud/storage';
import { expect } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createGcs, type Gcs } from '../../src/gcs/client.js';
import { adminJson, counters, type Emu, failure, mintToken, storageClient } from './clients.js';

export const CONTROLLER = 'serviceAccount:tidemark-controller@tidemark-dev.iam.gserviceaccount.com';
export const ROLE = 'roles/storage.objectUser';

/** The permissions docs/access.md lists for the controller, per mode (the access backends only). */
export const CONTROLLER_PERMISSIONS = {
  ManagedFolder: [
    'storage.managedFolders.create',
    'storage.managedFolders.getIamPolicy',
    'storage.managedFolders.setIamPolicy',
  ],
  BucketCondition: ['storage.buckets.getIamPolicy', 'storage.buckets.setIamPolicy'],
} as const;

/** The Workload Identity principal of KSA `sa` in namespace `ns` (the emulator's project number and pool). */
export function wiPrincipal(ns: string, sa: string): string {
  return `principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tidemark-dev.svc.id.goog/subject/ns/${ns}/sa/${sa}`;
}

export interface GcsCallRecord {
  method: string;
  status: number;
}

/**
 * Creates custom role `roleId` with exactly `permissions`, grants it to the controller on `bucket` (as the admin,
 * in the bucket policy, under `condition` if given) and returns a Gcs acting as the controller whose calls are recorded in `calls`.
 */
export async function controllerGcs(
  emu: RunningEmulator,
  bucket: string,
  roleId: string,
  permissions: readonly string[],
  condition?: Binding['condition'],
): Promise<{ gcs: Gcs; calls: GcsCallRecord[] }> {
  const role = await adminJson<{ name: string }>(emu, `/_emulator/roles/${roleId}`, {
    method: 'PUT',
    body: JSON.stringify({ includedPermissions: permissions }),
  });
  await adminAddBinding(emu, bucket, { role: role.name, members: [CONTROLLER], ...(condition ? { condition } : {}) });
  const calls: GcsCallRecord[] = [];
  const gcs = createGcs({
    endpoint: emu.url,
    accessToken: await mintToken(emu, CONTROLLER),
    onCall: (method, status) => calls.push({ method, status }),
  });
  return { gcs, calls };
}

export interface Binding {
  role: string;
  members: string[];
  condition?: { title: string; description?: string; expression: string };
}

export interface Policy {
  etag?: string;
  version?: number;
  bindings?: Binding[];
}

export const bucketPolicy = (emu: Emu, bucket: string): Promise<Policy> =>
  adminJson<Policy>(emu, `/storage/v1/b/${bucket}/iam?optionsRequestedPolicyVersion=3`);

export const folderPolicy = (emu: Emu, bucket: string, folder: string): Promise<Policy> =>
  adminJson<Policy>(emu, `/storage/v1/b/${bucket}/managedFolders/${encodeURIComponent(folder)}/iam`);

/** Rewrites the bucket policy as the admin with `edit` applied (read-modify-write with the etag). */
export async function adminEditBucketPolicy(
  emu: Emu,
  bucket: string,
  edit: (bindings: Binding[]) => Binding[],
): Promise<Policy> {
  const p = await bucketPolicy(emu, bucket);
  return adminJson<Policy>(emu, `/storage/v1/b/${bucket}/iam`, {
    method: 'PUT',
    body: JSON.stringify({ version: 3, etag: p.etag, bindings: edit(p.bindings ?? []) }),
  });
}

export const adminAddBinding = (emu: Emu, bucket: string, b: Binding): Promise<Policy> =>
  adminEditBucketPolicy(emu, bucket, (bs) => [...bs, b]);

/** Calls the controller made to `method` (from the emulator's counters). */
export async function controllerCalls(emu: Emu, method: string): Promise<number> {
  const c = (await counters(emu)) as unknown as { byOpAndMember: Record<string, Record<string, number>> };
  return c.byOpAndMember[method]?.[CONTROLLER] ?? 0;
}

/** A @google-cloud/storage client acting as `principal`. */
export async function actAs(emu: Emu, principal: string): Promise<Storage> {
  return storageClient(emu, await mintToken(emu, principal));
}

async function denied(what: string, fn: () => Promise<unknown>): Promise<void> {
  const { status } = await failure(fn);
  expect(status, what).toBe(403);
}

const put = (s: Storage, bucket: string, name: string) =>
  s.bucket(bucket).file(name).save(`data of ${name}`, { resumable: false });
const list = async (s: Storage, bucket: string, prefix: string) =>
  (await s.bucket(bucket).getFiles({ prefix, autoPaginate: false }))[0].map((f) => f.name);
const get = async (s: Storage, bucket: string, name: string) =>
  (await s.bucket(bucket).file(name).download())[0].toString();

/**
 * The job can write, list and read under `prefix` (ending with '/'); it gets 403 one character outside it, in
 * the neighbour prefix `neighbour` (which holds an object the admin put there), at the bucket root, and for list
 * prefixes that reach outside (the parent, the prefix without its '/', the neighbour, the bucket).
 */
export async function expectBoundary(
  emu: Emu,
  job: Storage,
  bucket: string,
  prefix: string,
  neighbour: string,
): Promise<void> {
  const admin = storageClient(emu, emu.adminToken);
  await put(admin, bucket, `${neighbour}offsets/0`);
  await put(admin, bucket, 'top-level');

  await put(job, bucket, `${prefix}offsets/0`);
  await put(job, bucket, `${prefix}commits/0`);
  expect(await get(job, bucket, `${prefix}offsets/0`)).toBe(`data of ${prefix}offsets/0`);
  expect(await list(job, bucket, prefix)).toEqual([`${prefix}commits/0`, `${prefix}offsets/0`]);
  expect(await list(job, bucket, `${prefix}offsets/`)).toEqual([`${prefix}offsets/0`]);
  await job.bucket(bucket).file(`${prefix}commits/0`).delete();

  const bare = prefix.slice(0, -1);
  const parent = bare.slice(0, bare.lastIndexOf('/') + 1);
  await denied('write one character outside', () => put(job, bucket, `${bare}x`));
  await denied('write next to the prefix', () => put(job, bucket, `${bare}x/offsets/0`));
  await denied("write in the neighbour's prefix", () => put(job, bucket, `${neighbour}offsets/1`));
  await denied("read in the neighbour's prefix", () => get(job, bucket, `${neighbour}offsets/0`));
  await denied('write at the bucket root', () => put(job, bucket, 'mine'));
  await denied('read at the bucket root', () => get(job, bucket, 'top-level'));
  await denied('list the parent', () => list(job, bucket, parent));
  await denied("list the prefix without its '/'", () => list(job, bucket, bare));
  await denied('list the neighbour', () => list(job, bucket, neighbour));
  await denied('list the bucket', () => list(job, bucket, ''));
}

/** The job gets 403 for everything under its prefix (after a revoke). */
export async function expectNoAccess(job: Storage, bucket: string, prefix: string): Promise<void> {
  await denied('write after revoke', () => put(job, bucket, `${prefix}offsets/9`));
  await denied('read after revoke', () => get(job, bucket, `${prefix}offsets/0`));
  await denied('list after revoke', () => list(job, bucket, prefix));
}
