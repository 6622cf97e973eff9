// ManagedFolder mode: one managed folder per job prefix, whose IAM policy is exactly Tidemark's one binding
// {role, members}. Tidemark owns the folder, so its policy is authoritative (foreign bindings there are removed);
// the bucket policy is never touched, so jobs do not contend for the bucket's one-write-per-second limit.
//
// Calls (counted with gcs.onCall):
// - observe: one getIamPolicy on the folder (404 = no folder yet).
// - apply: insert the folder when the last read said it is missing or nothing is known (409 = already there),
//   read its policy (skipped when observe or apply read it less than `snapshotTtlMs` ago: the etag guards the
//   write, a stale one costs a 412 and a re-read), write it with the read etag only if it differs, and take the
//   setIamPolicy answer (the policy as stored, with its new etag) as the read-back. A new job by apply alone:
//   insert + getIamPolicy + setIamPolicy = 3 calls; through observe + apply: getIamPolicy (404) + those 3 = 4;
//   an existing folder with a wrong policy after observe: setIamPolicy only (2 with the observe); a second apply
//   of the same grant: 0 (the stored answer is fresh). The getIamPolicy after an insert only fetches the etag:
//   Google gives no other way to learn it, and a policy is never written without one.
// - a 412/409 (someone wrote between our read and write) or 404 (folder deleted meanwhile) redoes the whole
//   read-modify-write, `maxAttempts` times at most, with jittered exponential backoff.
// - revoke = apply with no members: the folder is kept (its data stays until GC) with an empty policy; a missing
//   folder is not created for a revoke.
import type { storage_v1 } from '@googleapis/storage';
import { type Gcs, gcsCall, httpStatus, NO_RETRY } from '../gcs/client.js';
import { backoffMs, sleep } from '../gcs/retry.js';
import { cmp } from '../policy/selector.js';
import type { AccessBackend, GrantObservation, GrantRequest } from './backend.js';
import { compareFolderPolicy, desiredFolderPolicy, managedFolderName } from './folder-policy.js';
import { rethrowAccess } from './gcs-errors.js';
import type { IamPolicy } from './merge.js';

export interface ManagedFolderBackendOptions {
  gcs: Gcs;
  /** Read-modify-write attempts when a concurrent writer wins (412/409) before giving up. Default 6. */
  maxAttempts?: number | undefined;
  /** Backoff after the first conflict, doubled per attempt (jittered), capped at 2 s. Default 50 ms. */
  conflictBackoffMs?: number | undefined;
  /** How long a folder policy read (or written) may stand in for a fresh read in apply. Default 5,000 ms. */
  snapshotTtlMs?: number | undefined;
  now?: (() => number) | undefined;
}

interface Snapshot {
  exists: boolean;
  policy?: IamPolicy | undefined;
  at: number;
}

const WHAT = 'Access mode ManagedFolder (managed folders)';
const MAX_SNAPSHOTS = 4096;

export class ManagedFolderBackend implements AccessBackend {
  readonly mode = 'ManagedFolder' as const;
  private readonly gcs: Gcs;
  private readonly maxAttempts: number;
  private readonly conflictBackoffMs: number;
  private readonly snapshotTtlMs: number;
  private readonly now: () => number;
  private readonly snapshots = new Map<string, Snapshot>();

  constructor(opts: ManagedFolderBackendOptions) {
    this.gcs = opts.gcs;
    this.maxAttempts = opts.maxAttempts ?? 6;
    this.conflictBackoffMs = opts.conflictBackoffMs ?? 50;
    this.snapshotTtlMs = opts.snapshotTtlMs ?? 5000;
    this.now = opts.now ?? Date.now;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new Error(`ManagedFolderBackend: maxAttempts must be an integer >= 1, got ${this.maxAttempts}`);
    }
  }

  async observe(req: GrantRequest): Promise<GrantObservation> {
    checkRequest(req);
    const folder = managedFolderName(req.prefix);
    return observation(await this.read(req.bucket, folder), req.role);
  }

  async apply(req: GrantRequest): Promise<GrantObservation> {
    checkRequest(req);
    const { bucket, role, members } = req;
    const folder = managedFolderName(req.prefix);
    let snap = this.fresh(bucket, folder);
    // Nothing known about the folder and a grant to make: create it first (409 = already there) instead of
    // reading first, so that a new job costs insert + getIamPolicy + setIamPolicy and an existing one the same.
    if (!snap && members.length > 0) await this.insert(bucket, folder);
    for (let attempt = 1; ; attempt++) {
      snap ??= await this.read(bucket, folder);
      if (!snap.exists) {
        if (members.length === 0) return { members: [], prefixReady: false };
        await this.insert(bucket, folder);
        snap = await this.read(bucket, folder);
        if (!snap.exists)
          throw new Error(`managed folder gs://${bucket}/${folder} was created but reads back as missing`);
      }
      const policy = snap.policy ?? {};
      if (compareFolderPolicy(policy, role, members).matches) return observation(snap, role);
      if (typeof policy.etag !== 'string' || policy.etag === '') {
        throw new Error(
          `managed folder gs://${bucket}/${folder}: its IAM policy came without an etag; not writing blind`,
        );
      }
      try {
        const written = await this.write(bucket, folder, desiredFolderPolicy(role, members, policy.etag));
        snap = this.remember(bucket, folder, { exists: true, policy: written, at: this.now() });
        return observation(snap, role);
      } catch (err) {
        const status = httpStatus(err);
        if (status !== 412 && status !== 409 && status !== 404) rethrowAccess(err, bucket, WHAT);
        this.snapshots.delete(key(bucket, folder));
        if (attempt >= this.maxAttempts) {
          throw new Error(
            `managed folder gs://${bucket}/${folder}: its IAM policy kept changing under us (${status} on ${attempt} writes); will retry later`,
          );
        }
        snap = undefined;
        await sleep(backoffMs(attempt, this.conflictBackoffMs, 2000));
      }
    }
  }

  private fresh(bucket: string, folder: string): Snapshot | undefined {
    const s = this.snapshots.get(key(bucket, folder));
    if (!s) return undefined;
    if (this.now() - s.at > this.snapshotTtlMs) {
      this.snapshots.delete(key(bucket, folder));
      return undefined;
    }
    return s;
  }

  /** Policies remembered now (expired ones are dropped as new ones come in). */
  get rememberedSnapshots(): number {
    return this.snapshots.size;
  }

  private remember(bucket: string, folder: string, s: Snapshot): Snapshot {
    const cutoff = this.now() - this.snapshotTtlMs;
    // Expired ones out from the oldest (Map keeps insertion order, which is remember order: a key is deleted before
    // it is set again): a snapshot is only used for snapshotTtlMs, so one per folder ever touched must not stay
    // until the map is full.
    for (const [k, v] of this.snapshots) {
      if (v.at >= cutoff) break;
      this.snapshots.delete(k);
    }
    if (this.snapshots.size >= MAX_SNAPSHOTS) {
      // Full of fresh ones: drop the oldest.
      for (const k of this.snapshots.keys()) {
        if (this.snapshots.size < MAX_SNAPSHOTS) break;
        this.snapshots.delete(k);
      }
    }
    this.snapshots.delete(key(bucket, folder));
    this.snapshots.set(key(bucket, folder), s);
    return s;
  }

  private async read(bucket: string, folder: string): Promise<Snapshot> {
    try {
      const policy = await gcsCall(this.gcs, 'storage.managedFolders.getIamPolicy', () =>
        this.gcs.storage.managedFolders.getIamPolicy(
          { bucket, managedFolder: folder, optionsRequestedPolicyVersion: 3 },
          NO_RETRY,
        ),
      );
      return this.remember(bucket, folder, { exists: true, policy: policy as IamPolicy, at: this.now() });
    } catch (err) {
      // 404: no such folder (or no such bucket: the insert that follows tells which).
      if (httpStatus(err) === 404) return this.remember(bucket, folder, { exists: false, at: this.now() });
      rethrowAccess(err, bucket, WHAT);
    }
  }

  private async insert(bucket: string, folder: string): Promise<void> {
    try {
      await gcsCall(this.gcs, 'storage.managedFolders.insert', () =>
        this.gcs.storage.managedFolders.insert({ bucket, requestBody: { name: folder } }, NO_RETRY),
      );
    } catch (err) {
      if (httpStatus(err) === 409) return; // already there: fine
      rethrowAccess(err, bucket, WHAT);
    }
  }

  private async write(bucket: string, folder: string, policy: IamPolicy): Promise<IamPolicy> {
    const written = await gcsCall(this.gcs, 'storage.managedFolders.setIamPolicy', () =>
      this.gcs.storage.managedFolders.setIamPolicy(
        { bucket, managedFolder: folder, requestBody: policy as storage_v1.Schema$Policy },
        NO_RETRY,
      ),
    );
    return written as IamPolicy;
  }
}

function key(bucket: string, folder: string): string {
  return `${bucket}\n${folder}`;
}

function observation(snap: Snapshot, role: string): GrantObservation {
  if (!snap.exists) return { members: [], prefixReady: false };
  const members = new Set<string>();
  for (const b of snap.policy?.bindings ?? []) {
    if (b.role === role && !b.condition) for (const m of b.members ?? []) members.add(m);
  }
  const { unexpected } = compareFolderPolicy(snap.policy, role, []);
  return unexpected.length > 0
    ? { members: [...members].sort(cmp), prefixReady: true, foreign: unexpected }
    : { members: [...members].sort(cmp), prefixReady: true };
}

/** Rejects malformed requests with a clear error before any call. */
export function checkRequest(req: GrantRequest): void {
  if (typeof req.bucket !== 'string' || req.bucket === '') throw new Error('access: bucket must be a non-empty string');
  if (typeof req.role !== 'string' || req.role === '') throw new Error('access: role must be a non-empty string');
  for (const [name, list] of [
    ['members', req.members],
    ['applied', req.applied],
  ] as const) {
    if (!Array.isArray(list)) throw new Error(`access: ${name} must be a list`);
    for (const m of list) {
      if (typeof m !== 'string' || m === '') throw new Error(`access: ${name} must hold non-empty strings`);
    }
  }
}
