import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CheckpointFacts,
  type CheckpointStatus,
  type Condition,
  deriveCheckpointStatus,
  findCondition,
  rfc3339,
  setCondition,
} from '../../src/checkpoint/status.js';

const A = 'serviceAccount:a@p.iam.gserviceaccount.com';
const B = 'serviceAccount:b@p.iam.gserviceaccount.com';
const T0 = new Date('2025-03-01T10:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const HOLD = 60_000;

function facts(over: Partial<CheckpointFacts>): CheckpointFacts {
  return {
    generation: 1,
    claim: { kind: 'Bound', job: 'SparkApplication team-a/ingest' },
    desiredMembers: [A],
    holdMs: HOLD,
    now: T0,
    ...over,
  };
}

function cond(status: CheckpointStatus, type: string): Pick<Condition, 'status' | 'reason'> | undefined {
  const c = findCondition(status.conditions, type);
  return c && { status: c.status, reason: c.reason };
}

function summary(status: CheckpointStatus) {
  return {
    phase: status.phase,
    Bound: cond(status, 'Bound'),
    AccessGranted: cond(status, 'AccessGranted'),
    Ready: cond(status, 'Ready'),
  };
}

describe('deriveCheckpointStatus', () => {
  const cases: { reason: string; f: CheckpointFacts; want: ReturnType<typeof summary>; ready?: boolean }[] = [
    {
      reason: 'a new Checkpoint before any grant is pending',
      f: facts({}),
      want: {
        phase: 'Bound',
        Bound: { status: 'True', reason: 'JobPresent' },
        AccessGranted: { status: 'Unknown', reason: 'GrantPending' },
        Ready: { status: 'False', reason: 'GrantPending' },
      },
    },
    {
      reason: 'grant read back but the hold has not passed',
      f: facts({ observedMembers: [A] }),
      want: {
        phase: 'Bound',
        Bound: { status: 'True', reason: 'JobPresent' },
        AccessGranted: { status: 'True', reason: 'Granted' },
        Ready: { status: 'False', reason: 'PropagationHold' },
      },
    },
    {
      reason: 'a member missing from the read-back policy',
      f: facts({ desiredMembers: [A, B], observedMembers: [A] }),
      want: {
        phase: 'Bound',
        Bound: { status: 'True', reason: 'JobPresent' },
        AccessGranted: { status: 'False', reason: 'GrantPending' },
        Ready: { status: 'False', reason: 'GrantPending' },
      },
    },
    {
      reason: 'a problem the user must fix blocks Ready with its own reason',
      f: facts({ observedMembers: [A], problem: { reason: 'ServiceAccountNotAllowed', message: 'not allowed' } }),
      want: {
        phase: 'Bound',
        Bound: { status: 'True', reason: 'JobPresent' },
        AccessGranted: { status: 'False', reason: 'ServiceAccountNotAllowed' },
        Ready: { status: 'False', reason: 'ServiceAccountNotAllowed' },
      },
    },
    {
      reason: 'no member to grant',
      f: facts({ desiredMembers: [], observedMembers: [] }),
      want: {
        phase: 'Bound',
        Bound: { status: 'True', reason: 'JobPresent' },
        AccessGranted: { status: 'False', reason: 'NoMembers' },
        Ready: { status: 'False', reason: 'NoMembers' },
      },
    },
    {
      reason: 'released with grants still in place',
      f: facts({ claim: { kind: 'Released', reason: 'JobGone' }, observedMembers: [A] }),
      want: {
        phase: 'Released',
        Bound: { status: 'False', reason: 'JobGone' },
        AccessGranted: { status: 'True', reason: 'RevokePending' },
        Ready: { status: 'False', reason: 'JobGone' },
      },
    },
    {
      reason: 'released and revoked',
      f: facts({ claim: { kind: 'Released', reason: 'JobGone' }, observedMembers: [] }),
      want: {
        phase: 'Released',
        Bound: { status: 'False', reason: 'JobGone' },
        AccessGranted: { status: 'False', reason: 'Revoked' },
        Ready: { status: 'False', reason: 'JobGone' },
      },
    },
    {
      reason: 'an orphan found by the resync',
      f: facts({ claim: { kind: 'Released', reason: 'Orphaned' }, observedMembers: [] }),
      want: {
        phase: 'Released',
        Bound: { status: 'False', reason: 'Orphaned' },
        AccessGranted: { status: 'False', reason: 'Revoked' },
        Ready: { status: 'False', reason: 'Orphaned' },
      },
    },
    {
      reason: 'fenced for deletion',
      f: facts({ claim: { kind: 'Deleting' }, observedMembers: [] }),
      want: {
        phase: 'Deleting',
        Bound: { status: 'False', reason: 'Deleting' },
        AccessGranted: { status: 'False', reason: 'Revoked' },
        Ready: { status: 'False', reason: 'Deleting' },
      },
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const d = deriveCheckpointStatus(c.f);
      expect(summary(d.status)).toEqual(c.want);
      expect(d.ready).toBe(false);
      for (const k of d.status.conditions ?? []) expect(k.observedGeneration).toBe(1);
    });
  }

  it('walks a job through pending → hold → ready, requeueing at the end of the hold', () => {
    const first = deriveCheckpointStatus(facts({ now: at(0) }));
    expect(first.status.boundAt).toBe('2025-03-01T10:00:00Z');
    const granted = deriveCheckpointStatus(facts({ previous: first.status, observedMembers: [A], now: at(5.2) }));
    expect(granted.status.grantedAt).toBe('2025-03-01T10:00:06Z'); // rounded up: the hold is never cut short
    expect(granted.requeueAt).toEqual(at(66));
    expect(granted.ready).toBe(false);
    const still = deriveCheckpointStatus(facts({ previous: granted.status, observedMembers: [A], now: at(65.9) }));
    expect(still.ready).toBe(false);
    expect(still.status.grantedAt).toBe(granted.status.grantedAt);
    const ready = deriveCheckpointStatus(facts({ previous: still.status, observedMembers: [A], now: at(66) }));
    expect(ready.ready).toBe(true);
    expect(ready.requeueAt).toBeUndefined();
    expect(summary(ready.status).Ready).toEqual({ status: 'True', reason: 'CheckpointReady' });
    expect(ready.status.boundAt).toBe(first.status.boundAt);
  });

  it('restarts the hold when a new member is granted, but not when one is removed', () => {
    const ready = deriveCheckpointStatus(
      facts({
        desiredMembers: [A, B],
        observedMembers: [A, B],
        previous: { phase: 'Bound', grantedAt: rfc3339(at(-600)), grantedMembers: [A, B] },
        now: at(0),
      }),
    );
    expect(ready.ready).toBe(true);
    const shrunk = deriveCheckpointStatus(
      facts({ desiredMembers: [A], observedMembers: [A], previous: ready.status, now: at(1) }),
    );
    expect(shrunk.ready).toBe(true);
    expect(shrunk.status.grantedAt).toBe(ready.status.grantedAt);
    const grown = deriveCheckpointStatus(
      facts({
        desiredMembers: [A, 'serviceAccount:c@p.iam.gserviceaccount.com'],
        observedMembers: [A, 'serviceAccount:c@p.iam.gserviceaccount.com'],
        previous: shrunk.status,
        now: at(2),
      }),
    );
    expect(grown.ready).toBe(false);
    expect(summary(grown.status).Ready?.reason).toBe('PropagationHold');
  });

  it('keeps Ready while extra members still wait to be revoked, and says so', () => {
    const d = deriveCheckpointStatus(
      facts({
        observedMembers: [A, B],
        previous: { phase: 'Bound', grantedAt: rfc3339(at(-600)), grantedMembers: [A, B] },
      }),
    );
    expect(d.ready).toBe(true);
    expect(summary(d.status).AccessGranted).toEqual({ status: 'True', reason: 'ExtraMembers' });
    expect(d.status.grantedMembers).toEqual([A, B]);
  });

  it('keeps what is known when nothing was read back this time', () => {
    const prev: CheckpointStatus = { phase: 'Bound', grantedAt: rfc3339(at(-600)), grantedMembers: [A] };
    const d = deriveCheckpointStatus(facts({ previous: prev, observedMembers: undefined }));
    expect(d.ready).toBe(true);
    expect(d.status.grantedMembers).toEqual([A]);
  });

  it('records releasedAt once, clears it on rebind, and re-holds after a revoke', () => {
    const bound: CheckpointStatus = {
      phase: 'Bound',
      boundAt: rfc3339(at(-900)),
      grantedAt: rfc3339(at(-600)),
      grantedMembers: [A],
    };
    const rel1 = deriveCheckpointStatus(
      facts({ claim: { kind: 'Released', reason: 'JobGone' }, previous: bound, now: at(0) }),
    );
    expect(rel1.status.releasedAt).toBe(rfc3339(at(0)));
    expect(rel1.status.boundAt).toBe(bound.boundAt);
    const rel2 = deriveCheckpointStatus(
      facts({
        claim: { kind: 'Released', reason: 'JobGone' },
        previous: rel1.status,
        observedMembers: [],
        now: at(30),
      }),
    );
    expect(rel2.status.releasedAt).toBe(rfc3339(at(0)));
    expect(rel2.status.grantedAt).toBeUndefined();
    const back = deriveCheckpointStatus(facts({ previous: rel2.status, observedMembers: [A], now: at(100) }));
    expect(back.status.releasedAt).toBeUndefined();
    expect(back.status.boundAt).toBe(rfc3339(at(100)));
    expect(back.ready).toBe(false);
    expect(summary(back.status).Ready?.reason).toBe('PropagationHold');
  });

  it('holds again on rebind even if the revoke had not happened (a remembered grant is not trusted)', () => {
    const rel = deriveCheckpointStatus(
      facts({
        claim: { kind: 'Released', reason: 'JobGone' },
        previous: { phase: 'Bound', grantedAt: rfc3339(at(-600)), grantedMembers: [A] },
        observedMembers: [A],
      }),
    );
    const back = deriveCheckpointStatus(facts({ previous: rel.status, observedMembers: [A], now: at(1) }));
    expect(back.ready).toBe(false);
    expect(summary(back.status).Ready?.reason).toBe('PropagationHold');
  });

  it('holds again when a member had to be re-added after drift', () => {
    const prev: CheckpointStatus = { phase: 'Bound', grantedAt: rfc3339(at(-600)), grantedMembers: [A] };
    expect(deriveCheckpointStatus(facts({ previous: prev, observedMembers: [A], now: at(0) })).ready).toBe(true);
    const repaired = deriveCheckpointStatus(
      facts({ previous: prev, observedMembers: [A], addedMembers: [A], now: at(0) }),
    );
    expect(repaired.ready).toBe(false);
    expect(repaired.status.grantedAt).toBe(rfc3339(at(0)));
  });

  it('keeps lastWriteTime (set by others) and moves lastTransitionTime only on status changes', () => {
    const s1 = deriveCheckpointStatus(facts({ now: at(0) })).status;
    const s2 = deriveCheckpointStatus(facts({ previous: { ...s1, lastWriteTime: 'x' }, now: at(10) })).status;
    expect(s2.lastWriteTime).toBe('x');
    expect(findCondition(s2.conditions, 'Ready')?.lastTransitionTime).toBe(rfc3339(at(0)));
    const s3 = deriveCheckpointStatus(facts({ previous: s2, observedMembers: [A], now: at(20) })).status;
    expect(findCondition(s3.conditions, 'Ready')?.lastTransitionTime).toBe(rfc3339(at(0))); // still False
    expect(findCondition(s3.conditions, 'AccessGranted')?.lastTransitionTime).toBe(rfc3339(at(20)));
  });

  it('is a fixed point: deriving again from its own output with the same facts changes nothing (property)', () => {
    const members = fc.uniqueArray(fc.constantFrom(A, B, 'serviceAccount:c@p.iam.gserviceaccount.com'), {
      maxLength: 3,
    });
    const claim = fc.constantFrom<CheckpointFacts['claim']>(
      { kind: 'Bound', job: 'SparkApplication ns/j' },
      { kind: 'Released', reason: 'JobGone' },
      { kind: 'Released', reason: 'Orphaned' },
      { kind: 'Deleting' },
    );
    fc.assert(
      fc.property(
        claim,
        members,
        fc.option(members, { nil: undefined }),
        fc.integer({ min: 0, max: 200 }),
        (c, desired, observed, s) => {
          const f = facts({ claim: c, desiredMembers: desired, observedMembers: observed, now: at(s) });
          const once = deriveCheckpointStatus(f);
          const twice = deriveCheckpointStatus({ ...f, previous: once.status });
          expect(twice.status).toEqual(once.status);
          expect(twice.ready).toBe(once.ready);
          if (once.ready) {
            expect(c.kind).toBe('Bound');
            expect(desired.every((m) => (observed ?? []).includes(m))).toBe(true);
          }
        },
      ),
    );
  });

  it('refuses a problem reason that is not CamelCase', () => {
    expect(() => deriveCheckpointStatus(facts({ problem: { reason: 'not ok', message: 'x' } }))).toThrow(/CamelCase/);
  });
});

describe('setCondition', () => {
  it('adds, replaces by type and truncates huge messages', () => {
    let cs = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'x' }, T0);
    cs = setCondition(cs, { type: 'Bound', status: 'True', reason: 'B', message: 'y'.repeat(40_000) }, at(1));
    cs = setCondition(cs, { type: 'Ready', status: 'True', reason: 'C', message: 'z' }, at(2));
    expect(cs.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime])).toEqual([
      ['Ready', 'True', 'C', rfc3339(at(2))],
      ['Bound', 'True', 'B', rfc3339(at(1))],
    ]);
    expect(cs[1]?.message.length).toBe(32_768);
  });
});
