import PQueue from 'p-queue';
import type { Registry } from 'prom-client';
import { type Logger, silentLogger } from './log.js';
import { counter, gauge, histogram } from './metrics.js';
import type { WorkQueue } from './workqueue.js';

/** What a reconcile asks for next. Nothing: done until the key is added again. */
export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds (its failure backoff is reset). */
  requeueAfter?: number;
  /**
   * The reconcile handed its work to someone who adds the key again when that work is done or has failed (a queued
   * bucket-policy write). Its failure backoff is kept, not reset: otherwise a change that keeps failing would be
   * handed over again at once after every failure, and retried at the writer's pace forever.
   */
  awaitingWake?: boolean;
}

export interface ReconcileContext {
  /** Aborted when the controller stops without drain; reconciles should pass it to long I/O. */
  signal: AbortSignal;
  logger: Logger;
}

export interface ControllerOptions {
  name: string;
  queue: WorkQueue;
  /** Throwing (or rejecting) means: retry with the queue's rate limiter. */
  reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult | undefined | void>;
  /** Keys reconciled at once (different keys only: the queue never hands out one key twice). Default 1. */
  concurrency?: number;
  registry?: Registry;
  logger?: Logger;
}

export interface RunningController {
  /** Resolves when the controller has stopped and every started reconcile has finished. */
  readonly done: Promise<void>;
  /**
   * Stops taking keys. With drain (default) in-flight reconciles finish; without, their signal is aborted (they
   * still run to their end, since a promise cannot be cancelled, but should return early).
   */
  stop(opts?: { drain?: boolean }): Promise<void>;
}

// controller-runtime's reconcile time buckets.
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75,
  2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

type Outcome = 'success' | 'error' | 'requeue_after';

/**
 * Runs `reconcile` for keys from `queue` with at most `concurrency` at once (a p-queue pool fed by the work
 * queue: a key is taken only when a worker is free, so the time a key waits is measured by the queue's
 * metrics, not hidden in the pool). Results map to the queue like controller-runtime's:
 * success → forget; `requeueAfter` → forget + addAfter; error → addRateLimited; `awaitingWake` → no forget.
 */
export function runController(opts: ControllerOptions): RunningController {
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`controller ${opts.name}: concurrency must be a positive integer, got ${concurrency}`);
  }
  const { queue, name } = opts;
  const logger = (opts.logger ?? silentLogger()).child({ controller: name });
  const abort = new AbortController();
  const labels = { controller: name };
  const m = opts.registry ? controllerMetrics(opts.registry) : undefined;
  if (m) {
    for (const result of ['success', 'error', 'requeue_after'] as const) m.total.inc({ ...labels, result }, 0);
    m.errors.inc(labels, 0);
    m.maxConcurrent.set(labels, concurrency);
    m.active.set(labels, 0);
  }
  const pool = new PQueue({ concurrency });

  const reconcileOne = async (key: string): Promise<void> => {
    const started = performance.now();
    let outcome: Outcome = 'success';
    m?.active.inc(labels);
    try {
      const result = await Promise.resolve().then(() => opts.reconcile(key, { signal: abort.signal, logger }));
      const after = result?.requeueAfter;
      if (!result?.awaitingWake) queue.forget(key);
      if (after !== undefined && after > 0) {
        outcome = 'requeue_after';
        queue.addAfter(key, after);
      }
    } catch (err) {
      outcome = 'error';
      m?.errors.inc(labels);
      // The error is handled by retrying; the log line is how an operator sees it.
      logger.error({ err, key, retries: queue.numRequeues(key) }, 'reconcile failed; will retry with backoff');
      queue.addRateLimited(key);
    } finally {
      queue.done(key);
      m?.active.dec(labels);
      m?.time.observe(labels, (performance.now() - started) / 1000);
      m?.total.inc({ ...labels, result: outcome });
    }
  };

  const loop = async (): Promise<void> => {
    for (;;) {
      if (pool.pending + pool.size >= concurrency) {
        await new Promise<void>((resolve) => pool.once('next', () => resolve()));
        continue;
      }
      const key = await queue.get();
      if (key === undefined) break;
      void pool.add(() => reconcileOne(key));
      // Yield to the event loop between keys: reconciles answered from caches resolve in microtasks only, and a
      // long queue of them must not starve watches, timers and the health server.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await pool.onIdle();
  };

  const done = loop();
  return {
    done,
    async stop(o = {}) {
      const drain = o.drain ?? true;
      if (!drain) abort.abort(new Error(`controller ${name} stopping`));
      await queue.shutdown({ drain: true });
      await done;
    },
  };
}

function controllerMetrics(r: Registry) {
  return {
    total: counter(r, {
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
    }),
    errors: counter(r, {
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
    }),
    time: histogram(r, {
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
    }),
    active: gauge(r, {
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
    }),
    maxConcurrent: gauge(r, {
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'],
    }),
  };
}
