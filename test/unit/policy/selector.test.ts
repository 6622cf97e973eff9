import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSelector, formatSelector, type LabelSelector, matchSelector } from '../../../src/policy/selector.js';

describe('matchSelector', () => {
  const cases: {
    reason: string;
    sel: LabelSelector | null | undefined;
    labels: Record<string, string>;
    want: boolean;
  }[] = [
    { reason: '{} matches everything', sel: {}, labels: { a: 'b' }, want: true },
    { reason: '{} matches an object without labels', sel: {}, labels: {}, want: true },
    { reason: 'a missing selector matches nothing (Kubernetes nil selector)', sel: undefined, labels: {}, want: false },
    { reason: 'a null selector matches nothing', sel: null, labels: { a: 'b' }, want: false },
    { reason: 'empty lists behave like {}', sel: { matchLabels: {}, matchExpressions: [] }, labels: {}, want: true },
    { reason: 'matchLabels equal', sel: { matchLabels: { team: 'a' } }, labels: { team: 'a', x: 'y' }, want: true },
    { reason: 'matchLabels different value', sel: { matchLabels: { team: 'a' } }, labels: { team: 'b' }, want: false },
    { reason: 'matchLabels key absent', sel: { matchLabels: { team: 'a' } }, labels: {}, want: false },
    { reason: 'matchLabels with empty value needs the key', sel: { matchLabels: { k: '' } }, labels: {}, want: false },
    {
      reason: 'matchLabels with empty value matches it',
      sel: { matchLabels: { k: '' } },
      labels: { k: '' },
      want: true,
    },
    {
      reason: 'matchLabels are ANDed',
      sel: { matchLabels: { a: '1', b: '2' } },
      labels: { a: '1', b: '3' },
      want: false,
    },
    {
      reason: 'In matches one of the values',
      sel: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'stage'] }] },
      labels: { env: 'stage' },
      want: true,
    },
    {
      reason: 'In requires the key',
      sel: { matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] },
      labels: {},
      want: false,
    },
    {
      reason: 'NotIn matches an absent key (as in Kubernetes)',
      sel: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] },
      labels: {},
      want: true,
    },
    {
      reason: 'NotIn refuses a listed value',
      sel: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] },
      labels: { env: 'prod' },
      want: false,
    },
    {
      reason: 'NotIn matches another value',
      sel: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] },
      labels: { env: 'dev' },
      want: true,
    },
    {
      reason: 'Exists with empty value',
      sel: { matchExpressions: [{ key: 'tidemark.dev/checkpoint', operator: 'Exists' }] },
      labels: { 'tidemark.dev/checkpoint': '' },
      want: true,
    },
    {
      reason: 'Exists needs the key',
      sel: { matchExpressions: [{ key: 'x', operator: 'Exists', values: [] }] },
      labels: { y: '1' },
      want: false,
    },
    {
      reason: 'DoesNotExist',
      sel: { matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] },
      labels: { y: '1' },
      want: true,
    },
    {
      reason: 'DoesNotExist refuses the key',
      sel: { matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] },
      labels: { x: '' },
      want: false,
    },
    {
      reason: 'matchLabels and matchExpressions are ANDed',
      sel: { matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'DoesNotExist' }] },
      labels: { a: '1', b: '2' },
      want: false,
    },
    {
      reason: 'a label named like an Object.prototype member is not inherited',
      sel: { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] },
      labels: {},
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      expect(matchSelector(c.sel, c.labels)).toEqual({ ok: true, matches: c.want });
    });
  }

  it('treats null/undefined labels as no labels', () => {
    const r = compileSelector({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] });
    expect(r.ok && r.selector.matches(undefined)).toBe(true);
    expect(r.ok && r.selector.matches(null)).toBe(true);
  });
});

describe('compileSelector errors', () => {
  const cases: { reason: string; sel: unknown; errorMatches: RegExp }[] = [
    {
      reason: 'unknown operator (operators are case-sensitive)',
      sel: { matchExpressions: [{ key: 'a', operator: 'in', values: ['x'] }] },
      errorMatches: /operator "in" is not one of/,
    },
    {
      reason: 'In without values',
      sel: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] },
      errorMatches: /values must be non-empty when operator is In/,
    },
    {
      reason: 'NotIn with missing values',
      sel: { matchExpressions: [{ key: 'a', operator: 'NotIn' }] },
      errorMatches: /values must be non-empty when operator is NotIn/,
    },
    {
      reason: 'Exists with values',
      sel: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
      errorMatches: /values must be empty when operator is Exists/,
    },
    {
      reason: 'invalid key',
      sel: { matchLabels: { 'bad key': 'x' } },
      errorMatches: /matchLabels key "bad key"/,
    },
    {
      reason: 'key with two slashes',
      sel: { matchExpressions: [{ key: 'a/b/c', operator: 'Exists' }] },
      errorMatches: /at most one "\/"/,
    },
    {
      reason: 'key prefix not a DNS subdomain',
      sel: { matchExpressions: [{ key: 'Tidemark.dev/x', operator: 'Exists' }] },
      errorMatches: /prefix/,
    },
    {
      reason: 'value too long',
      sel: { matchLabels: { a: 'x'.repeat(64) } },
      errorMatches: /at most 63 characters/,
    },
    {
      reason: 'value with a bad character',
      sel: { matchExpressions: [{ key: 'a', operator: 'In', values: ['ok', 'no/slash'] }] },
      errorMatches: /values\[1\] "no\/slash"/,
    },
    { reason: 'non-string label value', sel: { matchLabels: { a: 1 } }, errorMatches: /must be a string/ },
    { reason: 'matchExpressions not a list', sel: { matchExpressions: {} }, errorMatches: /must be a list/ },
    { reason: 'selector not an object', sel: 'app=x', errorMatches: /must be an object/ },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const r = compileSelector(c.sel as LabelSelector);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors.join('\n')).toMatch(c.errorMatches);
    });
  }

  it('reports every problem, not only the first', () => {
    const r = compileSelector({
      matchLabels: { 'bad key': 'x' },
      matchExpressions: [{ key: 'a', operator: 'Bogus' }],
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toHaveLength(2);
  });
});

describe('selector properties', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'team', 'tidemark.dev/x');
  const value = fc.constantFrom('', '1', '2', 'prod');
  const labels = fc.dictionary(key, value);

  it('matchLabels M matches L exactly when every pair of M is in L', () => {
    fc.assert(
      fc.property(labels, labels, (m, l) => {
        const want = Object.entries(m).every(([k, v]) => Object.hasOwn(l, k) && l[k] === v);
        expect(matchSelector({ matchLabels: m }, l)).toEqual({ ok: true, matches: want });
      }),
    );
  });

  it('NotIn is the complement of In, Exists of DoesNotExist', () => {
    const vals = fc.uniqueArray(fc.constantFrom('1', '2', 'prod'), { minLength: 1 });
    fc.assert(
      fc.property(key, vals, labels, (k, vs, l) => {
        const m = (operator: string, values?: string[]) => {
          const r = matchSelector({ matchExpressions: [{ key: k, operator, values }] }, l);
          if (!r.ok) throw new Error(r.errors.join());
          return r.matches;
        };
        expect(m('NotIn', vs)).toBe(!m('In', vs));
        expect(m('DoesNotExist')).toBe(!m('Exists'));
      }),
    );
  });
});

describe('formatSelector', () => {
  it('is deterministic and readable', () => {
    expect(
      formatSelector({
        matchLabels: { z: '1', a: '2' },
        matchExpressions: [
          { key: 'm', operator: 'NotIn', values: ['y', 'x'] },
          { key: 'b', operator: 'Exists' },
          { key: 'c', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('a=2,b,!c,m notin (x,y),z=1');
    expect(formatSelector({})).toBe('<all>');
    expect(formatSelector(undefined)).toBe('<none>');
  });
});
