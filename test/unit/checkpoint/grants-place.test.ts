// The pure pieces under the reconciler: the grant record (status.grants) and the place check.
import { describe, expect, it } from 'vitest';
import type { Checkpoint, CheckpointPolicy } from '../../../src/api/index.js';
import {
  belongsTo,
  type GrantRecord,
  grantFor,
  grantKey,
  narrowed,
  recordOf,
  withIntent,
} from '../../../src/checkpoint/grants.js';
import { checkPlace, policiesCovering } from '../../../src/checkpoint/place.js';
import { PolicySet } from '../../../src/policy/plan.js';

const USER = 'roles/storage.objectUser';
const job = { namespace: 'team-a', name: 'etl' };
const place = { bucket: 'bkt', prefix: 'ckpt/team-a/etl/' };

describe('grantFor and belongsTo', () => {
  it('builds the folder (ManagedFolder) or the condition (BucketCondition) of the job', () => {
    expect(grantFor(place, 'ManagedFolder', USER, ['b', 'a', 'b'], job)).toEqual({
      mode: 'ManagedFolder',
      role: USER,
      ...place,
      members: ['a', 'b'],
      folder: 'ckpt/team-a/etl/',
    });
    const g = grantFor(place, 'BucketCondition', USER, [], job);
    expect(g.condition?.title).toBe('tidemark:team-a/etl');
    expect(g.condition?.expression).toContain('ckpt/team-a/etl');
  });

  it.each<[string, Partial<GrantRecord>, boolean]>([
    ['its own folder', {}, true],
    ['another namespace’s prefix', { prefix: 'ckpt/victim/etl/', folder: 'ckpt/victim/etl/' }, false],
    ['a folder other than its prefix', { folder: 'ckpt/victim/etl/' }, false],
    ['a prefix that only ends like its own', { prefix: 'ckpt/xteam-a/etl/', folder: 'ckpt/xteam-a/etl/' }, false],
  ])('ManagedFolder entry: %s → %s', (_what, change, ok) => {
    expect(belongsTo({ ...grantFor(place, 'ManagedFolder', USER, ['m'], job), ...change }, job)).toBe(ok);
  });

  it('a BucketCondition entry belongs only with exactly the condition Tidemark builds for the job', () => {
    const g = grantFor(place, 'BucketCondition', USER, ['m'], job);
    expect(belongsTo(g, job)).toBe(true);
    expect(belongsTo({ ...g, condition: { title: g.condition?.title ?? '', expression: 'true' } }, job)).toBe(false);
    expect(belongsTo(g, { namespace: 'team-a', name: 'other' })).toBe(false);
  });
});

describe('withIntent and narrowed', () => {
  const a = grantFor(place, 'ManagedFolder', USER, ['a'], job);
  const b = grantFor(place, 'BucketCondition', 'roles/storage.objectAdmin', ['a'], job);

  it('adds a new entry, widens an existing one, and needs no write when covered', () => {
    expect(withIntent([], a)).toEqual([a]);
    expect(withIntent([a], { ...a, members: ['b'] })).toEqual([{ ...a, members: ['a', 'b'] }]);
    expect(withIntent([a], a)).toBeUndefined();
    expect(withIntent([a], { ...a, members: [] })).toBeUndefined();
    expect(withIntent([], { ...a, members: [] })).toBeUndefined();
    expect(withIntent([a], b)).toEqual([a, b]);
  });

  it('narrows entries to what was read back, drops the empty ones, keeps those not read', () => {
    const shown = new Map([
      [grantKey(a), []],
      [grantKey(b), ['a']],
    ]);
    expect(narrowed([a, b], shown)).toEqual([b]);
    expect(narrowed([a, b], new Map())).toEqual([a, b]);
  });
});

function checkpoint(ns: string, name: string, spec: Partial<Checkpoint['spec']>, status?: Checkpoint['status']) {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'Checkpoint',
    metadata: { name, namespace: ns },
    spec: {
      policyName: 'p',
      jobRef: { kind: 'SparkApplication', name },
      bucket: 'bkt',
      prefix: `ckpt/${ns}/${name}/`,
      uri: `gs://bkt/ckpt/${ns}/${name}/`,
      ...spec,
    },
    ...(status ? { status } : {}),
  } as Checkpoint;
}

describe('recordOf', () => {
  it('is status.grants when present; else the legacy grantedMembers, only for a verified place', () => {
    const legacy = checkpoint(
      'team-a',
      'etl',
      { access: { mode: 'BucketCondition', role: USER } },
      { grantedMembers: ['m'] },
    );
    expect(recordOf(legacy, false)).toEqual([]);
    expect(recordOf(legacy, true)).toEqual([grantFor(place, 'BucketCondition', USER, ['m'], job)]);
    const recorded = checkpoint('team-a', 'etl', {}, { grants: [], grantedMembers: ['m'] });
    expect(recordOf(recorded, true)).toEqual([]);
  });
});

describe('checkPlace', () => {
  const policy = (name: string, root: string, team: string) =>
    ({
      apiVersion: 'tidemark.dev/v1alpha1',
      kind: 'CheckpointPolicy',
      metadata: { name },
      spec: {
        namespaceSelector: { matchLabels: { team } },
        jobSelector: {},
        storage: { bucket: 'bkt', rootPrefix: root },
        access: { workloadIdentity: { projectNumber: '1', pool: 'p.svc.id.goog' } },
      },
    }) as CheckpointPolicy;
  const set = new PolicySet([policy('p', 'ckpt', 'a'), policy('q', 'other', 'a'), policy('r', 'ckpt', 'b')]);
  const covering = (labels: Record<string, string> | undefined) => policiesCovering(set, ['p', 'q', 'r'], labels);

  it('accepts the place any covering policy derives from namespace and name', () => {
    expect(checkPlace(checkpoint('team-a', 'etl', {}), covering({ team: 'a' }))).toMatchObject({ ok: true });
    const viaQ = checkpoint('team-a', 'etl', { prefix: 'other/team-a/etl/', uri: 'gs://bkt/other/team-a/etl/' });
    expect(checkPlace(viaQ, covering({ team: 'a' }))).toMatchObject({ ok: true });
  });

  it.each<[string, Partial<Checkpoint['spec']>, Record<string, string> | undefined]>([
    ['another namespace’s prefix', { prefix: 'ckpt/victim/etl/' }, { team: 'a' }],
    ['another job’s prefix', { prefix: 'ckpt/team-a/other/' }, { team: 'a' }],
    ['another bucket', { bucket: 'bkt2' }, { team: 'a' }],
    ['a namespace no policy covers', {}, { team: 'z' }],
    ['a namespace that is gone', {}, undefined],
  ])('refuses %s (PrefixMismatch)', (_what, spec, labels) => {
    const r = checkPlace(checkpoint('team-a', 'etl', spec), covering(labels));
    expect(r.ok).toBe(false);
  });
});
