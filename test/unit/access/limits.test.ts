import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jobCondition } from '../../../src/access/condition.js';
import { IAM_LIMITS, limitViolations, mergeWithinLimits, policyUsage } from '../../../src/access/limits.js';
import { type IamPolicy, type JobChange, mergeJobBindings } from '../../../src/access/merge.js';

const ROLE = 'roles/storage.objectUser';
const cond = (job: string) => jobCondition('bkt', `ckpt/ns/${job}/`, { namespace: 'ns', name: job });
const sa = (n: string | number) => `serviceAccount:sa-${n}@p.iam.gserviceaccount.com`;
const grant = (job: string, ...members: string[]): JobChange => ({
  job,
  desired: { role: ROLE, condition: cond(job), members },
});

function manyForeign(n: number): IamPolicy {
  return {
    version: 1,
    etag: 'e',
    bindings: [
      { role: 'roles/storage.objectViewer', members: Array.from({ length: n }, (_, i) => `user:u${i}@example.com`) },
    ],
  };
}

describe('policyUsage', () => {
  it('counts every appearance of a principal, groups once, domains at every appearance', () => {
    const u = policyUsage({
      bindings: [
        { role: 'r1', members: ['user:a@x.com', 'group:g@x.com', 'domain:x.com'] },
        { role: 'r2', members: ['user:a@x.com', 'group:g@x.com', 'domain:x.com'] },
        { role: 'r3', members: ['user:a@x.com'], condition: { title: 't', expression: 'e1' } },
        { role: 'r3', members: ['user:a@x.com'], condition: { title: 't2', expression: 'e1' } },
        { role: 'r3', members: ['user:a@x.com'], condition: { title: 't3', expression: 'e2' } },
      ],
    });
    expect(u.principals).toBe(9);
    expect(u.groupsAndDomains).toBe(3);
    expect(u.conditionsPerRoleAndMember.get('r3\nuser:a@x.com')).toBe(2);
  });
});

describe('limitViolations', () => {
  it('is empty at exactly the limits', () => {
    expect(limitViolations(manyForeign(IAM_LIMITS.principalsPerPolicy))).toEqual([]);
  });
  it('names the principal limit when exceeded', () => {
    expect(limitViolations(manyForeign(IAM_LIMITS.principalsPerPolicy + 1)).map((v) => v.limit)).toEqual([
      'PrincipalLimit',
    ]);
  });
  it('names the member holding a role under too many conditions', () => {
    const bindings = Array.from({ length: 21 }, (_, i) => ({
      role: ROLE,
      members: [sa('shared')],
      condition: cond(`j${i}`),
    }));
    const v = limitViolations({ version: 3, bindings });
    expect(v.map((x) => x.limit)).toEqual(['ConditionalBindingLimit']);
    expect(v[0]?.message).toContain(sa('shared'));
  });
});

describe('mergeWithinLimits', () => {
  it('accepts everything when within limits (same result as a plain merge)', () => {
    const changes = [grant('a', sa(1)), grant('b', sa(2))];
    const r = mergeWithinLimits(manyForeign(10), changes);
    expect(r.rejected).toEqual([]);
    expect(r.accepted).toEqual(['a', 'b']);
    expect(r.policy).toEqual(mergeJobBindings(manyForeign(10), changes).policy);
  });

  it('refuses only the jobs that would push the policy over 1,500 principals, by job order', () => {
    const policy = manyForeign(IAM_LIMITS.principalsPerPolicy - 3);
    const changes = [grant('d', sa(4), sa(5)), grant('a', sa(1)), grant('b', sa(2)), grant('c', sa(3))];
    const r = mergeWithinLimits(policy, changes);
    expect(r.accepted).toEqual(['a', 'b', 'c']);
    expect(r.rejected.map((x) => [x.job, x.limit])).toEqual([['d', 'PrincipalLimit']]);
    expect(limitViolations(r.policy)).toEqual([]);
    expect(policyUsage(r.policy).principals).toBe(IAM_LIMITS.principalsPerPolicy);
  });

  it('applies revocations first so they make room', () => {
    const base = mergeJobBindings(manyForeign(IAM_LIMITS.principalsPerPolicy - 1), [grant('old', sa('old'))]).policy;
    const r = mergeWithinLimits(base, [
      grant('new', sa('new')),
      { job: 'old', applied: { role: ROLE, condition: cond('old'), members: [sa('old')] } },
    ]);
    expect(r.rejected).toEqual([]);
    expect(r.accepted).toEqual(['new', 'old']);
  });

  it('refuses the 21st job granting one member the role under another condition', () => {
    const base = mergeJobBindings(
      { version: 3, etag: 'e', bindings: [] },
      Array.from({ length: 20 }, (_, i) => grant(`j${String(i).padStart(2, '0')}`, sa('default'))),
    ).policy;
    const r = mergeWithinLimits(base, [grant('j20', sa('default')), grant('own', sa('own'))]);
    expect(r.accepted).toEqual(['own']);
    expect(r.rejected).toEqual([
      { job: 'j20', limit: 'ConditionalBindingLimit', message: expect.stringContaining('over Google') },
    ]);
  });

  it('still accepts changes that do not make an already-broken policy worse', () => {
    const policy = manyForeign(IAM_LIMITS.principalsPerPolicy + 5);
    const withOld = {
      ...policy,
      bindings: [...(policy.bindings ?? []), { role: ROLE, members: [sa('o')], condition: cond('o') }],
    };
    const r = mergeWithinLimits(withOld, [
      { job: 'o', applied: { role: ROLE, condition: cond('o'), members: [sa('o')] } },
      grant('n1', sa('n1')),
      grant('n2', sa('n2')),
    ]);
    expect(r.accepted).toEqual(['n1', 'o']);
    expect(r.rejected.map((x) => x.job)).toEqual(['n2']);
    expect(policyUsage(r.policy).principals).toBe(policyUsage(withOld).principals);
  });

  it('gives the same answer whatever the order of the changes (property)', () => {
    const arbJob = fc.integer({ min: 0, max: 9 }).map((i) => `j${i}`);
    const arbChange = fc.record({ job: arbJob, n: fc.integer({ min: 1, max: 3 }) });
    fc.assert(
      fc.property(
        fc.uniqueArray(arbChange, { selector: (c) => c.job, maxLength: 8 }),
        fc.integer({ min: 1490, max: 1500 }),
        (specs, base) => {
          const changes = specs.map((s) => grant(s.job, ...Array.from({ length: s.n }, (_, k) => sa(`${s.job}-${k}`))));
          const a = mergeWithinLimits(manyForeign(base), changes);
          const b = mergeWithinLimits(manyForeign(base), [...changes].reverse());
          expect(b.policy).toEqual(a.policy);
          expect(b.rejected).toEqual(a.rejected);
          expect(limitViolations(a.policy)).toEqual([]);
          expect(new Set([...a.accepted, ...a.rejected.map((x) => x.job)])).toEqual(new Set(changes.map((c) => c.job)));
        },
      ),
    );
  });

  it('never leaves a limit worse than it was, with small limits over arbitrary policies (property)', () => {
    const members = ['a', 'b', 'c', 'd'].map(sa).concat(['group:g@x.com', 'domain:x.com']);
    const jobsArb = fc.constantFrom('j1', 'j2', 'j3', 'j4', 'j5');
    const arbSpec = (job: string) =>
      fc
        .record({
          role: fc.constantFrom(ROLE, 'roles/x'),
          members: fc.uniqueArray(fc.constantFrom(...members), { maxLength: 3 }),
        })
        .map((x) => ({ ...x, condition: cond(job) }));
    const arbPolicy = fc.array(
      fc.record({
        role: fc.constantFrom(ROLE, 'roles/x'),
        members: fc.array(fc.constantFrom(...members), { maxLength: 4 }),
        condition: fc.option(jobsArb.map(cond), { nil: undefined }),
      }),
      { maxLength: 6 },
    );
    const arbChanges = fc.uniqueArray(jobsArb, { maxLength: 5 }).chain((js) =>
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
    const small = { principalsPerPolicy: 6, groupsAndDomainsPerPolicy: 2, conditionsPerRoleAndMember: 2 };
    fc.assert(
      fc.property(arbPolicy, arbChanges, (bindings, changes) => {
        const policy: IamPolicy = {
          version: 3,
          etag: 'e',
          bindings: bindings.map((b) => (b.condition ? b : { role: b.role, members: b.members })),
        };
        const r = mergeWithinLimits(policy, changes, small);
        const before = policyUsage(policy);
        const after = policyUsage(r.policy);
        if (after.principals > small.principalsPerPolicy)
          expect(after.principals).toBeLessThanOrEqual(before.principals);
        if (after.groupsAndDomains > small.groupsAndDomainsPerPolicy) {
          expect(after.groupsAndDomains).toBeLessThanOrEqual(before.groupsAndDomains);
        }
        for (const [k, n] of after.conditionsPerRoleAndMember) {
          if (n > small.conditionsPerRoleAndMember)
            expect(n).toBeLessThanOrEqual(before.conditionsPerRoleAndMember.get(k) ?? 0);
        }
        expect(r.policy).toEqual(
          mergeJobBindings(
            policy,
            changes.filter((c) => r.accepted.includes(c.job)),
          ).policy,
        );
        expect([...r.accepted, ...r.rejected.map((x) => x.job)].sort()).toEqual(changes.map((c) => c.job).sort());
      }),
      { numRuns: 300 },
    );
  });
});
