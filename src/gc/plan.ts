// The garbage collector's decision for one policy run: which prefixes under the policy root go, which stay and why.
// Pure: the caller gathers the facts (Checkpoints, live jobs, namespaces, the usage scan of the root) and `now`.
//
// A Checkpoint's prefix is stale when it is Released (JobGone or Orphaned), released longer ago than
// retention.afterRelease, not annotated tidemark.dev/retain, no live job of its name exists, no object under it was
// written within the retention period (an idle stream writes nothing, so "no writes" alone never means dead), no
// grant remains on record and the propagation hold has passed since the last revoke. A Checkpoint already Deleting
// (fenced by an earlier run that did not finish) is resumed first, whatever its age: it can never be bound again.
// A prefix with no Checkpoint whose namespace is gone (CONTRACTS: its record is GCS itself) is stale when no object
// under it was written within the retention period. A prefix with no Checkpoint in a namespace that exists is left
// to the orphan scan, which records it (and so starts a full retention period).
// Nothing outside `<root>/` is ever planned, nor anything under another policy's root nested in this one.
//
// Overlap with other policies is decided by src/policy/overlap.ts (rootOwnerOf: a prefix under, or containing,
// another policy's deeper root is never touched; the caller does not run GC at all for a shadowed policy). On top of
// that, deliberately stricter, GC never touches a prefix that lies inside, contains or equals a place recorded by
// any other Checkpoint (its spec.prefix, or a grant's prefix or managed folder), whatever its policy or phase: the
// later of two overlapping policies provisions nothing, but a record of one (made before the overlap, or by hand)
// means data of its own may be there.
//
// A Checkpoint in Deleting is finished from its own record (spec.bucket and spec.prefix, both immutable, fenced by
// an earlier run only after the place was checked), even when its policy is gone or no longer places it there (its
// root and bucket changed by delete + re-create): its data is half deleted and can never be bound again, so leaving
// it would leave the job's name blocked for good. Such a resume ("from the record") is stricter still: it is kept
// while any existing policy's root other than the recorded one overlaps the prefix, and it waits out the
// propagation hold after a revoke made since the fence (status.revokedAt, which GC sets when it revokes a grant it
// found).
//
// Managed folders under the root are facts too: an empty folder of a deleted namespace's prefix has no object to
// give the retention clock, so its clock is the folder's own updateTime (set at creation and at every IAM change,
// e.g. the resync's revoke when the namespace went); a prefix with both objects and a folder takes the later of the
// two.

import { type OverlapCandidate, rootOwnerOf, rootsOverlap } from '../policy/overlap.js';

export interface PrefixUsage {
  objects: number;
  bytes: number;
  /** Newest `updated` time under the prefix (ms since the epoch); undefined when it holds no object. */
  lastWriteMs?: number | undefined;
}

export interface GcCheckpointFacts {
  namespace: string;
  name: string;
  prefix: string;
  /** spec.bucket (the policy's bucket when absent). */
  bucket?: string | undefined;
  phase: 'Bound' | 'Released' | 'Deleting' | undefined;
  releasedAtMs?: number | undefined;
  /** Annotation tidemark.dev/retain: "true". */
  retained: boolean;
  /** The record says some grant may still exist in GCS (see grants.ts). */
  grantsRemain: boolean;
  /** When the last grant was revoked (status.revokedAt; the release time when the record has none). */
  revokedAtMs?: number | undefined;
  /** When the GC fenced it (status.deletion.startTime), while Deleting. */
  deletionStartMs?: number | undefined;
}

export interface GcPolicyFacts {
  name: string;
  bucket: string;
  rootPrefix: string;
  retentionMs: number;
  propagationHoldMs: number;
  maxDeletesPerRun: number;
}

export interface PlanInput {
  now: number;
  policy: GcPolicyFacts;
  /** The policy's Checkpoints (spec.policyName == policy.name). */
  checkpoints: readonly GcCheckpointFacts[];
  /** A live SparkApplication or ScheduledSparkApplication of this name exists in this namespace. */
  liveJob: (namespace: string, name: string) => boolean;
  namespaceExists: (namespace: string) => boolean;
  /** Per job prefix `<root>/<ns>/<job>/`, from the scan of the root. */
  usage: ReadonlyMap<string, PrefixUsage>;
  /** Every CheckpointPolicy (this one included): overlap is decided by src/policy/overlap.ts over these. */
  policies?: readonly OverlapCandidate[] | undefined;
  /** The places every Checkpoint records (of any policy): a prefix overlapping another's record is never planned. */
  records?: readonly RecordedPlace[] | undefined;
  /** Managed folders under the root, per job prefix (`<root>/<ns>/<job>/`). */
  folders?: ReadonlyMap<string, { updatedMs: number }> | undefined;
  /** The policy is gone (or shadowed): only Deleting Checkpoints are finished, from their record. */
  resumeOnly?: boolean | undefined;
}

/** What one Checkpoint records as its places: spec.prefix, and each grant's prefix and managed folder. */
export interface RecordedPlace {
  namespace: string;
  name: string;
  bucket: string;
  prefixes: readonly string[];
}

export type KeepReason =
  | 'Bound'
  | 'Retained'
  | 'LiveJob'
  | 'RetentionNotPassed'
  | 'RecentWrite'
  | 'GrantRemains'
  | 'PropagationHold'
  | 'NamespaceExists'
  | 'OtherPolicyRoot'
  | 'NotUnderRoot'
  | 'PrefixMismatch'
  | 'OtherRecord'
  | 'OverLimit';

export interface PlannedDeletion {
  prefix: string;
  namespace: string;
  name: string;
  /** Checkpoint: fence, delete, drop the record. NoRecord: a prefix of a deleted namespace. */
  kind: 'Checkpoint' | 'NoRecord';
  /** Already Deleting: an earlier run was interrupted. */
  resume: boolean;
  /** Where: the bucket and root of the place (the policy's, or the Deleting record's own). */
  bucket: string;
  root: string;
  /** Resumed from the Checkpoint's record: its policy is gone or no longer places it here. */
  fromRecord: boolean;
  /** A managed folder exists at the prefix (deleted after the objects, whatever the policy's mode). */
  folder: boolean;
  objects: number;
  bytes: number;
}

export interface KeptPrefix {
  prefix: string;
  namespace: string;
  name: string;
  reason: KeepReason;
  /** When it becomes eligible if nothing changes (retention or recent write), for reports. */
  eligibleAtMs?: number | undefined;
}

export interface GcPlan {
  deletions: PlannedDeletion[];
  kept: KeptPrefix[];
  objects: number;
  bytes: number;
}

/** `<ns>/<job>` of a job prefix directly under `root/`, or undefined for anything else. */
export function parseJobPrefix(root: string, prefix: string): { namespace: string; name: string } | undefined {
  if (!prefix.startsWith(`${root}/`) || !prefix.endsWith('/')) return undefined;
  const parts = prefix.slice(root.length + 1, -1).split('/');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return undefined;
  return { namespace: parts[0] as string, name: parts[1] as string };
}

/** The root a Deleting record's own prefix implies (`<root>/<namespace>/<name>/`), if it has that shape. */
export function recordedRoot(cp: Pick<GcCheckpointFacts, 'namespace' | 'name' | 'prefix'>): string | undefined {
  const tail = `/${cp.namespace}/${cp.name}/`;
  if (cp.namespace === '' || cp.name === '' || !cp.prefix.endsWith(tail)) return undefined;
  const root = cp.prefix.slice(0, -tail.length);
  if (root === '' || root.startsWith('/') || root.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    return undefined;
  }
  return root;
}

function underRoot(prefix: string, root: string): boolean {
  return prefix.startsWith(`${root}/`);
}

/** One is equal to, or a path-prefix of, the other (both end in `/`). */
function pathsOverlap(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

const slash = (p: string) => (p.endsWith('/') ? p : `${p}/`);

const ofCheckpoint = (cp: GcCheckpointFacts, u: PrefixUsage) => ({
  prefix: cp.prefix,
  namespace: cp.namespace,
  name: cp.name,
  kind: 'Checkpoint' as const,
  objects: u.objects,
  bytes: u.bytes,
});

export function planGc(input: PlanInput): GcPlan {
  const { now, policy } = input;
  const root = policy.rootPrefix;
  const kept: KeptPrefix[] = [];
  const candidates: (PlannedDeletion & { order: number })[] = [];
  const recorded = new Set<string>();
  const usageOf = (prefix: string): PrefixUsage => input.usage.get(prefix) ?? { objects: 0, bytes: 0 };
  const folderOf = (prefix: string) => input.folders?.get(prefix);
  const policies = input.policies ?? [];
  // overlap.ts's answer: a deeper root of another policy under or inside the prefix.
  const foreign = (prefix: string) => rootOwnerOf(policies, policy.name, policy.bucket, prefix) !== undefined;
  // Stricter: the place of another Checkpoint (any policy, any phase) inside, around or at the prefix.
  const recordedElsewhere = (namespace: string, name: string, bucket: string, prefix: string) =>
    (input.records ?? []).some(
      (r) =>
        !(r.namespace === namespace && r.name === name) &&
        r.bucket === bucket &&
        r.prefixes.some((x) => x !== '' && pathsOverlap(prefix, slash(x))),
    );
  // A resume from the record: any policy root but the recorded one overlapping the prefix keeps it.
  const rootNearRecord = (bucket: string, recRoot: string, prefix: string) =>
    policies.some((p) => {
      const b = p.spec?.storage?.bucket;
      const r = p.spec?.storage?.rootPrefix;
      if (typeof b !== 'string' || typeof r !== 'string' || r === recRoot) return false;
      return rootsOverlap({ bucket, rootPrefix: prefix.slice(0, -1) }, { bucket: b, rootPrefix: r });
    });
  const keep = (prefix: string, namespace: string, name: string, reason: KeepReason, eligibleAtMs?: number) =>
    kept.push({ prefix, namespace, name, reason, ...(eligibleAtMs !== undefined ? { eligibleAtMs } : {}) });

  for (const cp of input.checkpoints) {
    recorded.add(cp.prefix);
    const { prefix, namespace, name } = cp;
    const u = usageOf(prefix);
    const bucket = cp.bucket ?? policy.bucket;
    if (cp.phase === 'Deleting') {
      if (cp.retained) {
        keep(prefix, namespace, name, 'Retained');
        continue;
      }
      const recRoot = recordedRoot(cp);
      if (recRoot === undefined) {
        keep(prefix, namespace, name, 'PrefixMismatch');
        continue;
      }
      const fromRecord = input.resumeOnly === true || bucket !== policy.bucket || recRoot !== root;
      if (fromRecord ? rootNearRecord(bucket, recRoot, prefix) : foreign(prefix)) {
        keep(prefix, namespace, name, 'OtherPolicyRoot');
        continue;
      }
      if (recordedElsewhere(namespace, name, bucket, prefix)) {
        keep(prefix, namespace, name, 'OtherRecord');
        continue;
      }
      // A revoke at or after the fence (GC found a grant in GCS and removed it; times are whole seconds, so the same
      // second counts): wait the hold out again. The hold before the fence was checked when it was fenced.
      const revokedSinceFence =
        cp.revokedAtMs !== undefined && (cp.deletionStartMs === undefined || cp.revokedAtMs >= cp.deletionStartMs);
      if (revokedSinceFence && cp.revokedAtMs !== undefined && now - cp.revokedAtMs < policy.propagationHoldMs) {
        keep(prefix, namespace, name, 'PropagationHold', cp.revokedAtMs + policy.propagationHoldMs);
        continue;
      }
      candidates.push({
        ...ofCheckpoint(cp, fromRecord ? { objects: 0, bytes: 0 } : u),
        resume: true,
        bucket,
        root: recRoot,
        fromRecord,
        folder: !fromRecord && folderOf(prefix) !== undefined,
        order: Number.NEGATIVE_INFINITY,
      });
      continue;
    }
    if (input.resumeOnly) continue;
    const job = parseJobPrefix(root, prefix);
    if (!job || job.namespace !== namespace) {
      keep(prefix, namespace, name, 'NotUnderRoot');
      continue;
    }
    // The place is derived from policy + namespace + name, never taken from the spec.
    if (job.name !== name || bucket !== policy.bucket) {
      keep(prefix, namespace, name, 'PrefixMismatch');
      continue;
    }
    if (foreign(prefix)) {
      keep(prefix, namespace, name, 'OtherPolicyRoot');
      continue;
    }
    if (cp.retained) {
      keep(prefix, namespace, name, 'Retained');
      continue;
    }
    if (cp.phase !== 'Released') {
      keep(prefix, namespace, name, 'Bound');
      continue;
    }
    if (input.liveJob(namespace, name)) {
      keep(prefix, namespace, name, 'LiveJob');
      continue;
    }
    if (recordedElsewhere(namespace, name, bucket, prefix)) {
      keep(prefix, namespace, name, 'OtherRecord');
      continue;
    }
    if (cp.releasedAtMs === undefined || now - cp.releasedAtMs < policy.retentionMs) {
      keep(
        prefix,
        namespace,
        name,
        'RetentionNotPassed',
        cp.releasedAtMs === undefined ? undefined : cp.releasedAtMs + policy.retentionMs,
      );
      continue;
    }
    if (u.lastWriteMs !== undefined && now - u.lastWriteMs < policy.retentionMs) {
      keep(prefix, namespace, name, 'RecentWrite', u.lastWriteMs + policy.retentionMs);
      continue;
    }
    if (cp.grantsRemain) {
      keep(prefix, namespace, name, 'GrantRemains');
      continue;
    }
    const revokedAt = cp.revokedAtMs ?? cp.releasedAtMs;
    if (now - revokedAt < policy.propagationHoldMs) {
      keep(prefix, namespace, name, 'PropagationHold', revokedAt + policy.propagationHoldMs);
      continue;
    }
    candidates.push({
      ...ofCheckpoint(cp, u),
      resume: false,
      bucket,
      root,
      fromRecord: false,
      folder: folderOf(prefix) !== undefined,
      order: cp.releasedAtMs,
    });
  }

  // Prefixes without a record: those the scan found objects under, and empty managed folders.
  const unrecorded = new Map<string, PrefixUsage>();
  if (!input.resumeOnly) {
    for (const [prefix, u] of input.usage) unrecorded.set(prefix, u);
    for (const prefix of input.folders?.keys() ?? [])
      if (!unrecorded.has(prefix)) unrecorded.set(prefix, usageOf(prefix));
  }
  for (const [prefix, u] of unrecorded) {
    if (recorded.has(prefix)) continue;
    const job = parseJobPrefix(root, prefix);
    if (!job) continue; // the scan reports these; they are never touched
    if (foreign(prefix)) {
      keep(prefix, job.namespace, job.name, 'OtherPolicyRoot');
      continue;
    }
    if (input.namespaceExists(job.namespace)) {
      keep(prefix, job.namespace, job.name, 'NamespaceExists');
      continue;
    }
    if (recordedElsewhere(job.namespace, job.name, policy.bucket, prefix)) {
      keep(prefix, job.namespace, job.name, 'OtherRecord');
      continue;
    }
    // The clock: the newest object's update, and the folder's own (an empty folder has only that).
    const folder = folderOf(prefix);
    const clocks = [u.lastWriteMs, folder?.updatedMs].filter((t): t is number => t !== undefined);
    const lastMs = clocks.length > 0 ? Math.max(...clocks) : undefined;
    if (lastMs === undefined || now - lastMs < policy.retentionMs) {
      keep(
        prefix,
        job.namespace,
        job.name,
        'RecentWrite',
        lastMs === undefined ? undefined : lastMs + policy.retentionMs,
      );
      continue;
    }
    candidates.push({
      prefix,
      ...job,
      kind: 'NoRecord',
      resume: false,
      bucket: policy.bucket,
      root,
      fromRecord: false,
      folder: folder !== undefined,
      objects: u.objects,
      bytes: u.bytes,
      order: lastMs,
    });
  }

  candidates.sort((a, b) => a.order - b.order || (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  const deletions: PlannedDeletion[] = [];
  let objects = 0;
  let bytes = 0;
  for (const { order: _order, ...c } of candidates) {
    if (deletions.length >= policy.maxDeletesPerRun) {
      keep(c.prefix, c.namespace, c.name, 'OverLimit');
      continue;
    }
    deletions.push(c);
    objects += c.objects;
    bytes += c.bytes;
  }
  return { deletions, kept, objects, bytes };
}
