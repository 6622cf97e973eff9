import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jobCondition } from '../../../src/access/condition.js';
import {
  type BindingSpec,
  bindingKey,
  type IamBinding,
  type IamPolicy,
  type JobChange,
  membersFor,
  mergeJobBindings,
  sameGrants,
  tidemarkBindings,
} from '../../../src/access/merge.js';

const ROLE = 'roles/storage.objectUser';
const cond = (job: string) => jobCondition('bkt', `ckpt/ns/${job}/`, { namespace: 'ns', name: job });
const sa = (n: string) => `serviceAccount:${n}@p.iam.gserviceaccount.com`;
const spec = (job: string, ...members: string[]): BindingSpec => ({ role: ROLE, condition: cond(job), members });

const foreignBinding: IamBinding = { role: 'roles/storage.admin', members: ['user:admin@example.com'] };

describe('mergeJobBindings', () => {
  it('adds a new job’s conditional binding, sets version 3 and keeps the etag and foreign bindings', () => {
    const r = mergeJobBindings({ version: 1, etag: 'CAE=', bindings: [foreignBinding] }, [
      { job: 'a', desired: spec('a', sa('x')) },
    ]);
    expect(r.changed).toBe(true);
    expect(r.policy).toEqual({
      version: 3,
      etag: 'CAE=',
      bindings: [foreignBinding, { role: ROLE, members: [sa('x')], condition: cond('a') }],
    });
    expect(r.added).toEqual([{ role: ROLE, title: 'tidemark:ns/a', member: sa('x') }]);
  });

  it('keeps a foreign member someone added to Tidemark’s binding when Tidemark changes its own members', () => {
    const policy: IamPolicy = {
      version: 3,
      etag: 'e',
      bindings: [{ role: ROLE, members: [sa('x'), 'user:intruder@example.com'], condition: cond('a') }],
    };
    const r = mergeJobBindings(policy, [{ job: 'a', desired: spec('a', sa('y')), applied: spec('a', sa('x')) }]);
    expect(r.policy.bindings).toEqual([
      { role: ROLE, members: ['user:intruder@example.com', sa('y')], condition: cond('a') },
    ]);
    expect(r.removed).toEqual([{ role: ROLE, title: 'tidemark:ns/a', member: sa('x') }]);
  });

  it('drops a binding only when a revocation empties it', () => {
    const policy: IamPolicy = {
      version: 3,
      bindings: [foreignBinding, { role: ROLE, members: [sa('x')], condition: cond('a') }],
    };
    const r = mergeJobBindings(policy, [{ job: 'a', applied: spec('a', sa('x')) }]);
    expect(r.policy.bindings).toEqual([foreignBinding]);
    expect(r.changed).toBe(true);
  });

  it('leaves an empty foreign binding alone', () => {
    const policy: IamPolicy = { version: 1, bindings: [{ role: 'roles/x', members: [] }] };
    const r = mergeJobBindings(policy, [{ job: 'a', applied: spec('a', sa('x')) }]);
    expect(r.changed).toBe(false);
    expect(r.policy.bindings).toEqual([{ role: 'roles/x', members: [] }]);
  });

  it('reports no change when the grant is already in place (skip the write)', () => {
    const policy: IamPolicy = {
      version: 3,
      etag: 'e',
      bindings: [{ role: ROLE, members: [sa('x')], condition: cond('a') }],
    };
    const r = mergeJobBindings(policy, [{ job: 'a', desired: spec('a', sa('x')), applied: spec('a', sa('x')) }]);
    expect(r.changed).toBe(false);
    expect(r.policy).toEqual(policy);
  });

  it('never removes a member Tidemark did not apply', () => {
    const policy: IamPolicy = {
      version: 3,
      bindings: [{ role: ROLE, members: [sa('x'), sa('z')], condition: cond('a') }],
    };
    const r = mergeJobBindings(policy, [{ job: 'a', applied: spec('a', sa('x')) }]);
    expect(r.policy.bindings).toEqual([{ role: ROLE, members: [sa('z')], condition: cond('a') }]);
  });

  it('moves a grant when the role changes (removes under the old key, adds under the new one)', () => {
    const policy: IamPolicy = { version: 3, bindings: [{ role: ROLE, members: [sa('x')], condition: cond('a') }] };
    const r = mergeJobBindings(policy, [
      {
        job: 'a',
        desired: { role: 'roles/storage.objectAdmin', condition: cond('a'), members: [sa('x')] },
        applied: spec('a', sa('x')),
      },
    ]);
    expect(r.policy.bindings).toEqual([
      { role: 'roles/storage.objectAdmin', members: [sa('x')], condition: cond('a') },
    ]);
  });

  it('keys on title as well as expression: a lookalike binding with another title is foreign', () => {
    const lookalike = { ...cond('a'), title: 'someone else' };
    const policy: IamPolicy = { version: 3, bindings: [{ role: ROLE, members: [sa('x')], condition: lookalike }] };
    const r = mergeJobBindings(policy, [{ job: 'a', applied: spec('a', sa('x')) }]);
    expect(r.changed).toBe(false);
    expect(bindingKey(ROLE, lookalike)).not.toBe(bindingKey(ROLE, cond('a')));
  });

  it('does not compare descriptions when keying', () => {
    const described = { ...cond('a'), description: 'edited by hand' };
    const policy: IamPolicy = { version: 3, bindings: [{ role: ROLE, members: [sa('x')], condition: described }] };
    const r = mergeJobBindings(policy, [{ job: 'a', desired: spec('a', sa('x')) }]);
    expect(r.changed).toBe(false);
    expect(r.policy.bindings?.[0]?.condition?.description).toBe('edited by hand');
  });

  it('lets an addition win over another job’s removal of the same member from the same binding', () => {
    const shared: BindingSpec = { role: ROLE, members: [sa('x')] };
    const policy: IamPolicy = { version: 1, bindings: [{ role: ROLE, members: [sa('x')] }] };
    const changes: JobChange[] = [
      { job: 'a', applied: shared },
      { job: 'b', desired: shared },
    ];
    expect(mergeJobBindings(policy, changes).policy.bindings).toEqual([{ role: ROLE, members: [sa('x')] }]);
    expect(mergeJobBindings(policy, [...changes].reverse()).policy.bindings).toEqual([
      { role: ROLE, members: [sa('x')] },
    ]);
  });

  it('refuses malformed input with a clear error', () => {
    expect(() => mergeJobBindings({}, [{ job: 'a', desired: { role: '', members: [] } }])).toThrow(
      /job a desired: role/,
    );
    expect(() => mergeJobBindings({}, [{ job: 'a', desired: { role: ROLE, members: [''] } }])).toThrow(/members/);
    expect(() =>
      mergeJobBindings({}, [
        { job: 'a', desired: { role: ROLE, members: ['m'], condition: { title: 't', expression: '' } } },
      ]),
    ).toThrow(/condition/);
  });

  it('membersFor reads the members of one key', () => {
    const policy: IamPolicy = {
      bindings: [
        { role: ROLE, members: [sa('y'), sa('x')], condition: cond('a') },
        { role: ROLE, members: [sa('z')], condition: cond('b') },
        { role: ROLE, members: [sa('w')], condition: cond('a') },
      ],
    };
    expect(membersFor(policy, ROLE, cond('a'))).toEqual([sa('w'), sa('x'), sa('y')]);
    expect(membersFor(policy, ROLE, undefined)).toEqual([]);
  });
});

describe('tidemarkBindings', () => {
  it('finds Tidemark’s bindings on this bucket only, merging duplicates, and skips lookalikes', () => {
    const other = jobCondition('other-bucket', 'ckpt/ns/z/', { namespace: 'ns', name: 'z' });
    const policy: IamPolicy = {
      version: 3,
      bindings: [
        foreignBinding,
        { role: ROLE, members: [sa('y')], condition: cond('b') },
        { role: ROLE, members: [sa('x')], condition: cond('a') },
        { role: ROLE, members: [sa('w'), sa('x')], condition: cond('a') },
        { role: ROLE, members: [sa('v')], condition: { ...cond('c'), title: 'tidemark:ns/other' } },
        { role: ROLE, members: [sa('u')], condition: other },
      ],
    };
    expect(tidemarkBindings(policy, 'bkt')).toEqual([
      {
        bucket: 'bkt',
        prefix: 'ckpt/ns/a/',
        namespace: 'ns',
        name: 'a',
        role: ROLE,
        condition: cond('a'),
        members: [sa('w'), sa('x')],
      },
      {
        bucket: 'bkt',
        prefix: 'ckpt/ns/b/',
        namespace: 'ns',
        name: 'b',
        role: ROLE,
        condition: cond('b'),
        members: [sa('y')],
      },
    ]);
  });
});

// ---- properties ----
const jobs = ['a', 'b', 'c', 'd'];
const roles = [ROLE, 'roles/storage.objectViewer'];
const members = ['x', 'y', 'z', 'w'].map(sa).concat(['user:u@example.com']);
const arbCond = fc.option(fc.constantFrom(...jobs).map(cond), { nil: undefined });
const arbMembers = fc.uniqueArray(fc.constantFrom(...members), { maxLength: 4 });
const arbBinding: fc.Arbitrary<IamBinding> = fc
  .record({ role: fc.constantFrom(...roles, 'roles/storage.admin'), members: arbMembers, condition: arbCond })
  .map((b) => (b.condition ? b : { role: b.role, members: b.members }));
const arbPolicy: fc.Arbitrary<IamPolicy> = fc.record({
  version: fc.constantFrom(1, 3),
  etag: fc.constantFrom('BwX1', 'CAE='),
  bindings: fc.array(arbBinding, { maxLength: 6 }),
});
const arbSpec = (job: string) =>
  fc.record({ role: fc.constantFrom(...roles), members: arbMembers }).map((s) => ({ ...s, condition: cond(job) }));
const arbChanges: fc.Arbitrary<JobChange[]> = fc.uniqueArray(fc.constantFrom(...jobs), { maxLength: 4 }).chain((js) =>
  fc.tuple(
    ...js.map((job) =>
      fc.record(
        {
          job: fc.constant(job),
          desired: fc.option(arbSpec(job), { nil: undefined }),
          applied: fc.option(arbSpec(job), { nil: undefined }),
        },
        { requiredKeys: ['job'] },
      ),
    ),
  ),
);

function grantSet(p: IamPolicy): Set<string> {
  const s = new Set<string>();
  for (const b of p.bindings ?? []) for (const m of b.members ?? []) s.add(`${bindingKey(b.role, b.condition)} ${m}`);
  return s;
}

describe('merge properties', () => {
  it('is idempotent: merging the result again changes nothing', () => {
    fc.assert(
      fc.property(arbPolicy, arbChanges, (policy, changes) => {
        const once = mergeJobBindings(policy, changes);
        const twice = mergeJobBindings(once.policy, changes);
        expect(twice.changed).toBe(false);
        expect(twice.policy).toEqual(once.policy);
      }),
    );
  });

  it('is commutative over jobs: any order gives one identical policy', () => {
    fc.assert(
      fc.property(arbPolicy, arbChanges, fc.nat(), (policy, changes, seed) => {
        const shuffled = [...changes].sort(
          (x, y) => ((x.job.charCodeAt(0) * (seed + 7)) % 11) - ((y.job.charCodeAt(0) * (seed + 7)) % 11),
        );
        expect(mergeJobBindings(policy, shuffled).policy).toEqual(mergeJobBindings(policy, changes).policy);
        expect(mergeJobBindings(policy, [...changes].reverse()).policy).toEqual(
          mergeJobBindings(policy, changes).policy,
        );
      }),
    );
  });

  it('coalescing jobs into one merge equals merging them one by one (distinct bindings per job)', () => {
    fc.assert(
      fc.property(arbPolicy, arbChanges, (policy, changes) => {
        let seq = policy;
        for (const ch of changes) seq = mergeJobBindings(seq, [ch]).policy;
        expect(sameGrants(seq, mergeJobBindings(policy, changes).policy)).toBe(true);
      }),
    );
  });

  it('preserves everything Tidemark did not apply, and grants everything desired', () => {
    fc.assert(
      fc.property(arbPolicy, arbChanges, (policy, changes) => {
        const out = mergeJobBindings(policy, changes).policy;
        const after = grantSet(out);
        const removable = new Set<string>();
        for (const ch of changes) {
          if (!ch.applied) continue;
          for (const m of ch.applied.members)
            removable.add(`${bindingKey(ch.applied.role, ch.applied.condition)} ${m}`);
        }
        for (const g of grantSet(policy)) if (!removable.has(g)) expect(after.has(g)).toBe(true);
        for (const ch of changes) {
          if (!ch.desired) continue;
          for (const m of ch.desired.members)
            expect(after.has(`${bindingKey(ch.desired.role, ch.desired.condition)} ${m}`)).toBe(true);
        }
        // Nothing appears that was neither there nor desired.
        const desired = new Set<string>();
        for (const ch of changes)
          for (const m of ch.desired?.members ?? [])
            desired.add(`${bindingKey(ch.desired?.role ?? '', ch.desired?.condition)} ${m}`);
        for (const g of after) expect(grantSet(policy).has(g) || desired.has(g)).toBe(true);
      }),
    );
  });

  it('leaves bindings with keys no job touches exactly as they were, in order', () => {
    fc.assert(
      fc.property(arbPolicy, arbChanges, (policy, changes) => {
        const touched = new Set<string>();
        for (const ch of changes) {
          if (ch.desired) touched.add(bindingKey(ch.desired.role, ch.desired.condition));
          if (ch.applied) touched.add(bindingKey(ch.applied.role, ch.applied.condition));
        }
        const untouched = (p: IamPolicy) =>
          (p.bindings ?? []).filter((b) => !touched.has(bindingKey(b.role, b.condition)));
        expect(untouched(mergeJobBindings(policy, changes).policy)).toEqual(untouched(policy));
      }),
    );
  });

  it('carries the etag unchanged, uses version 3 whenever a condition exists, and reports changes truthfully', () => {
    fc.assert(
      fc.property(arbPolicy, arbChanges, (policy, changes) => {
        const r = mergeJobBindings(policy, changes);
        expect(r.policy.etag).toBe(policy.etag);
        if ((r.policy.bindings ?? []).some((b) => b.condition)) expect(r.policy.version).toBe(3);
        const grantsChanged = !sameGrants(policy, r.policy);
        if (grantsChanged) expect(r.changed).toBe(true);
        if (!r.changed) expect(r.policy).toEqual({ ...policy, version: policy.version, bindings: policy.bindings });
        expect(r.added.length > 0 || r.removed.length > 0 || r.policy.version !== policy.version).toBe(r.changed);
      }),
    );
  });

  it('does not modify its input', () => {
    fc.assert(
      fc.property(arbPolicy, arbChanges, (policy, changes) => {
        const copy = structuredClone(policy);
        mergeJobBindings(policy, changes);
        expect(policy).toEqual(copy);
      }),
    );
  });
});
