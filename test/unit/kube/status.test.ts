import { describe, expect, it } from 'vitest';
import {
  type Condition,
  findCondition,
  formatMicroTime,
  formatTime,
  isConditionTrue,
  jsonEqual,
  removeCondition,
  setCondition,
} from '../../../src/kube/status.js';

const t0 = new Date('2026-01-02T03:04:05.678Z');
const t1 = new Date('2026-01-02T04:00:00.000Z');

describe('setCondition', () => {
  it('adds a condition with the transition time', () => {
    const c = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Pending', message: 'wait' }, t0);
    expect(c).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Pending',
        message: 'wait',
        lastTransitionTime: '2026-01-02T03:04:05Z',
      },
    ]);
  });

  it('keeps lastTransitionTime when the status does not change, but updates reason, message and generation', () => {
    const a = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'Pending', message: 'a', observedGeneration: 1 },
      t0,
    );
    const b = setCondition(
      a,
      { type: 'Ready', status: 'False', reason: 'Waiting', message: 'b', observedGeneration: 2 },
      t1,
    );
    expect(b[0]).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'Waiting',
      message: 'b',
      observedGeneration: 2,
      lastTransitionTime: '2026-01-02T03:04:05Z',
    });
  });

  it('moves lastTransitionTime when the status changes, and leaves the input untouched', () => {
    const a: Condition[] = [
      { type: 'Bound', status: 'True', reason: 'Claimed', message: '', lastTransitionTime: 'x' },
      { type: 'Ready', status: 'False', reason: 'Pending', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' },
    ];
    const frozen = structuredClone(a);
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'GrantApplied', message: 'ok' }, t1);
    expect(a).toEqual(frozen);
    expect(b.map((c) => c.type)).toEqual(['Bound', 'Ready']); // order kept
    expect(findCondition(b, 'Ready')?.lastTransitionTime).toBe('2026-01-02T04:00:00Z');
    expect(isConditionTrue(b, 'Ready')).toBe(true);
    expect(isConditionTrue(b, 'Missing')).toBe(false);
    expect(removeCondition(b, 'Bound').map((c) => c.type)).toEqual(['Ready']);
  });

  it.each([
    ['a reason with spaces', { reason: 'not camel case' }],
    ['an empty reason', { reason: '' }],
    ['a reason ending in a comma', { reason: 'Bad,' }],
    ['a type with spaces', { type: 'Not Ready' }],
    ['a status outside True/False/Unknown', { status: 'Maybe' }],
  ])('refuses %s (the API server would)', (_why, patch) => {
    const input = { type: 'Ready', status: 'True', reason: 'Ok', message: '', ...patch } as Parameters<
      typeof setCondition
    >[1];
    expect(() => setCondition([], input)).toThrow(/invalid condition/);
  });
});

describe('time formats', () => {
  it('metav1.Time has seconds, MicroTime exactly six fractional digits', () => {
    expect(formatTime(t0)).toBe('2026-01-02T03:04:05Z');
    expect(formatMicroTime(t0)).toBe('2026-01-02T03:04:05.678000Z');
  });
});

describe('jsonEqual', () => {
  it.each([
    [{ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }, true],
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [{ a: 1 }, { a: 2 }, false],
    [[1, 2], [2, 1], false],
    [{ a: [] }, { a: {} }, false],
    [null, {}, false],
    ['x', 'x', true],
  ])('%j vs %j → %s', (a, b, eq) => {
    expect(jsonEqual(a, b)).toBe(eq);
  });
});
