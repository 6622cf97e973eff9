// Realism knobs that act on every call: request counters, fault injection, and the per-bucket metadata write rate.
import { type FaultRule, HttpError } from './contract.js';

/** The member recorded for a call that did not authenticate. */
export const ANONYMOUS = 'anonymous';

export interface CountersSnapshot {
  /** Calls counted (HTTP requests and batch parts, emulator-only endpoints excluded). */
  total: number;
  /** HTTP requests received (a batch counts once here, its parts count in byOp/byMember). */
  httpRequests: number;
  byOp: Record<string, number>;
  byMember: Record<string, number>;
  byOpAndMember: Record<string, Record<string, number>>;
  /** Faults injected by the configured fault rules, by kind ('429', '503', 'reset', 'slow', ...). */
  faults: Record<string, number>;
}

export class Counters {
  private total = 0;
  private httpRequests = 0;
  private byOp = new Map<string, number>();
  private byMember = new Map<string, number>();
  private byOpAndMember = new Map<string, Map<string, number>>();
  private faults = new Map<string, number>();

  /** One fault rule fired. */
  fault(kind: string | number): void {
    this.faults.set(String(kind), (this.faults.get(String(kind)) ?? 0) + 1);
  }

  /** One HTTP request arrived (not counted for emulator-only endpoints). */
  request(): void {
    this.httpRequests++;
  }

  call(op: string, member: string | undefined): void {
    const m = member ?? ANONYMOUS;
    this.total++;
    this.byOp.set(op, (this.byOp.get(op) ?? 0) + 1);
    this.byMember.set(m, (this.byMember.get(m) ?? 0) + 1);
    let inner = this.byOpAndMember.get(op);
    if (!inner) {
      inner = new Map();
      this.byOpAndMember.set(op, inner);
    }
    inner.set(m, (inner.get(m) ?? 0) + 1);
  }

  snapshot(): CountersSnapshot {
    const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
    return {
      total: this.total,
      httpRequests: this.httpRequests,
      byOp: sorted(this.byOp),
      byMember: sorted(this.byMember),
      byOpAndMember: Object.fromEntries(
        [...this.byOpAndMember].sort(([a], [b]) => (a < b ? -1 : 1)).map(([op, m]) => [op, sorted(m)]),
      ),
      faults: sorted(this.faults),
    };
  }

  reset(): void {
    this.total = 0;
    this.httpRequests = 0;
    this.byOp.clear();
    this.byMember.clear();
    this.byOpAndMember.clear();
    this.faults.clear();
  }
}

/** The first fault rule that fires for this call, if any. `random` is injectable for tests. */
export function pickFault(
  rules: readonly FaultRule[],
  op: string,
  member: string | undefined,
  random: () => number = Math.random,
): FaultRule | undefined {
  for (const rule of rules) {
    if (rule.op !== '*' && rule.op !== op) continue;
    if (rule.member !== undefined && rule.member !== member) continue;
    if (rule.rate > 0 && random() < rule.rate) return rule;
  }
  return undefined;
}

const FAULT_REASONS: Record<number, string> = {
  400: 'invalid',
  401: 'required',
  403: 'forbidden',
  404: 'notFound',
  408: 'requestTimeout',
  409: 'conflict',
  412: 'conditionNotMet',
  429: 'rateLimitExceeded',
  500: 'backendError',
  502: 'backendError',
  503: 'backendError',
  504: 'backendError',
};

/** The error an injected status fault answers with (Google's body shape; the message says it was injected). */
export function faultError(status: number, op: string): HttpError {
  const text =
    status === 429
      ? 'The rate of requests exceeds the rate limit (injected by the emulator).'
      : status >= 500
        ? 'We encountered an internal error. Please try again. (injected by the emulator)'
        : `Injected fault ${status} (emulator)`;
  return new HttpError(
    status,
    `${text} [${op}]`,
    FAULT_REASONS[status] ?? (status >= 500 ? 'backendError' : 'invalid'),
  );
}

/**
 * Google allows about one metadata write (IAM policy, lifecycle, bucket patch) per second per bucket. This keeps the
 * writes of the last second per bucket and refuses one more when the window is full.
 */
export class BucketWriteLimiter {
  private readonly windows = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts a write; throws HttpError 429 `rateLimitExceeded` when `limitPerSecond` writes already happened. */
  write(bucket: string, limitPerSecond: number): void {
    if (limitPerSecond <= 0) return;
    const t = this.now();
    const recent = (this.windows.get(bucket) ?? []).filter((at) => at > t - 1000);
    if (recent.length >= limitPerSecond) {
      this.windows.set(bucket, recent);
      throw new HttpError(
        429,
        `The rate of change requests to the bucket ${bucket} exceeds the rate limit. ` +
          'Please reduce the rate of create, update, and delete requests.',
        'rateLimitExceeded',
      );
    }
    recent.push(t);
    this.windows.set(bucket, recent);
  }

  forget(bucket: string): void {
    this.windows.delete(bucket);
  }

  reset(): void {
    this.windows.clear();
  }
}
