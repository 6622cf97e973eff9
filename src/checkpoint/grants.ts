// The record of what Tidemark applied in GCS for one Checkpoint (status.grants), and the pure decisions over it.
//
// The record is the truth for revocation: every grant that MAY exist is in it, because an entry (or the members
// added to one) is written to status BEFORE the GCS change that creates the grant, and narrowed only after the
// change was read back. Revocation works from the record alone, never from spec or policy, so a role, mode or
// member change can never leave a grant behind: the old entry stays until its revocation was read back.
import type { AccessMode } from '../access/backend.js';
import { jobCondition } from '../access/condition.js';
import { managedFolderName } from '../access/folder-policy.js';
import type { Checkpoint, CheckpointStatusGrants } from '../api/index.js';
import { CheckpointDefaults } from '../api/index.js';
import { cmp } from '../policy/selector.js';

export type GrantRecord = CheckpointStatusGrants;

export interface JobName {
  namespace: string;
  name: string;
}

/** The grant Tidemark makes for a job at a place: the folder (ManagedFolder) or the condition (BucketCondition). */
export function grantFor(
  place: { bucket: string; prefix: string },
  mode: AccessMode,
  role: string,
  members: readonly string[],
  job: JobName,
): GrantRecord {
  const g: GrantRecord = { mode, role, bucket: place.bucket, prefix: place.prefix, members: sortedUnique(members) };
  if (mode === 'ManagedFolder') g.folder = managedFolderName(place.prefix);
  else {
    const c = jobCondition(place.bucket, place.prefix, job);
    g.condition = { title: c.title, expression: c.expression };
  }
  return g;
}

/** Two entries describe the same grant (the same binding in GCS) when everything but the members is equal. */
export function grantKey(g: GrantRecord): string {
  return JSON.stringify([g.mode, g.role, g.bucket, g.prefix, g.folder ?? null, g.condition?.expression ?? null]);
}

export function sortedUnique(members: readonly string[]): string[] {
  return [...new Set(members)].sort(cmp);
}

/**
 * Whether an entry can only be this job's own grant: its prefix is `<something>/<namespace>/<name>/` and its folder
 * or condition is exactly what Tidemark builds for that prefix and job. An entry that is not (the record is written
 * by the controller alone, but never trust a Checkpoint) is ignored: nothing in GCS is touched for it.
 */
export function belongsTo(g: GrantRecord, job: JobName): boolean {
  if (!g.prefix.endsWith(`/${job.namespace}/${job.name}/`) || g.prefix.startsWith('/')) return false;
  try {
    const expected = grantFor(g, g.mode, g.role, [], job);
    return (
      g.folder === expected.folder &&
      g.condition?.expression === expected.condition?.expression &&
      g.condition?.title === expected.condition?.title
    );
  } catch {
    return false;
  }
}

/**
 * The record as written before any change: status.grants when present; for a Checkpoint written before the
 * record existed, what its spec and grantedMembers say (only when the caller has verified the spec's place).
 */
export function recordOf(cp: Checkpoint, placeVerified: boolean): GrantRecord[] {
  const job = { namespace: cp.metadata.namespace ?? '', name: cp.metadata.name ?? '' };
  if (cp.status?.grants !== undefined) return cp.status.grants.map((g) => ({ ...g, members: [...g.members] }));
  const legacy = cp.status?.grantedMembers ?? [];
  if (!placeVerified || legacy.length === 0) return [];
  try {
    return [
      grantFor(
        cp.spec,
        cp.spec.access?.mode ?? CheckpointDefaults.access.mode,
        cp.spec.access?.role ?? CheckpointDefaults.access.role,
        legacy,
        job,
      ),
    ];
  } catch {
    return [];
  }
}

/**
 * The record to write BEFORE applying `desired`: `desired`'s members added to its entry (or a new entry). Returns
 * undefined when the record already covers it (no write needed).
 */
export function withIntent(record: readonly GrantRecord[], desired: GrantRecord): GrantRecord[] | undefined {
  const k = grantKey(desired);
  const i = record.findIndex((g) => grantKey(g) === k);
  if (i < 0) return desired.members.length > 0 ? [...record, { ...desired }] : undefined;
  const have = record[i] as GrantRecord;
  const missing = desired.members.filter((m) => !have.members.includes(m));
  if (missing.length === 0) return undefined;
  const out = [...record];
  out[i] = { ...have, members: sortedUnique([...have.members, ...missing]) };
  return out;
}

/**
 * The record after changes were read back: each entry's members replaced by what GCS showed for it (`shown`, by
 * grantKey); entries left with no member are dropped. Entries with no read-back keep their members.
 */
export function narrowed(record: readonly GrantRecord[], shown: ReadonlyMap<string, readonly string[]>): GrantRecord[] {
  const out: GrantRecord[] = [];
  for (const g of record) {
    const s = shown.get(grantKey(g));
    const members = s === undefined ? g.members : sortedUnique(s);
    if (members.length > 0) out.push({ ...g, members });
  }
  return out;
}

/** A short description of a grant for Events. */
export function describeGrant(g: GrantRecord): string {
  const where =
    g.mode === 'ManagedFolder'
      ? `folder gs://${g.bucket}/${g.folder}`
      : `gs://${g.bucket}/${g.prefix} (condition ${g.condition?.title})`;
  return `${g.role} on ${where}`;
}
