// A Checkpoint's status derived from facts the reconciler gathered. Pure: the caller passes `now`.
//
// Conditions (metav1.Condition; lastTransitionTime moves only when a condition's status changes):
// - Bound:         True/JobPresent while a live job claims it; False/JobGone, False/Orphaned, False/Deleting.
// - AccessGranted: True/Granted when every desired member holds the grant (read back), True/ExtraMembers when
//                  members Tidemark no longer wants still hold it; False/GrantPending while members are missing;
//                  when released: False/Revoked once nothing is granted, True/RevokePending until then; a
//                  problem's own reason (AccessDenied, ServiceAccountNotAllowed, PrincipalLimit, ...) when one is
//                  reported.
// - Ready:         True/CheckpointReady when Bound, granted, and the policy's propagationHold has passed since
//                  grantedAt; otherwise False with the reason that blocks it (GrantPending, PropagationHold, a
//                  problem's reason, JobGone, Orphaned, Deleting).
// Reason names follow src/api's Reasons where it has one.
// Timestamps are RFC 3339 with whole seconds (as the API server stores them, so a re-derived status compares
// equal); grantedAt is rounded UP to the second so the hold is never cut short, and it restarts on every bind and
// whenever a desired member is (re)granted.
import {
  CheckpointConditions as C,
  type CheckpointPhase,
  type CheckpointStatus,
  type Condition,
  Reasons as R,
} from '../api/index.js';
import { cmp } from '../policy/selector.js';
import type { GrantRecord } from './grants.js';

export type { CheckpointPhase, CheckpointStatus, Condition };
export type ConditionStatus = Condition['status'];

/** Reasons this module uses that src/api does not define (yet). */
export const ExtraReasons = {
  /** AccessGranted=True: every desired member holds the grant, and members no longer wanted still do. */
  ExtraMembers: 'ExtraMembers',
  /** AccessGranted=True/Unknown: the job is gone and its grant is still to be revoked. */
  RevokePending: 'RevokePending',
  /** AccessGranted=False/Ready=False: the job's identities resolve to no IAM member. */
  NoMembers: 'NoMembers',
} as const;

export type Claim =
  /** A live job claims the Checkpoint; `job` names it for messages, e.g. "SparkApplication team-a/ingest". */
  | { kind: 'Bound'; job: string }
  /** No live job claims it. Orphaned: created by the resync for a prefix that had no Checkpoint. */
  | { kind: 'Released'; reason: 'JobGone' | 'Orphaned'; message?: string | undefined }
  /** Fenced for deletion by the GC. */
  | { kind: 'Deleting' };

export interface CheckpointFacts {
  /** metadata.generation of the Checkpoint. */
  generation: number;
  /** The status as it is now (undefined for a new Checkpoint). */
  previous?: CheckpointStatus | undefined;
  claim: Claim;
  /** The members the job should hold (Bound); ignored otherwise (a released Checkpoint wants none). */
  desiredMembers: readonly string[];
  /**
   * The members GCS holds for this job after this reconcile: read back, or exactly what a successful write set.
   * Undefined when unknown (not read, or the write failed): the previous grantedMembers are kept.
   */
  observedMembers?: readonly string[] | undefined;
  /**
   * Members this reconcile had to add to GCS (e.g. merge `added`, or the folder compare's `missing`): a member
   * re-added after drift starts a new propagation hold even if the previous status said it was granted.
   */
  addedMembers?: readonly string[] | undefined;
  /** A problem the user must fix (or a failure worth showing); makes AccessGranted and Ready False. */
  problem?: { reason: string; message: string } | undefined;
  /**
   * A grant change handed to a backend that has not written it yet (BucketCondition's write slot): said in the
   * GrantPending message while members are missing.
   */
  pending?: string | undefined;
  /** The policy's propagationHold in milliseconds. */
  holdMs: number;
  /**
   * The record of what may be granted (status.grants) after this reconcile; undefined keeps the previous one.
   * revokedAt is set when it becomes empty, cleared while it is not.
   */
  grants?: readonly GrantRecord[] | undefined;
  now: Date;
}

export interface DerivedStatus {
  status: CheckpointStatus;
  ready: boolean;
  /** When to reconcile again because the propagation hold ends then. */
  requeueAt?: Date | undefined;
}

const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const MAX_MESSAGE = 32_768;

/** RFC 3339 with whole seconds, rounded down. */
export function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

function rfc3339Ceil(d: Date): string {
  const ms = d.getTime();
  return rfc3339(new Date(Math.ceil(ms / 1000) * 1000));
}

/** meta.SetStatusCondition: replace by type; keep lastTransitionTime when the status did not change. */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  if (!REASON.test(next.reason)) throw new Error(`condition ${next.type}: reason "${next.reason}" is not CamelCase`);
  const message = next.message.length > MAX_MESSAGE ? `${next.message.slice(0, MAX_MESSAGE - 3)}...` : next.message;
  const out = [...conditions];
  const i = out.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? out[i] : undefined;
  const cond: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message,
    lastTransitionTime: prev && prev.status === next.status ? prev.lastTransitionTime : rfc3339(now),
    ...(next.observedGeneration !== undefined ? { observedGeneration: next.observedGeneration } : {}),
  };
  if (i >= 0) out[i] = cond;
  else out.push(cond);
  return out;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

function sortedUnique(members: readonly string[]): string[] {
  return [...new Set(members)].sort(cmp);
}

function list(members: readonly string[]): string {
  return members.length <= 3 ? members.join(', ') : `${members.slice(0, 3).join(', ')} and ${members.length - 3} more`;
}

function secondsLabel(ms: number): string {
  return `${Math.ceil(ms / 1000)}s`;
}

/** The Checkpoint status the facts call for. */
export function deriveCheckpointStatus(f: CheckpointFacts): DerivedStatus {
  const prev = f.previous ?? {};
  const now = f.now;
  const gen = f.generation;
  const phase: CheckpointPhase =
    f.claim.kind === 'Bound' ? 'Bound' : f.claim.kind === 'Deleting' ? 'Deleting' : 'Released';
  const observed = f.observedMembers !== undefined ? sortedUnique(f.observedMembers) : undefined;
  const granted = observed ?? sortedUnique(prev.grantedMembers ?? []);
  const grantedSet = new Set(granted);
  const desired = phase === 'Bound' ? sortedUnique(f.desiredMembers) : [];
  const missing = desired.filter((m) => !grantedSet.has(m));
  const extra = granted.filter((m) => !desired.includes(m));
  const known = observed !== undefined || prev.grantedMembers !== undefined;

  let conditions = [...(prev.conditions ?? [])];
  const set = (type: string, status: ConditionStatus, reason: string, message: string) => {
    conditions = setCondition(conditions, { type, status, reason, message, observedGeneration: gen }, now);
  };

  // Timestamps.
  const boundAt =
    phase === 'Bound' ? (prev.phase === 'Bound' && prev.boundAt ? prev.boundAt : rfc3339(now)) : prev.boundAt;
  const releasedAt =
    phase === 'Bound'
      ? undefined
      : prev.phase !== undefined && prev.phase !== 'Bound' && prev.releasedAt
        ? prev.releasedAt
        : rfc3339(now);
  let grantedAt: string | undefined;
  if (phase === 'Bound') {
    // The hold runs from the moment the last desired member was granted. It restarts on a new bind (the grant
    // was revoked on release, or should have been: never trust a grant remembered from before), on a member not
    // granted before, and on a member this reconcile had to add again.
    const added = new Set(f.addedMembers ?? []);
    const prevHadAll =
      prev.phase === 'Bound' &&
      prev.grantedAt !== undefined &&
      desired.length > 0 &&
      desired.every((m) => (prev.grantedMembers ?? []).includes(m) && !added.has(m));
    if (missing.length === 0 && desired.length > 0 && known) grantedAt = prevHadAll ? prev.grantedAt : rfc3339Ceil(now);
  } else if (granted.length > 0) {
    grantedAt = prev.grantedAt;
  }

  // Bound.
  if (f.claim.kind === 'Bound') set(C.Bound, 'True', R.JobPresent, `Claimed by ${f.claim.job}.`);
  else if (f.claim.kind === 'Released') {
    const msg =
      f.claim.message ??
      (f.claim.reason === 'Orphaned'
        ? 'Found under the policy root with no Checkpoint; kept as released so it is deleted only after a full retention period.'
        : 'No live job claims this checkpoint; its data is kept for the retention period.');
    set(C.Bound, 'False', f.claim.reason === 'Orphaned' ? R.Orphaned : R.JobGone, msg);
  } else set(C.Bound, 'False', R.Deleting, 'Access is revoked and the data is being deleted.');

  // AccessGranted and Ready.
  let ready = false;
  let requeueAt: Date | undefined;
  const p = f.problem;
  if (p && !REASON.test(p.reason)) throw new Error(`problem reason "${p.reason}" is not CamelCase`);
  if (phase === 'Bound') {
    if (p) {
      set(C.AccessGranted, 'False', p.reason, p.message);
      set(C.Ready, 'False', p.reason, p.message);
    } else if (desired.length === 0) {
      const msg = 'The job resolves to no IAM member to grant.';
      set(C.AccessGranted, 'False', ExtraReasons.NoMembers, msg);
      set(C.Ready, 'False', ExtraReasons.NoMembers, msg);
    } else if (!known) {
      const queued = f.pending ? ` ${f.pending}` : '';
      set(C.AccessGranted, 'Unknown', R.GrantPending, `The grant has not been applied or read back yet.${queued}`);
      set(C.Ready, 'False', R.GrantPending, `Waiting for the grant to be applied and read back.${queued}`);
    } else if (missing.length > 0) {
      const msg = `Waiting for ${missing.length} member(s) to be granted: ${list(missing)}.${f.pending ? ` ${f.pending}` : ''}`;
      set(C.AccessGranted, 'False', R.GrantPending, msg);
      set(C.Ready, 'False', R.GrantPending, msg);
    } else {
      if (extra.length > 0) {
        set(C.AccessGranted, 'True', ExtraReasons.ExtraMembers, `Granted; still to revoke from ${list(extra)}.`);
      } else {
        set(C.AccessGranted, 'True', R.Granted, `Granted to ${list(desired)}.`);
      }
      const since = Date.parse(grantedAt as string);
      const holdEnd = since + f.holdMs;
      if (now.getTime() < holdEnd) {
        requeueAt = new Date(holdEnd);
        set(
          C.Ready,
          'False',
          R.PropagationHold,
          `Granted at ${grantedAt}; waiting ${secondsLabel(holdEnd - now.getTime())} more for IAM to propagate (propagationHold).`,
        );
      } else {
        ready = true;
        set(C.Ready, 'True', R.CheckpointReady, 'Access is granted and propagated; the job may start.');
      }
    }
  } else {
    const notReady =
      f.claim.kind === 'Deleting'
        ? R.Deleting
        : f.claim.kind === 'Released' && f.claim.reason === 'Orphaned'
          ? R.Orphaned
          : R.JobGone;
    if (p) set(C.AccessGranted, 'False', p.reason, p.message);
    else if (known && granted.length === 0) set(C.AccessGranted, 'False', R.Revoked, 'No member holds access.');
    else if (known) set(C.AccessGranted, 'True', ExtraReasons.RevokePending, `Still to revoke from ${list(granted)}.`);
    else
      set(C.AccessGranted, 'Unknown', ExtraReasons.RevokePending, 'Access has not been read back since the release.');
    set(
      C.Ready,
      'False',
      notReady,
      phase === 'Deleting' ? 'The checkpoint is being deleted.' : 'No live job claims this checkpoint.',
    );
  }

  const status: CheckpointStatus = { phase, observedGeneration: gen, conditions };
  if (boundAt !== undefined) status.boundAt = boundAt;
  if (releasedAt !== undefined) status.releasedAt = releasedAt;
  if (grantedAt !== undefined) status.grantedAt = grantedAt;
  if (prev.lastWriteTime !== undefined) status.lastWriteTime = prev.lastWriteTime;
  // Written by the garbage collector (src/gc): kept as they are.
  if (prev.usage !== undefined) status.usage = prev.usage;
  if (phase === 'Deleting' && prev.deletion !== undefined) status.deletion = prev.deletion;
  if (known) status.grantedMembers = granted;
  const grants = f.grants !== undefined ? f.grants.map((g) => ({ ...g, members: [...g.members] })) : prev.grants;
  if (grants !== undefined) status.grants = grants;
  const revokedAt = revokedAtOf(prev, grants, phase, now);
  if (revokedAt !== undefined) status.revokedAt = revokedAt;
  return { status, ready, requeueAt };
}

/**
 * When the last grant went: set when the record becomes empty (or, for a record written before revokedAt existed,
 * when a Checkpoint that is not Bound is first seen with nothing granted), cleared while anything is granted.
 */
function revokedAtOf(
  prev: CheckpointStatus,
  grants: readonly GrantRecord[] | undefined,
  phase: CheckpointPhase,
  now: Date,
): string | undefined {
  if (grants === undefined) return prev.revokedAt;
  if (grants.length > 0) return undefined;
  const prevHad = prev.grants !== undefined ? prev.grants.length > 0 : (prev.grantedMembers ?? []).length > 0;
  if (prevHad) return rfc3339(now);
  return prev.revokedAt ?? (phase !== 'Bound' ? rfc3339(now) : undefined);
}
