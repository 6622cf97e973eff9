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
  phase: 'Bound' | 'Released' | 'Deleting' | undefined;
  releasedAtMs?: number | undefined;
  /** Annotation tidemark.dev/retain: "true". */
  retained: boolean;
  /** The record says some grant may still exist in GCS (see grants.ts). */
  grantsRemain: boolean;
  /** When the last grant was revoked (status.revokedAt; the release time when the record has none). */
  revokedAtMs?: number | undefined;
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
  /** Roots of other policies on the same bucket; any prefix under one of them is never planned. */
  otherRoots: readonly string[];
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
  | 'OverLimit';

export interface PlannedDeletion {
  prefix: string;
  namespace: string;
  name: string;
  /** Checkpoint: fence, delete, drop the record. NoRecord: a prefix of a deleted namespace. */
  kind: 'Checkpoint' | 'NoRecord';
  /** Already Deleting: an earlier run was interrupted. */
  resume: boolean;
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

function underRoot(prefix: string, root: string): boolean {
  return prefix.startsWith(`${root}/`);
}

export function planGc(input: PlanInput): GcPlan {
  const { now, policy } = input;
  const root = policy.rootPrefix;
  const kept: KeptPrefix[] = [];
  const candidates: (PlannedDeletion & { order: number })[] = [];
  const recorded = new Set<string>();
  const usageOf = (prefix: string): PrefixUsage => input.usage.get(prefix) ?? { objects: 0, bytes: 0 };
  const foreign = (prefix: string) => input.otherRoots.some((r) => underRoot(prefix, r) || prefix === `${r}/`);
  const keep = (prefix: string, namespace: string, name: string, reason: KeepReason, eligibleAtMs?: number) =>
    kept.push({ prefix, namespace, name, reason, ...(eligibleAtMs !== undefined ? { eligibleAtMs } : {}) });

  for (const cp of input.checkpoints) {
    recorded.add(cp.prefix);
    const { prefix, namespace, name } = cp;
    const u = usageOf(prefix);
    const job = parseJobPrefix(root, prefix);
    if (!job || job.namespace !== namespace) {
      keep(prefix, namespace, name, 'NotUnderRoot');
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
    if (cp.phase === 'Deleting') {
      candidates.push({
        prefix,
        namespace,
        name,
        kind: 'Checkpoint',
        resume: true,
        objects: u.objects,
        bytes: u.bytes,
        order: Number.NEGATIVE_INFINITY,
      });
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
      prefix,
      namespace,
      name,
      kind: 'Checkpoint',
      resume: false,
      objects: u.objects,
      bytes: u.bytes,
      order: cp.releasedAtMs,
    });
  }

  for (const [prefix, u] of input.usage) {
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
    if (u.lastWriteMs === undefined || now - u.lastWriteMs < policy.retentionMs) {
      keep(
        prefix,
        job.namespace,
        job.name,
        'RecentWrite',
        u.lastWriteMs === undefined ? undefined : u.lastWriteMs + policy.retentionMs,
      );
      continue;
    }
    candidates.push({
      prefix,
      ...job,
      kind: 'NoRecord',
      resume: false,
      objects: u.objects,
      bytes: u.bytes,
      order: u.lastWriteMs,
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
