// The stand-in for src/policy/overlap.ts (src/plan/overlap.ts, to be replaced at merge): CONTRACTS.md's rule, as
// properties over random policy sets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RootedPolicy, shadowedPolicies } from '../../../src/plan/overlap.js';

const nested = (a: RootedPolicy, b: RootedPolicy) =>
  a.bucket === b.bucket &&
  (`${a.rootPrefix}/`.startsWith(`${b.rootPrefix}/`) || `${b.rootPrefix}/`.startsWith(`${a.rootPrefix}/`));

const policies = fc.uniqueArray(
  fc.record({
    name: fc.stringMatching(/^[a-e][0-9]$/),
    bucket: fc.constantFrom('b1', 'b2'),
    rootPrefix: fc.array(fc.constantFrom('a', 'ab', 'b'), { minLength: 1, maxLength: 3 }).map((s) => s.join('/')),
    creationTimestamp: fc.option(fc.constantFrom('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z'), { nil: undefined }),
  }),
  { selector: (p) => p.name, maxLength: 8 },
);

describe('shadowedPolicies (stand-in for overlappingPolicies)', () => {
  it('examples: a and a/b overlap, a and ab do not; the later by creationTimestamp, then name, is shadowed', () => {
    const p = (name: string, rootPrefix: string, creationTimestamp?: string) => ({
      name,
      bucket: 'b',
      rootPrefix,
      creationTimestamp,
    });
    expect([...shadowedPolicies([p('x', 'a'), p('y', 'a/b'), p('z', 'ab')])]).toEqual([['y', 'x']]);
    expect([...shadowedPolicies([p('x', 'a', '2026-02-01T00:00:00Z'), p('y', 'a/b', '2026-01-01T00:00:00Z')])]).toEqual(
      [['x', 'y']],
    );
    expect([...shadowedPolicies([p('x', 'a'), { ...p('y', 'a'), bucket: 'other' }])]).toEqual([]);
  });

  it('properties: order-independent; what stays unshadowed never overlaps; every shadowed one overlaps its winner', () => {
    fc.assert(
      fc.property(policies, fc.infiniteStream(fc.nat()), (ps, seeds) => {
        const result = shadowedPolicies(ps);
        const shuffled = [...ps].sort(() => (seeds.next().value % 3) - 1);
        expect(shadowedPolicies(shuffled)).toEqual(result);
        const kept = ps.filter((p) => !result.has(p.name));
        for (const a of kept) for (const b of kept) if (a !== b) expect(nested(a, b)).toBe(false);
        for (const [loser, winner] of result) {
          const l = ps.find((p) => p.name === loser) as RootedPolicy;
          const w = ps.find((p) => p.name === winner) as RootedPolicy;
          expect(nested(l, w)).toBe(true);
          // The rule is pairwise: the winner is the earliest policy it overlaps, which may itself be shadowed.
          const key = (p: RootedPolicy) => `${p.creationTimestamp ?? '~'} ${p.name}`;
          expect(key(w) < key(l)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
