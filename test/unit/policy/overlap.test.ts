import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type OverlapCandidate,
  overlappingPolicies,
  rootOwnerOf,
  rootsOverlap,
  shadowedMessage,
} from '../../../src/policy/overlap.js';

function pol(name: string, bucket: string, rootPrefix: string, created?: string): OverlapCandidate {
  return {
    metadata: { name, ...(created ? { creationTimestamp: created } : {}) },
    spec: { storage: { bucket, rootPrefix } },
  };
}

const T1 = '2026-01-01T00:00:00Z';
const T2 = '2026-01-02T00:00:00Z';
const T3 = '2026-01-03T00:00:00Z';

describe('rootsOverlap', () => {
  const cases: [string, string, string, string, boolean][] = [
    ['bkt', 'a', 'bkt', 'a', true],
    ['bkt', 'a', 'bkt', 'a/b', true],
    ['bkt', 'a/b', 'bkt', 'a', true],
    ['bkt', 'a', 'bkt', 'ab', false],
    ['bkt', 'a/b', 'bkt', 'a/bc', false],
    ['bkt', 'a', 'ckt', 'a', false],
    ['bkt', 'ckpt', 'bkt', 'ckpt/team-b/x', true],
  ];
  for (const [b1, r1, b2, r2, want] of cases) {
    it(`gs://${b1}/${r1}/ and gs://${b2}/${r2}/: ${want}`, () => {
      expect(rootsOverlap({ bucket: b1, rootPrefix: r1 }, { bucket: b2, rootPrefix: r2 })).toBe(want);
    });
  }
});

describe('overlappingPolicies', () => {
  it('the later (creationTimestamp) of two overlapping policies is shadowed by the earlier', () => {
    const m = overlappingPolicies([pol('zeta', 'bkt', 'ckpt', T1), pol('alpha', 'bkt', 'ckpt/team-b', T2)]);
    expect([...m]).toEqual([['alpha', 'zeta']]);
  });

  it('equal creation times fall back to the name', () => {
    const m = overlappingPolicies([pol('b-pol', 'bkt', 'ckpt', T1), pol('a-pol', 'bkt', 'ckpt', T1)]);
    expect([...m]).toEqual([['b-pol', 'a-pol']]);
  });

  it('a policy without creationTimestamp (not created yet: admission) is later than every stored one', () => {
    const m = overlappingPolicies([pol('new', 'bkt', 'ckpt/x'), pol('old', 'bkt', 'ckpt', T3)]);
    expect([...m]).toEqual([['new', 'old']]);
  });

  it('different buckets and sibling roots do not overlap', () => {
    expect(
      overlappingPolicies([
        pol('a', 'bk1', 'ckpt', T1),
        pol('bkt', 'bk2', 'ckpt', T2),
        pol('ckt', 'bk1', 'ckpt-other', T2),
        pol('d', 'bk1', 'ckptx/y', T3),
      ]).size,
    ).toBe(0);
  });

  it('pairwise: every later policy of an overlapping pair is shadowed, by its earliest overlapping policy', () => {
    const m = overlappingPolicies([
      pol('inner', 'bkt', 'a/b', T1),
      pol('outer', 'bkt', 'a', T2),
      pol('sibling', 'bkt', 'a/c', T3),
    ]);
    // outer overlaps inner (earlier); sibling overlaps outer only (a contains a/c), and outer is earlier.
    expect(Object.fromEntries(m)).toEqual({ outer: 'inner', sibling: 'outer' });
  });

  it('ignores policies whose bucket or root is not usable (they provision nothing anyway)', () => {
    expect(overlappingPolicies([pol('a', 'bkt', 'ckpt/', T1), pol('ckt', 'bkt', 'ckpt', T2)]).size).toBe(0);
  });

  it('property: exactly the later of each overlapping pair is shadowed; the earliest policy never is', () => {
    const arb = fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^[a-d][0-9]$/),
        bucket: fc.constantFrom('bk1', 'bk2'),
        root: fc.constantFrom('a', 'a/b', 'a/b/c', 'ab', 'a/c', 'x'),
        day: fc.integer({ min: 1, max: 3 }),
      }),
      { selector: (p) => p.name, maxLength: 6 },
    );
    fc.assert(
      fc.property(arb, (ps) => {
        const policies = ps.map((p) => pol(p.name, p.bucket, p.root, `2026-01-0${p.day}T00:00:00Z`));
        const m = overlappingPolicies(policies);
        const order = (p: (typeof ps)[number]) => [p.day, p.name] as const;
        const later = (x: (typeof ps)[number], y: (typeof ps)[number]) =>
          order(x)[0] > order(y)[0] || (order(x)[0] === order(y)[0] && x.name > y.name);
        for (const x of ps) {
          const earlierOverlapping = ps.filter(
            (y) =>
              y !== x &&
              later(x, y) &&
              rootsOverlap({ bucket: x.bucket, rootPrefix: x.root }, { bucket: y.bucket, rootPrefix: y.root }),
          );
          if (earlierOverlapping.length === 0) expect(m.has(x.name)).toBe(false);
          else {
            const winner = m.get(x.name);
            expect(earlierOverlapping.map((y) => y.name)).toContain(winner);
            // The winner named is the earliest of them.
            for (const y of earlierOverlapping)
              expect(later(y, ps.find((p) => p.name === winner) as never)).toBe(y.name !== winner);
          }
        }
      }),
    );
  });
});

describe('rootOwnerOf', () => {
  const policies = [
    pol('ckpt', 'bkt', 'ckpt', T1),
    pol('team-b', 'bkt', 'ckpt/team-b', T2),
    pol('other', 'ckt', 'ckpt', T1),
  ];

  it('a prefix under another policy’s deeper root belongs to that policy', () => {
    expect(rootOwnerOf(policies, 'ckpt', 'bkt', 'ckpt/team-b/x/')).toBe('team-b');
    expect(rootOwnerOf(policies, 'ckpt', 'bkt', 'ckpt/team-b/x/y/')).toBe('team-b');
  });

  it('a prefix that contains another policy’s root is refused too', () => {
    expect(rootOwnerOf([...policies, pol('deep', 'bkt', 'ckpt/ns/job/q', T3)], 'ckpt', 'bkt', 'ckpt/ns/job/')).toBe(
      'deep',
    );
  });

  it('a prefix of the policy’s own territory, or under a shallower root, is its own', () => {
    expect(rootOwnerOf(policies, 'ckpt', 'bkt', 'ckpt/team-a/x/')).toBeUndefined();
    expect(rootOwnerOf(policies, 'team-b', 'bkt', 'ckpt/team-b/x/y/')).toBeUndefined();
    expect(rootOwnerOf(policies, 'ckpt', 'bkt', 'ckpt/team-bb/x/')).toBeUndefined();
  });

  it('other buckets do not count', () => {
    expect(rootOwnerOf(policies, 'other', 'ckt', 'ckpt/team-b/x/')).toBeUndefined();
  });
});

describe('shadowedMessage', () => {
  it('names the other policy and both roots', () => {
    const msg = shadowedMessage(pol('team-b', 'bkt', 'ckpt/team-b', T2), pol('ckpt', 'bkt', 'ckpt', T1));
    expect(msg).toContain('"ckpt"');
    expect(msg).toContain('gs://bkt/ckpt/team-b/');
    expect(msg).toContain('gs://bkt/ckpt/');
    expect(msg).toMatch(/\.$/);
  });
});
