import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/policy/duration.js';

describe('parseDuration', () => {
  const ok: [string, number][] = [
    ['0', 0],
    ['0s', 0],
    ['90s', 90_000],
    ['15m', 900_000],
    ['36h', 129_600_000],
    ['7d', 604_800_000],
    ['168h', 604_800_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['500ms', 500],
    ['1m1ms', 60_001],
    ['.5s', 500],
  ];
  for (const [text, ms] of ok) it(`reads ${text}`, () => expect(parseDuration(text)).toEqual({ ok: true, ms }));

  const bad = ['', '60', '-5s', '5 s', '5S', '1y', 'h', '1h 30m', '1.2.3s', '5ns', '36500001d'];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const r = parseDuration(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/duration/);
    });
  }

  it('formats and reads back (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toEqual({ ok: true, ms });
      }),
    );
    expect(formatDuration(93_784_000)).toBe('1d2h3m4s');
  });
});
