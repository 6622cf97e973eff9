// The GC planner's gaps: Deleting records finished without (or outside) their policy, the place derived and never
// trusted from the spec, overlap decided by src/policy/overlap.ts with GC's stricter record rule on top, and empty
// managed folders of deleted namespaces.
import { describe, expect, test } from 'vitest';
import { type GcCheckpointFacts, type PlanInput, planGc, type RecordedPlace } from '../../../src/gc/plan.js';
import { decide as baseDecide, input as baseInput, cp, H, NOW, pol, policy } from './plan-fixtures.js';

const deleting = (name: string, o: Partial<GcCheckpointFacts> = {}) =>
  cp(name, { phase: 'Deleting', revokedAtMs: NOW - 48 * H, deletionStartMs: NOW - 47 * H, ...o });

const ownPolicies = [pol('p', 'ckpt/prod', '2026-01-01T00:00:00Z')];
const input = (o: Partial<PlanInput>) => baseInput({ policies: ownPolicies, ...o });
const decide = (o: Partial<PlanInput>) => baseDecide({ policies: ownPolicies, ...o });

const record = (namespace: string, name: string, ...prefixes: string[]): RecordedPlace => ({
  namespace,
  name,
  bucket: 'bkt-1',
  prefixes,
});

describe('a Deleting Checkpoint is finished from its record', () => {
  test('its policy is gone: planned from the record (bucket, and the root its prefix implies)', () => {
    const plan = planGc(
      input({
        resumeOnly: true,
        policies: [],
        checkpoints: [deleting('a'), cp('released')],
        usage: new Map([['ckpt/prod/ns/released/', { objects: 1, bytes: 1, lastWriteMs: NOW - 48 * H }]]),
      }),
    );
    expect(plan.deletions).toHaveLength(1);
    expect(plan.deletions[0]).toMatchObject({
      prefix: 'ckpt/prod/ns/a/',
      bucket: 'bkt-1',
      root: 'ckpt/prod',
      resume: true,
      fromRecord: true,
    });
  });

  test('its policy was re-created with another root (or bucket): still finished from the record', () => {
    const moved = { ...policy, rootPrefix: 'elsewhere' };
    const a = planGc(
      input({ policy: moved, policies: [pol('p', 'elsewhere', '2026-02-01T00:00:00Z')], checkpoints: [deleting('a')] }),
    );
    expect(a.deletions.map((d) => [d.prefix, d.root, d.fromRecord])).toEqual([['ckpt/prod/ns/a/', 'ckpt/prod', true]]);
    const b = planGc(input({ checkpoints: [deleting('a', { bucket: 'old-bucket' })] }));
    expect(b.deletions.map((d) => [d.bucket, d.fromRecord])).toEqual([['old-bucket', true]]);
  });

  test.each<[string, string, string]>([
    ['a root inside the prefix', 'ckpt/prod/ns/a/x', 'OtherPolicyRoot'],
    ['a root the prefix lies under (the prefix is inside its jobs)', 'ckpt', 'OtherPolicyRoot'],
    ['a root the prefix lies under, one level deeper', 'ckpt/prod/ns', 'OtherPolicyRoot'],
    ['the same root (that policy would use this very Checkpoint)', 'ckpt/prod', 'delete'],
    ['a sibling root', 'ckpt/prodx', 'delete'],
  ])('policy gone, another policy with %s: %s', (_what, root, expected) => {
    expect(
      decide({
        resumeOnly: true,
        policies: [pol('other', root, '2026-03-01T00:00:00Z')],
        checkpoints: [deleting('a')],
      }),
    ).toEqual([`ckpt/prod/ns/a/ ${expected}`]);
  });

  test('a record whose prefix is not <root>/<namespace>/<name>/ is never acted on', () => {
    expect(decide({ resumeOnly: true, checkpoints: [deleting('a', { prefix: 'ckpt/prod/ns/b/' })] })).toEqual([
      'ckpt/prod/ns/b/ PrefixMismatch',
    ]);
    expect(decide({ resumeOnly: true, checkpoints: [deleting('a', { prefix: '/ns/a/' })] })).toEqual([
      '/ns/a/ PrefixMismatch',
    ]);
  });

  test('retained, or inside the propagation hold of a revoke GC made: kept', () => {
    expect(decide({ checkpoints: [deleting('a', { retained: true })] })).toEqual(['ckpt/prod/ns/a/ Retained']);
    expect(decide({ checkpoints: [deleting('a', { revokedAtMs: NOW - 1000 })] })).toEqual([
      'ckpt/prod/ns/a/ PropagationHold',
    ]);
    expect(decide({ checkpoints: [deleting('a', { revokedAtMs: NOW - 60_000 })] })).toEqual(['ckpt/prod/ns/a/ delete']);
  });
});

describe('the place is derived, never taken from the spec', () => {
  test('a Released Checkpoint whose prefix names another job of its namespace: never', () => {
    expect(decide({ checkpoints: [cp('evil', { prefix: 'ckpt/prod/ns/victim/' })] })).toEqual([
      'ckpt/prod/ns/victim/ PrefixMismatch',
    ]);
  });
  test('a Released Checkpoint in another bucket: never', () => {
    expect(decide({ checkpoints: [cp('a', { bucket: 'other' })] })).toEqual(['ckpt/prod/ns/a/ PrefixMismatch']);
  });
});

describe('overlap: src/policy/overlap.ts, and the record rule on top', () => {
  test('a job prefix that contains another policy root (deeper than the job prefix): never', () => {
    const policies = [
      pol('p', 'ckpt/prod', '2026-01-01T00:00:00Z'),
      pol('q', 'ckpt/prod/ns/a/x', '2026-02-01T00:00:00Z'),
    ];
    expect(decide({ policies, checkpoints: [cp('a')] })).toEqual(['ckpt/prod/ns/a/ OtherPolicyRoot']);
    // A namespace-gone prefix too.
    expect(
      decide({
        policies: [policies[0] as ReturnType<typeof pol>, pol('q', 'ckpt/prod/gone/a/x', '2026-02-01T00:00:00Z')],
        namespaceExists: () => false,
        usage: new Map([['ckpt/prod/gone/a/', { objects: 1, bytes: 1, lastWriteMs: NOW - 48 * H }]]),
      }),
    ).toEqual(['ckpt/prod/gone/a/ OtherPolicyRoot']);
  });

  test("another policy's deeper root that the prefix lies under: never (rootOwnerOf)", () => {
    const policies = [pol('p', 'ckpt/prod', '2026-01-01T00:00:00Z'), pol('q', 'ckpt/prod/ns', '2026-02-01T00:00:00Z')];
    expect(decide({ policies, checkpoints: [cp('a')] })).toEqual(['ckpt/prod/ns/a/ OtherPolicyRoot']);
  });

  test("stricter: a prefix inside, around or at another Checkpoint's recorded place is never planned", () => {
    // The later, shadowed policy with root `ckpt` has a Checkpoint team `prod`... whose place holds ours.
    expect(decide({ checkpoints: [cp('a')], records: [record('prod', 'ns', 'ckpt/prod/ns/')] })).toEqual([
      'ckpt/prod/ns/a/ OtherRecord',
    ]);
    expect(decide({ checkpoints: [cp('a')], records: [record('x', 'y', 'ckpt/prod/ns/a/sub/')] })).toEqual([
      'ckpt/prod/ns/a/ OtherRecord',
    ]);
    // Its own record, and a sibling's, do not count.
    expect(
      decide({
        checkpoints: [cp('a')],
        records: [record('ns', 'a', 'ckpt/prod/ns/a/'), record('ns', 'ab', 'ckpt/prod/ns/ab/')],
      }),
    ).toEqual(['ckpt/prod/ns/a/ delete']);
    // A grant's managed folder recorded without the trailing slash.
    expect(decide({ checkpoints: [cp('a')], records: [record('x', 'y', 'ckpt/prod/ns/a')] })).toEqual([
      'ckpt/prod/ns/a/ OtherRecord',
    ]);
  });
});

describe('empty managed folders of deleted namespaces', () => {
  const folders = (updatedMs: number) => new Map([['ckpt/prod/gone/a/', { updatedMs }]]);
  test.each<[string, Partial<PlanInput>, string]>([
    ['folder untouched for a retention period: stale', { folders: folders(NOW - 24 * H) }, 'delete'],
    ['folder changed within the retention period: kept', { folders: folders(NOW - 24 * H + 1) }, 'RecentWrite'],
    [
      'the namespace exists: left to the orphan scan',
      { folders: folders(NOW - 48 * H), namespaceExists: () => true },
      'NamespaceExists',
    ],
    [
      'a Checkpoint records the folder: never',
      { folders: folders(NOW - 48 * H), records: [record('x', 'y', 'ckpt/prod/gone/a')] },
      'OtherRecord',
    ],
    [
      'objects and folder: the later clock (the folder changed recently)',
      {
        folders: folders(NOW - H),
        usage: new Map([['ckpt/prod/gone/a/', { objects: 2, bytes: 2, lastWriteMs: NOW - 48 * H }]]),
      },
      'RecentWrite',
    ],
  ])('%s', (_what, o, expected) => {
    expect(decide({ namespaceExists: () => false, ...o })).toEqual([`ckpt/prod/gone/a/ ${expected}`]);
  });

  test('a planned prefix says whether a managed folder is there (deleted whatever the mode)', () => {
    const plan = planGc(
      input({
        checkpoints: [cp('a'), cp('b')],
        folders: new Map([['ckpt/prod/ns/a/', { updatedMs: NOW - 48 * H }]]),
      }),
    );
    expect(plan.deletions.map((d) => [d.name, d.folder])).toEqual([
      ['a', true],
      ['b', false],
    ]);
  });
});
