// The GC planner: a table of cases, each with the reason it holds.
import { describe, expect, test } from 'vitest';
import { type GcCheckpointFacts, type PlanInput, parseJobPrefix, planGc } from '../../../src/gc/plan.js';
import { cp, decide, H, input, NOW, nestedRoot, policy } from './plan-fixtures.js';

describe('planGc: Checkpoints', () => {
  test.each<[string, GcCheckpointFacts, Partial<PlanInput>, string]>([
    ['released longer ago than retention, no writes: stale', cp('a'), {}, 'delete'],
    ['Orphaned is Released too', cp('a'), {}, 'delete'],
    [
      'released exactly retention ago: stale (not a second later)',
      cp('a', { releasedAtMs: NOW - 24 * H }),
      {},
      'delete',
    ],
    ['released one ms short of retention: kept', cp('a', { releasedAtMs: NOW - 24 * H + 1 }), {}, 'RetentionNotPassed'],
    ['no releasedAt on record: kept', cp('a', { releasedAtMs: undefined }), {}, 'RetentionNotPassed'],
    ['Bound: never', cp('a', { phase: 'Bound' }), {}, 'Bound'],
    ['no phase yet: never', cp('a', { phase: undefined }), {}, 'Bound'],
    ['retained: never', cp('a', { retained: true }), {}, 'Retained'],
    ['retained while Deleting: stops', cp('a', { phase: 'Deleting', retained: true }), {}, 'Retained'],
    ['a live job of that name: kept', cp('a'), { liveJob: () => true }, 'LiveJob'],
    [
      'a write within retention (idle stream): kept',
      cp('a'),
      { usage: new Map([['ckpt/prod/ns/a/', { objects: 3, bytes: 30, lastWriteMs: NOW - 23 * H }]]) },
      'RecentWrite',
    ],
    [
      'last write exactly retention ago: stale',
      cp('a'),
      { usage: new Map([['ckpt/prod/ns/a/', { objects: 3, bytes: 30, lastWriteMs: NOW - 24 * H }]]) },
      'delete',
    ],
    ['a grant remains on record: kept', cp('a', { grantsRemain: true }), {}, 'GrantRemains'],
    ['revoked less than the propagation hold ago: kept', cp('a', { revokedAtMs: NOW - 30_000 }), {}, 'PropagationHold'],
    [
      'Deleting (interrupted run): resumed whatever its age',
      cp('a', { phase: 'Deleting', releasedAtMs: NOW }),
      {},
      'delete',
    ],
    ['prefix outside the root: never', cp('a', { prefix: 'other/ns/a/' }), {}, 'NotUnderRoot'],
    ['prefix of another namespace: never', cp('a', { prefix: 'ckpt/prod/other/a/' }), {}, 'NotUnderRoot'],
    [
      'under another policy root nested in ours: never',
      cp('a'),
      { policies: nestedRoot('ckpt/prod/ns') },
      'OtherPolicyRoot',
    ],
  ])('%s', (_why, c, o, expected) => {
    const [only] = decide({ ...o, checkpoints: [c] });
    expect(only).toBe(`${c.prefix} ${expected}`);
  });
});

describe('planGc: prefixes without a Checkpoint', () => {
  const u = (lastWriteMs: number | undefined) => ({ objects: 2, bytes: 20, lastWriteMs });
  test.each<[string, Partial<PlanInput>, string]>([
    ['namespace gone, last write older than retention: stale', { namespaceExists: () => false }, 'delete'],
    ['namespace exists: the orphan scan records it first', {}, 'NamespaceExists'],
    [
      'namespace gone, written within retention: kept',
      { namespaceExists: () => false, usage: new Map([['ckpt/prod/gone/j/', u(NOW - H)]]) },
      'RecentWrite',
    ],
    [
      'namespace gone, under another policy root: never',
      { namespaceExists: () => false, policies: nestedRoot('ckpt/prod/gone') },
      'OtherPolicyRoot',
    ],
  ])('%s', (_why, o, expected) => {
    const usage = o.usage ?? new Map([['ckpt/prod/gone/j/', u(NOW - 25 * H)]]);
    expect(decide({ ...o, usage })).toEqual([`ckpt/prod/gone/j/ ${expected}`]);
  });

  test('anything that is not <root>/<ns>/<job>/ is ignored', () => {
    const usage = new Map([
      ['ckpt/prod/x/', u(0)],
      ['ckpt/prod/a/b/c/', u(0)],
      ['ckpt/prodx/a/b/', u(0)],
    ]);
    expect(decide({ usage, namespaceExists: () => false })).toEqual([]);
  });
});

describe('planGc: order, limit, totals', () => {
  test('resumes first, then the longest released; maxDeletesPerRun checkpoints per run; totals of what goes', () => {
    const usage = new Map([
      ['ckpt/prod/ns/old/', { objects: 5, bytes: 50, lastWriteMs: NOW - 100 * H }],
      ['ckpt/prod/ns/older/', { objects: 7, bytes: 70, lastWriteMs: NOW - 100 * H }],
      ['ckpt/prod/ns/fenced/', { objects: 1, bytes: 1 }],
    ]);
    const plan = planGc(
      input({
        policy: { ...policy, maxDeletesPerRun: 2 },
        usage,
        checkpoints: [
          cp('old', { releasedAtMs: NOW - 30 * H }),
          cp('older', { releasedAtMs: NOW - 40 * H }),
          cp('fenced', { phase: 'Deleting' }),
        ],
      }),
    );
    expect(plan.deletions.map((d) => [d.name, d.resume])).toEqual([
      ['fenced', true],
      ['older', false],
    ]);
    expect([plan.objects, plan.bytes]).toEqual([8, 71]);
    expect(plan.kept).toEqual([expect.objectContaining({ name: 'old', reason: 'OverLimit' })]);
  });

  test('parseJobPrefix', () => {
    expect(parseJobPrefix('r/s', 'r/s/ns/j/')).toEqual({ namespace: 'ns', name: 'j' });
    expect(parseJobPrefix('r/s', 'r/s/ns/')).toBeUndefined();
    expect(parseJobPrefix('r/s', 'r/sx/ns/j/')).toBeUndefined();
    expect(parseJobPrefix('r/s', 'r/s/ns/j')).toBeUndefined();
  });
});
