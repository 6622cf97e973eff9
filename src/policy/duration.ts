// Durations in policies (access.propagationHold, retention.afterRelease): Go's time.ParseDuration syntax for
// d/h/m/s/ms units — one or more `<number><unit>` terms, numbers may have a fraction — e.g. 90s, 15m, 36h, 7d,
// 1h30m, 1.5h, 0. No sign (negative durations make no sense here), no ns/us (too fine to matter).

const UNIT_MS: Readonly<Record<string, number>> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
const TERM = /(\d+(?:\.\d*)?|\.\d+)(ms|d|h|m|s)/y;

/** The longest duration accepted: 100 years (anything longer is a typo). */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000;

export type DurationResult = { ok: true; ms: number } | { ok: false; error: string };

/** Parses a policy duration into milliseconds (rounded to the millisecond). */
export function parseDuration(text: string): DurationResult {
  if (typeof text !== 'string' || text.length === 0) return { ok: false, error: 'duration must not be empty' };
  if (text === '0') return { ok: true, ms: 0 };
  let total = 0;
  let pos = 0;
  TERM.lastIndex = 0;
  while (pos < text.length) {
    TERM.lastIndex = pos;
    const m = TERM.exec(text);
    if (!m) {
      return {
        ok: false,
        error: `duration ${JSON.stringify(text)} is not valid: use numbers with units d, h, m, s or ms, e.g. 90s, 15m, 36h, 7d, 1h30m`,
      };
    }
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    pos = TERM.lastIndex;
  }
  if (!Number.isFinite(total) || total > MAX_DURATION_MS) {
    return { ok: false, error: `duration ${JSON.stringify(text)} is longer than 100 years` };
  }
  return { ok: true, ms: Math.round(total) };
}

/** A duration in the same syntax, largest units first (e.g. 93784000 → "1d2h3m4s"); "0s" for zero. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`formatDuration: ${ms} is not a non-negative number`);
  let rest = Math.round(ms);
  if (rest === 0) return '0s';
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const size = UNIT_MS[unit] as number;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
