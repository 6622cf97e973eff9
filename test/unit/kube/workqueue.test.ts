import fc from 'fast-check';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runController } from '../../../src/kube/controller.js';
import {
  backoffDelay,
  ItemExponentialLimiter,
  MaxOfLimiter,
  type RateLimiter,
  TokenBucketLimiter,
} from '../../../src/kube/ratelimit.js';
import { WorkQueue } from '../../../src/kube/workqueue.js';

/** A limiter with no wait at all, for tests that are about ordering rather than delays. */
const noDelay: RateLimiter = { when: () => 0, forget: () => {}, numRequeues: () => 0 };

/** Resolves when `cond` holds, checking after each macrotask (never a timing threshold). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('WorkQueue', () => {
  it('de-duplicates keys that are queued and keeps FIFO order', async () => {
    const q = new WorkQueue({ name: 't', rateLimiter: noDelay });
    for (const k of ['a', 'b', 'a', 'c', 'b']) q.add(k);
    expect(q.len()).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(['a', 'b', 'c']);
    expect(q.len()).toBe(0);
  });

  it('never hands out a key that is being processed; a re-add while processing queues it again on done', async () => {
    const q = new WorkQueue({ name: 't', rateLimiter: noDelay });
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0); // not handed out a second time while in flight
    q.add('b');
    expect(await q.get()).toBe('b');
    q.done('b');
    q.done('a');
    expect(q.len()).toBe(1); // the re-adds collapse into one
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('a consumer waiting in get() receives the next added key', async () => {
    const q = new WorkQueue({ name: 't', rateLimiter: noDelay });
    const pending = q.get();
    q.add('x');
    expect(await pending).toBe('x');
  });

  it('done() of a key that is not in flight is an error', () => {
    const q = new WorkQueue({ name: 't', rateLimiter: noDelay });
    expect(() => q.done('nope')).toThrow(/not in flight/);
  });

  it('addAfter delays a key; the earliest of several delays wins; an immediate add is not held back', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ name: 't', rateLimiter: noDelay, now: () => Date.now() });
    q.addAfter('late', 1000);
    q.addAfter('soon', 500);
    q.addAfter('late', 300); // earlier than 1000: wins
    q.addAfter('soon', 900); // later than 500: ignored
    expect(q.len()).toBe(0);
    expect(q.delayed()).toBe(2);
    await vi.advanceTimersByTimeAsync(299);
    expect(q.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('late');
    await vi.advanceTimersByTimeAsync(200);
    expect(await q.get()).toBe('soon');
    expect(q.delayed()).toBe(0);
    q.addAfter('now', 0);
    expect(q.len()).toBe(1);
  });

  it('addRateLimited backs a key off exponentially and forget() starts it over', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ name: 't', rateLimiter: new ItemExponentialLimiter(10, 1000), now: () => Date.now() });
    const readyAfter = async (): Promise<number> => {
      q.addRateLimited('k');
      let waited = 0;
      while (q.len() === 0) {
        if (waited > 10_000) throw new Error('key never became ready');
        await vi.advanceTimersByTimeAsync(1);
        waited++;
      }
      const key = await q.get();
      q.done(key as string);
      return waited;
    };
    expect([await readyAfter(), await readyAfter(), await readyAfter(), await readyAfter()]).toEqual([10, 20, 40, 80]);
    expect(q.numRequeues('k')).toBe(4);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
    expect(await readyAfter()).toBe(10);
  });

  it('shutdown ignores new adds, drops queued and delayed keys, releases waiting consumers', async () => {
    const q = new WorkQueue({ name: 't', rateLimiter: noDelay });
    const waiting = q.get();
    q.add('a'); // goes straight to the waiting consumer
    expect(await waiting).toBe('a');
    q.add('b');
    q.addAfter('c', 60_000);
    const consumer = q.get(); // gets b
    expect(await consumer).toBe('b');
    q.add('d');
    const drained = q.shutdown({ drain: false });
    await drained;
    q.add('e');
    expect(q.len()).toBe(0);
    expect(q.delayed()).toBe(0);
    expect(await q.get()).toBeUndefined();
    q.done('a');
    q.done('b');
  });

  it('shutdown with drain resolves only after every in-flight key is done', async () => {
    const q = new WorkQueue({ name: 't', rateLimiter: noDelay });
    q.add('a');
    q.add('b');
    const a = await q.get();
    const b = await q.get();
    let drained = false;
    const shutdown = q.shutdown({ drain: true }).then(() => {
      drained = true;
    });
    q.done(a as string);
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    q.done(b as string);
    await shutdown;
    expect(drained).toBe(true);
  });

  it('keeps its invariants under any sequence of operations (model check)', async () => {
    type Op = { op: 'add' | 'get' | 'done'; key: string };
    const opArb = fc.record({ op: fc.constantFrom('add', 'get', 'done'), key: fc.constantFrom('a', 'b', 'c') });
    await fc.assert(
      fc.asyncProperty(fc.array(opArb as fc.Arbitrary<Op>, { maxLength: 60 }), async (ops) => {
        const q = new WorkQueue({ name: 'm', rateLimiter: noDelay });
        const inFlight = new Set<string>();
        const needsWork = new Set<string>(); // added since last handed out
        const handed: string[] = [];
        const take = (): void => {
          if (q.len() === 0) return; // get() would wait
          void q.get().then((k) => handed.push(k as string));
        };
        {
          for (const { op, key } of ops) {
            if (op === 'add') {
              q.add(key);
              needsWork.add(key);
            } else if (op === 'get') {
              take();
              await Promise.resolve();
              const k = handed.shift();
              if (k !== undefined) {
                expect(inFlight.has(k)).toBe(false); // never two at once
                inFlight.add(k);
                needsWork.delete(k);
              }
            } else if (inFlight.has(key)) {
              q.done(key);
              inFlight.delete(key);
            }
            // Exactly the keys that need work and are not in flight are queued, each once; the others wait for done().
            expect(q.len()).toBe([...needsWork].filter((k) => !inFlight.has(k)).length);
          }
          // Finish everything: each key that still needs work comes out exactly once more.
          for (const k of [...inFlight]) q.done(k);
          const rest: string[] = [];
          while (q.len() > 0) {
            if (rest.length > 10) throw new Error(`keys keep coming back: ${rest}`);
            const k = (await q.get()) as string;
            rest.push(k);
            q.done(k);
          }
          expect(rest.sort()).toEqual([...needsWork].sort());
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('rate limiters', () => {
  it('per-item exponential backoff doubles up to its cap, per key', () => {
    const l = new ItemExponentialLimiter(5, 1_000_000);
    const a = Array.from({ length: 20 }, () => l.when('a'));
    expect(a.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(a.at(-1)).toBe(1_000_000);
    expect(l.when('b')).toBe(5);
    for (let i = 0; i < 2000; i++) l.when('a'); // 2^n → Infinity must still give the cap
    expect(l.when('a')).toBe(1_000_000);
    l.forget('a');
    expect(l.when('a')).toBe(5);
  });

  it('the global token bucket lets a burst through, then spaces calls at qps, and refills over time', () => {
    let now = 0;
    const l = new TokenBucketLimiter(10, 3, () => now);
    expect([l.when('a'), l.when('b'), l.when('c')]).toEqual([0, 0, 0]);
    expect(l.when('d')).toBeCloseTo(100);
    expect(l.when('e')).toBeCloseTo(200);
    now += 1000; // 10 tokens refilled, two were owed, capped at the burst
    expect([l.when('f'), l.when('g'), l.when('h')]).toEqual([0, 0, 0]);
    expect(l.when('i')).toBeGreaterThan(0);
  });

  it('MaxOf takes the longest wait and forwards forget', () => {
    let now = 0;
    const l = new MaxOfLimiter(new ItemExponentialLimiter(5, 1000), new TokenBucketLimiter(1, 1, () => now));
    expect(l.when('a')).toBe(5); // bucket had a token
    expect(l.when('b')).toBeCloseTo(1000); // bucket empty: 1 s for the next token beats 5 ms
    now += 10_000;
    expect(l.when('a')).toBe(10);
    l.forget('a');
    expect(l.numRequeues('a')).toBe(0);
  });

  it('reconnect backoff grows, is jittered downwards and capped', () => {
    const o = { initialMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, { ...o, random: () => 0 })).toBe(100);
    expect(backoffDelay(3, { ...o, random: () => 0 })).toBe(800);
    expect(backoffDelay(10, { ...o, random: () => 0 })).toBe(1000);
    expect(backoffDelay(10, { ...o, random: () => 0.999 })).toBeGreaterThanOrEqual(500);
    expect(backoffDelay(10, { ...o, random: () => 0.999 })).toBeLessThan(1000);
  });
});

describe('runController', () => {
  it('never reconciles one key concurrently, runs different keys in parallel, and re-runs a key re-added meanwhile', async () => {
    const q = new WorkQueue({ name: 'c', rateLimiter: noDelay });
    const running = new Set<string>();
    let maxParallel = 0;
    const log: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const c = runController({
      name: 'c',
      queue: q,
      concurrency: 3,
      async reconcile(key) {
        expect(running.has(key)).toBe(false);
        running.add(key);
        maxParallel = Math.max(maxParallel, running.size);
        log.push(`start ${key}`);
        const gate = deferred();
        gates.set(key, gate);
        await gate.promise;
        log.push(`end ${key}`);
        running.delete(key);
      },
    });
    q.add('a');
    q.add('b');
    await until(() => running.size === 2, 'a and b running');
    q.add('a'); // during processing
    q.add('a');
    await new Promise((r) => setImmediate(r));
    expect(running.size).toBe(2);
    gates.get('a')?.resolve();
    await until(() => log.filter((l) => l === 'start a').length === 2, 'a re-run');
    gates.get('b')?.resolve();
    gates.get('a')?.resolve();
    await until(() => running.size === 0, 'all done');
    expect(log.filter((l) => l === 'start a')).toHaveLength(2); // the two re-adds collapse into one
    expect(log.indexOf('end a')).toBeLessThan(log.lastIndexOf('start a'));
    expect(maxParallel).toBe(2);
    await c.stop();
  });

  it('bounds concurrency', async () => {
    const q = new WorkQueue({ name: 'c', rateLimiter: noDelay });
    let running = 0;
    let maxRunning = 0;
    let finished = 0;
    const c = runController({
      name: 'c',
      queue: q,
      concurrency: 2,
      async reconcile() {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
        finished++;
      },
    });
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    await until(() => finished === 10, 'all reconciled');
    expect(maxRunning).toBe(2);
    await c.stop();
  });

  it('retries a failing key with backoff until it succeeds, then forgets its failures', async () => {
    const q = new WorkQueue({ name: 'c', rateLimiter: new ItemExponentialLimiter(1, 10) });
    let attempts = 0;
    let succeeded = false;
    const c = runController({
      name: 'c',
      queue: q,
      async reconcile() {
        attempts++;
        if (attempts < 4) throw new Error(`attempt ${attempts} fails`);
        succeeded = true;
      },
    });
    q.add('k');
    await until(() => succeeded, 'success after retries');
    expect(attempts).toBe(4);
    expect(q.numRequeues('k')).toBe(0);
    await c.stop();
  });

  it('awaitingWake keeps the backoff: a handed-over change that keeps failing is retried ever more slowly', async () => {
    // The reconcile hands its change to a writer and returns; the writer fails and wakes the key (an immediate
    // add); the next reconcile takes the failure and throws. Forgetting the key on the hand-over would start every
    // retry from the first backoff step, so a failure that never goes away would be retried at the writer's pace.
    const q = new WorkQueue({ name: 'c', rateLimiter: new ItemExponentialLimiter(1, 1000) });
    let handedOver = false;
    let failures = 0;
    const retriesSeen: number[] = [];
    const c = runController({
      name: 'c',
      queue: q,
      async reconcile(key) {
        if (!handedOver) {
          handedOver = true;
          // The writer answers (with its failure) a moment later and wakes the key.
          setImmediate(() => q.add(key));
          return { awaitingWake: true };
        }
        handedOver = false;
        failures++;
        retriesSeen.push(q.numRequeues(key));
        throw new Error('403: the controller may not write the bucket policy');
      },
    });
    q.add('k');
    await until(() => failures >= 5, 'five failed answers');
    await c.stop({ drain: true });
    expect(retriesSeen).toEqual([0, 1, 2, 3, 4]);
  });

  it('requeueAfter brings the key back later', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ name: 'c', rateLimiter: noDelay, now: () => Date.now() });
    let runs = 0;
    const c = runController({
      name: 'c',
      queue: q,
      async reconcile() {
        runs++;
        return runs === 1 ? { requeueAfter: 5000 } : {};
      },
    });
    q.add('k');
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toBe(1);
    await vi.advanceTimersByTimeAsync(4999);
    expect(runs).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(2);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toBe(2);
    await c.stop();
  });

  it('stop() lets in-flight reconciles finish and starts no queued key', async () => {
    const q = new WorkQueue({ name: 'c', rateLimiter: noDelay });
    const gate = deferred();
    const started: string[] = [];
    const finished: string[] = [];
    const c = runController({
      name: 'c',
      queue: q,
      concurrency: 1,
      async reconcile(key) {
        started.push(key);
        await gate.promise;
        finished.push(key);
      },
    });
    q.add('a');
    q.add('b');
    await until(() => started.length === 1, 'a started');
    let stopped = false;
    const stopping = c.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(finished).toEqual(['a']);
    expect(started).toEqual(['a']);
  });

  it('exports controller-runtime and client-go metric names on the registry it is given', async () => {
    const registry = new Registry();
    const q = new WorkQueue({ name: 'jobs', registry, rateLimiter: new ItemExponentialLimiter(1, 5) });
    let n = 0;
    const c = runController({
      name: 'jobs',
      queue: q,
      registry,
      async reconcile() {
        n++;
        if (n === 1) throw new Error('first fails');
      },
    });
    q.add('k');
    await until(() => n === 2, 'retried');
    await until(() => q.inFlight() === 0, 'settled');
    const text = await registry.metrics();
    expect(text).toContain('controller_runtime_reconcile_total{controller="jobs",result="error"} 1');
    expect(text).toContain('controller_runtime_reconcile_total{controller="jobs",result="success"} 1');
    expect(text).toContain('controller_runtime_reconcile_errors_total{controller="jobs"} 1');
    expect(text).toContain('controller_runtime_reconcile_time_seconds_count{controller="jobs"} 2');
    expect(text).toContain('workqueue_adds_total{name="jobs"} 2');
    expect(text).toContain('workqueue_retries_total{name="jobs"} 1');
    expect(text).toContain('workqueue_depth{name="jobs"} 0');
    expect(text).toContain('workqueue_queue_duration_seconds_count{name="jobs"} 2');
    expect(text).toContain('workqueue_work_duration_seconds_count{name="jobs"} 2');
    expect(text).toContain('workqueue_unfinished_work_seconds{name="jobs"} 0');
    expect(text).toContain('workqueue_longest_running_processor_seconds{name="jobs"} 0');
    await c.stop();
  });

  it('rejects a nonsensical concurrency', () => {
    const q = new WorkQueue({ name: 'c' });
    expect(() => runController({ name: 'c', queue: q, concurrency: 0, reconcile: async () => {} })).toThrow(
      /concurrency/,
    );
  });
});
