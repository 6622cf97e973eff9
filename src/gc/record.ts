// What the garbage collector reads from a Checkpoint record, in one place so that the record's shape can change
// (CONTRACTS: status.grants[] and status.revokedAt, added by the reconciler's rewrite) without touching the rest.
import { Annotations, type Checkpoint } from '../api/index.js';
import type { GcCheckpointFacts, RecordedPlace } from './plan.js';

interface RecordedGrants {
  grants?: { bucket?: string; prefix?: string; folder?: string }[] | undefined;
  grantedMembers?: string[] | undefined;
  revokedAt?: string | undefined;
}

/**
 * True when the record says a grant may still exist in GCS: any entry in status.grants (the record of intent), or
 * any member in status.grantedMembers (what was last read back). Only a record with neither counts as revoked.
 */
export function grantsRemain(cp: Checkpoint): boolean {
  const s = (cp.status ?? {}) as RecordedGrants;
  return (s.grants?.length ?? 0) > 0 || (s.grantedMembers?.length ?? 0) > 0;
}

/** When the last grant was removed (status.revokedAt), if the record says. */
export function revokedAtMs(cp: Checkpoint): number | undefined {
  const v = ((cp.status ?? {}) as RecordedGrants).revokedAt;
  const ms = v ? Date.parse(v) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

export function isRetained(cp: Checkpoint): boolean {
  return cp.metadata.annotations?.[Annotations.retain] === 'true';
}

function ms(v: unknown): number | undefined {
  if (v instanceof Date) return v.getTime();
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

export function checkpointFacts(cp: Checkpoint): GcCheckpointFacts {
  return {
    namespace: cp.metadata.namespace ?? '',
    name: cp.metadata.name ?? '',
    prefix: cp.spec.prefix,
    bucket: cp.spec.bucket,
    phase: cp.status?.phase,
    releasedAtMs: ms(cp.status?.releasedAt),
    retained: isRetained(cp),
    grantsRemain: grantsRemain(cp),
    revokedAtMs: revokedAtMs(cp),
    deletionStartMs: ms(cp.status?.deletion?.startTime),
  };
}

/** The places a Checkpoint records, per bucket: spec.prefix and each recorded grant's prefix and managed folder. */
export function recordedPlaces(cp: Checkpoint): RecordedPlace[] {
  const byBucket = new Map<string, string[]>();
  const add = (bucket: string | undefined, prefix: string | undefined) => {
    if (!bucket || !prefix) return;
    byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), prefix]);
  };
  add(cp.spec?.bucket, cp.spec?.prefix);
  for (const g of ((cp.status ?? {}) as RecordedGrants).grants ?? []) {
    add(g.bucket ?? cp.spec?.bucket, g.prefix);
    add(g.bucket ?? cp.spec?.bucket, g.folder);
  }
  const namespace = cp.metadata.namespace ?? '';
  const name = cp.metadata.name ?? '';
  return [...byBucket].map(([bucket, prefixes]) => ({ namespace, name, bucket, prefixes }));
}
