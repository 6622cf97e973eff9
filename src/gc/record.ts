// What the garbage collector reads from a Checkpoint record, in one place so that the record's shape can change
// (CONTRACTS: status.grants[] and status.revokedAt, added by the reconciler's rewrite) without touching the rest.
import { Annotations, type Checkpoint } from '../api/index.js';
import type { GcCheckpointFacts } from './plan.js';

interface RecordedGrants {
  grants?: unknown[] | undefined;
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
    phase: cp.status?.phase,
    releasedAtMs: ms(cp.status?.releasedAt),
    retained: isRetained(cp),
    grantsRemain: grantsRemain(cp),
    revokedAtMs: revokedAtMs(cp),
  };
}
