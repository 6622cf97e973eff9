/**
 * Rate limiters for the work queue, with client-go's semantics: `when(key)` says how long to wait before the key
 * may be processed again (and records the failure), `forget(key)` clears a key's history after a success.
 */
export interface RateLimiter {
  when(key: string): number;
  forget(key: string): void;
  numRequeues(key: string): number;
}

/** Per-key exponential backoff: base·2^failures, capped (client-go: 5 ms → 1000 s). */
export class ItemExponentialLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();

  constructor(
    readonly baseMs = 5,
    readonly maxMs = 1_000_000,
  ) {
    if (!(baseMs > 0) || !(maxMs >= baseMs)) throw new Error(`invalid backoff ${baseMs} ms → ${maxMs} ms`);
  }

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity long after it passed maxMs; min() keeps the result finite.
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * A global token bucket (golang.org/x/time/rate's Reserve): `burst` tokens, refilled at `qps`; each call takes a
 * token now or reserves the next free one and returns the wait. Shared by all keys, so a storm of failures cannot
 * hammer the API server faster than qps.
 */
export class TokenBucketLimiter implements RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    readonly qps = 10,
    readonly burst = 100,
    private readonly now: () => number = Date.now,
  ) {
    if (!(qps > 0) || !(burst >= 1)) throw new Error(`invalid token bucket qps=${qps} burst=${burst}`);
    this.tokens = burst;
    this.last = now();
  }

  when(_key: string): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  forget(_key: string): void {}

  numRequeues(_key: string): number {
    return 0;
  }
}

/** The longest wait of several limiters (client-go's MaxOfRateLimiter). */
export class MaxOfLimiter implements RateLimiter {
  private readonly limiters: RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    if (limiters.length === 0) throw new Error('MaxOfLimiter needs at least one limiter');
    this.limiters = limiters;
  }

  when(key: string): number {
    // Every limiter must see the call (each records it), so no short-circuit.
    return Math.max(...this.limiters.map((l) => l.when(key)));
  }

  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  numRequeues(key: string): number {
    return Math.max(...this.limiters.map((l) => l.numRequeues(key)));
  }
}

export interface ControllerRateLimiterOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  qps?: number;
  burst?: number;
  now?: () => number;
}

/** client-go's DefaultControllerRateLimiter: per-item 5 ms → 1000 s, overall 10 qps with a burst of 100. */
export function defaultControllerRateLimiter(o: ControllerRateLimiterOptions = {}): RateLimiter {
  return new MaxOfLimiter(
    new ItemExponentialLimiter(o.baseDelayMs ?? 5, o.maxDelayMs ?? 1_000_000),
    new TokenBucketLimiter(o.qps ?? 10, o.burst ?? 100, o.now ?? Date.now),
  );
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** Fraction taken off at random: the wait is in [d·(1−jitter), d]. Default 0.5. */
  jitter?: number;
  random?: () => number;
}

/** Exponential backoff with jitter for reconnect loops: attempt 0 → ~initialMs, capped at maxMs. */
export function backoffDelay(attempt: number, o: BackoffOptions): number {
  const factor = o.factor ?? 2;
  const jitter = o.jitter ?? 0.5;
  const d = Math.min(o.maxMs, o.initialMs * factor ** Math.max(0, attempt));
  return d * (1 - jitter * (o.random ?? Math.random)());
}
