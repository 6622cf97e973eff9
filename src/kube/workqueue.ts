import type { Registry } from 'prom-client';
import { CollectedGauge, counter, exponentialBuckets, gauge, histogram } from './metrics.js';
import { defaultControllerRateLimiter, type RateLimiter } from './ratelimit.js';

/**
 * A keyed, de-duplicating, rate-limited work queue with client-go's semantics:
 * - a key is queued at most once (`dirty`); adding a queued key does nothing;
 * - a key handed out by `get()` is `processing` until `done(key)`; adding it meanwhile marks it dirty and it is
 *   queued again when `done` is called — so one key is never processed twice at the same time, and a change that
 *   arrived during processing is never lost;
 * - `addAfter` delays a key (the earliest of several delays wins); `addRateLimited` delays it by the rate limiter
 *   (per-key exponential backoff combined with a global token bucket); `forget` resets the key's backoff.
 * Consumers call `get()` then `done()`; controller.ts runs a bounded pool of such consumers.
 */
export interface WorkQueueOptions {
  name: string;
  /** Where the workqueue_* metrics go; none when omitted. */
  registry?: Registry;
  rateLimiter?: RateLimiter;
  /** Monotonic milliseconds for the duration metrics; default performance.now. */
  now?: () => number;
}

export interface ShutdownOptions {
  /** Wait until every key handed out by get() has been marked done. Queued keys are never started. */
  drain?: boolean;
}

interface QueueMetrics {
  add(): void;
  depth(n: number): void;
  queued(seconds: number): void;
  worked(seconds: number): void;
  retry(): void;
}

const NO_METRICS: QueueMetrics = { add() {}, depth() {}, queued() {}, worked() {}, retry() {} };
const DURATION_BUCKETS = exponentialBuckets(10e-9, 10, 10);

export class WorkQueue {
  readonly name: string;
  private readonly limiter: RateLimiter;
  private readonly now: () => number;
  private readonly metrics: QueueMetrics;

  /** Keys ready to be handed out, in FIFO order (`items[head..]`). */
  private items: string[] = [];
  private head = 0;
  /** Keys that need processing: queued, or re-added while processing. */
  private readonly dirty = new Set<string>();
  /** Keys handed out and not done yet, with when they were handed out. */
  private readonly processing = new Map<string, number>();
  /** When each queued key was first added (for queue_duration). */
  private readonly addedAt = new Map<string, number>();
  /** Keys waiting for a delay to pass. */
  private readonly waiting = new Map<string, { readyAt: number; timer: NodeJS.Timeout }>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private drainWaiters: Array<() => void> = [];
  private shutting = false;
  private readonly unregister: () => void;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.limiter = opts.rateLimiter ?? defaultControllerRateLimiter();
    this.now = opts.now ?? (() => performance.now());
    if (opts.registry) {
      const r = opts.registry;
      const labels = { name: this.name };
      const depth = gauge(r, { name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'] });
      const adds = counter(r, {
        name: 'workqueue_adds_total',
        help: 'Total number of adds handled by workqueue',
        labelNames: ['name'],
      });
      const retries = counter(r, {
        name: 'workqueue_retries_total',
        help: 'Total number of retries handled by workqueue',
        labelNames: ['name'],
      });
      const queueDuration = histogram(r, {
        name: 'workqueue_queue_duration_seconds',
        help: 'How long in seconds an item stays in workqueue before being requested',
        labelNames: ['name'],
        buckets: DURATION_BUCKETS,
      });
      const workDuration = histogram(r, {
        name: 'workqueue_work_duration_seconds',
        help: 'How long in seconds processing an item from workqueue takes',
        labelNames: ['name'],
        buckets: DURATION_BUCKETS,
      });
      const unfinished = new CollectedGauge(
        r,
        {
          name: 'workqueue_unfinished_work_seconds',
          help: 'How many seconds of work has been done that is in progress and has not been observed by work_duration',
          labelNames: ['name'],
        },
        'name',
      );
      const longest = new CollectedGauge(
        r,
        {
          name: 'workqueue_longest_running_processor_seconds',
          help: 'How many seconds has the longest running processor for workqueue been running',
          labelNames: ['name'],
        },
        'name',
      );
      unfinished.set(this.name, () => this.inFlightSeconds().total);
      longest.set(this.name, () => this.inFlightSeconds().longest);
      this.unregister = () => {
        unfinished.delete(this.name);
        longest.delete(this.name);
      };
      depth.set(labels, 0);
      adds.inc(labels, 0);
      retries.inc(labels, 0);
      this.metrics = {
        add: () => adds.inc(labels),
        depth: (n) => depth.set(labels, n),
        queued: (s) => queueDuration.observe(labels, s),
        worked: (s) => workDuration.observe(labels, s),
        retry: () => retries.inc(labels),
      };
    } else {
      this.metrics = NO_METRICS;
      this.unregister = () => {};
    }
  }

  private inFlightSeconds(): { total: number; longest: number } {
    const t = this.now();
    let total = 0;
    let longest = 0;
    for (const started of this.processing.values()) {
      const s = (t - started) / 1000;
      total += s;
      if (s > longest) longest = s;
    }
    return { total, longest };
  }

  /** Keys queued and ready (not counting delayed or in-flight ones). */
  len(): number {
    return this.items.length - this.head;
  }

  /** Keys currently handed out. */
  inFlight(): number {
    return this.processing.size;
  }

  /** Keys waiting for a delay. */
  delayed(): number {
    return this.waiting.size;
  }

  get shuttingDown(): boolean {
    return this.shutting;
  }

  add(key: string): void {
    if (this.shutting) return;
    if (this.dirty.has(key)) return;
    this.metrics.add();
    this.dirty.add(key);
    this.addedAt.set(key, this.now());
    if (this.processing.has(key)) return; // queued again by done()
    this.push(key);
  }

  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter) {
      this.handOut(key);
      getter(key);
      return;
    }
    this.items.push(key);
    this.metrics.depth(this.len());
  }

  private handOut(key: string): void {
    const t = this.now();
    const added = this.addedAt.get(key);
    if (added !== undefined) this.metrics.queued((t - added) / 1000);
    this.addedAt.delete(key);
    this.dirty.delete(key);
    this.processing.set(key, t);
  }

  /** Adds the key once `delayMs` has passed; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shutting) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.now() + delayMs;
    const prior = this.waiting.get(key);
    if (prior) {
      if (prior.readyAt <= readyAt) return;
      clearTimeout(prior.timer);
    }
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.waiting.set(key, { readyAt, timer });
  }

  /** Adds the key after the rate limiter's delay (a failed attempt: its backoff grows). */
  addRateLimited(key: string): void {
    if (this.shutting) return;
    this.metrics.retry();
    this.addAfter(key, this.limiter.when(key));
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.limiter.numRequeues(key);
  }

  /** The next key to process, or undefined once the queue shuts down. Every key received must be `done()`. */
  get(): Promise<string | undefined> {
    if (this.shutting) return Promise.resolve(undefined);
    if (this.len() > 0) {
      const key = this.items[this.head] as string;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      this.metrics.depth(this.len());
      this.handOut(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Processing of `key` finished; if it was re-added meanwhile it is queued again now. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) throw new Error(`workqueue ${this.name}: done(${key}) for a key that is not in flight`);
    this.metrics.worked((this.now() - started) / 1000);
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shutting) this.push(key);
    if (this.shutting && this.processing.size === 0) this.resolveDrain();
  }

  private resolveDrain(): void {
    this.unregister();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Stops the queue: adds are ignored, delayed keys dropped, waiting consumers get undefined, queued keys are
   * never started. With `drain`, resolves once every in-flight key is done.
   */
  async shutdown(opts: ShutdownOptions = {}): Promise<void> {
    if (!this.shutting) {
      this.shutting = true;
      for (const w of this.waiting.values()) clearTimeout(w.timer);
      this.waiting.clear();
      this.items = [];
      this.head = 0;
      this.addedAt.clear();
      this.dirty.clear();
      this.metrics.depth(0);
      for (const g of this.getters.splice(0)) g(undefined);
      if (this.processing.size === 0) this.unregister();
    }
    if (opts.drain && this.processing.size > 0) {
      await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    }
  }
}
