import PQueue from 'p-queue';
import type { Registry } from 'prom-client';
import { type Logger, silentLogger } from './log.js';
import { counter } from './metrics.js';
import { Resources } from './resources.js';
import { isNotFound, type KubeObject, type KubeRest } from './rest.js';
import { formatMicroTime } from './status.js';

/** The object an Event is about (core/v1 ObjectReference). */
export interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

export interface EventInput {
  type: 'Normal' | 'Warning';
  /** CamelCase, machine-readable: why (GrantApplied, PolicyConflict). */
  reason: string;
  /** CamelCase: what was done or failed (Grant, Revoke, Reconcile). */
  action: string;
  /** Human-readable; cut to 1 kB. */
  note: string;
  related?: ObjectReference;
}

export interface EventRecorderOptions {
  rest: KubeRest;
  /** Who reports, e.g. the pod name; required by events.k8s.io/v1. */
  reportingInstance: string;
  reportingController?: string;
  logger?: Logger;
  registry?: Registry;
  /** How often the counts of repeating events are written (client-go: 30 min; default 30 s). */
  seriesFlushMs?: number;
  /** A repeat later than this after the last one starts a new Event (client-go: 6 min). */
  seriesFinishMs?: number;
  /** Distinct events remembered for aggregation (least recently seen dropped first). */
  cacheSize?: number;
  /** Event writes queued at most; beyond it new events are dropped (and logged) rather than eat memory. */
  maxPending?: number;
  now?: () => number;
}

const CAMEL = /^[A-Z][A-Za-z0-9]*$/;

interface Entry {
  name: string;
  namespace: string;
  event: Record<string, unknown>;
  count: number;
  written: number;
  lastObserved: number;
  chain: Promise<void>;
}

export const REPORTING_CONTROLLER = 'tidemark.dev/controller';

export function referenceOf(obj: KubeObject): ObjectReference {
  const m = obj.metadata ?? {};
  if (!obj.apiVersion || !obj.kind || !m.name)
    throw new Error('an event needs an object with apiVersion, kind and name');
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    name: m.name,
    ...(m.namespace ? { namespace: m.namespace } : {}),
    ...(m.uid ? { uid: m.uid } : {}),
    ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
  };
}

/**
 * Writes events.k8s.io/v1 Events. Repeats of the same event (same object, type, reason, action, note) become a
 * series on one Event (`series.count`) instead of new objects, like client-go's events library.
 *
 * Events are best effort: `record` never throws and never waits. A failure to build or write an Event is logged
 * at error level and counted (`tidemark_event_write_errors_total`) — this is the one place where an error is
 * logged instead of propagated, because a lost Event must never fail or delay a reconcile.
 */
export class EventRecorder {
  private readonly rest: KubeRest;
  private readonly logger: Logger;
  private readonly controller: string;
  private readonly instance: string;
  private readonly now: () => number;
  private readonly finishMs: number;
  private readonly cacheSize: number;
  private readonly maxPending: number;
  private readonly cache = new Map<string, Entry>();
  private readonly writes = new PQueue({ concurrency: 4 });
  private readonly timer: NodeJS.Timeout;
  private readonly failures: { inc(labels: { reason: string }): void };
  private closed = false;

  constructor(o: EventRecorderOptions) {
    this.rest = o.rest;
    this.logger = o.logger ?? silentLogger();
    this.controller = o.reportingController ?? REPORTING_CONTROLLER;
    this.instance = o.reportingInstance;
    if (!this.instance || this.instance.length > 128) throw new Error('reportingInstance must be 1-128 characters');
    if (this.controller.length > 100) throw new Error('reportingController must be at most 100 characters');
    this.now = o.now ?? Date.now;
    this.finishMs = o.seriesFinishMs ?? 6 * 60_000;
    this.cacheSize = o.cacheSize ?? 4096;
    this.maxPending = o.maxPending ?? 1000;
    this.timer = setInterval(() => this.flushSeries(), o.seriesFlushMs ?? 30_000);
    this.timer.unref();
    const c = o.registry
      ? counter(o.registry, {
          name: 'tidemark_event_write_errors_total',
          help: 'Events that could not be built or written (events are best effort)',
          labelNames: ['reason'],
        })
      : undefined;
    this.failures = { inc: (l) => c?.inc(l) };
  }

  /** Records an event about `regarding` (an object or a reference). Never throws. */
  record(regarding: KubeObject | ObjectReference, e: EventInput): void {
    try {
      if (this.closed) throw new Error('event recorder is closed');
      const ref = 'metadata' in regarding ? referenceOf(regarding as KubeObject) : (regarding as ObjectReference);
      if (!CAMEL.test(e.reason) || e.reason.length > 128) throw new Error(`reason ${e.reason} is not CamelCase`);
      if (!CAMEL.test(e.action) || e.action.length > 128) throw new Error(`action ${e.action} is not CamelCase`);
      if (e.type !== 'Normal' && e.type !== 'Warning') throw new Error(`type ${String(e.type)} is not Normal/Warning`);
      const note = truncateBytes(e.note, 1024);
      const key = JSON.stringify([
        ref.apiVersion,
        ref.kind,
        ref.namespace,
        ref.name,
        ref.uid,
        e.type,
        e.reason,
        e.action,
        note,
        e.related?.kind,
        e.related?.namespace,
        e.related?.name,
      ]);
      const t = this.now();
      const prior = this.cache.get(key);
      if (prior && t - prior.lastObserved <= this.finishMs) {
        prior.count++;
        prior.lastObserved = t;
        this.touch(key, prior);
        // The first repeat turns the Event into a series at once; later counts go out with the periodic flush.
        if (prior.count === 2) this.enqueue(prior, () => this.writeSeries(prior));
        return;
      }
      // A finished series keeps its last count: write it before the cache forgets it.
      if (prior && prior.count > prior.written && prior.written > 0) this.enqueue(prior, () => this.writeSeries(prior));
      const namespace = ref.namespace || 'default';
      const entry: Entry = {
        name: eventName(ref.name, t),
        namespace,
        count: 1,
        written: 0,
        lastObserved: t,
        chain: Promise.resolve(),
        event: {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { namespace },
          eventTime: formatMicroTime(new Date(t)),
          reportingController: this.controller,
          reportingInstance: this.instance,
          action: e.action,
          reason: e.reason,
          type: e.type,
          note,
          regarding: ref,
          ...(e.related ? { related: e.related } : {}),
        },
      };
      this.touch(key, entry);
      this.enqueue(entry, () => this.create(entry));
    } catch (err) {
      this.fail('invalid', err, e);
    }
  }

  private touch(key: string, entry: Entry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  private enqueue(entry: Entry, write: () => Promise<void>): void {
    if (this.writes.size >= this.maxPending) {
      this.fail('overflow', new Error(`more than ${this.maxPending} event writes pending`), entry.event);
      return;
    }
    // One entry's writes run in order (create before series patches); different entries in parallel.
    entry.chain = entry.chain.then(() =>
      this.writes.add(write).catch((err: unknown) => this.fail('write', err, entry.event)),
    );
  }

  private async create(entry: Entry): Promise<void> {
    const count = entry.count;
    const body = {
      ...entry.event,
      metadata: { name: entry.name, namespace: entry.namespace },
      ...(count >= 2 ? { series: { count, lastObservedTime: formatMicroTime(new Date(entry.lastObserved)) } } : {}),
    };
    await this.rest.create(Resources.Event, body);
    entry.written = count;
  }

  private async writeSeries(entry: Entry): Promise<void> {
    const count = entry.count;
    if (count <= entry.written) return;
    const series = { count, lastObservedTime: formatMicroTime(new Date(entry.lastObserved)) };
    try {
      await this.rest.mergePatch(Resources.Event, entry.name, entry.namespace, { series });
      entry.written = count;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // The API server expired the Event (event-ttl): start a new one carrying the count.
      entry.name = eventName(String((entry.event.regarding as ObjectReference).name), this.now());
      await this.create(entry);
    }
  }

  private flushSeries(): void {
    const t = this.now();
    for (const [key, entry] of this.cache) {
      if (entry.count > entry.written && entry.written > 0) this.enqueue(entry, () => this.writeSeries(entry));
      if (t - entry.lastObserved > this.finishMs && entry.count <= entry.written) this.cache.delete(key);
    }
  }

  private fail(reason: string, err: unknown, event: unknown): void {
    this.failures.inc({ reason });
    this.logger.error({ err, event }, 'could not record a Kubernetes Event (events are best effort; continuing)');
  }

  /** Writes pending series counts and waits for every queued write. */
  async flush(): Promise<void> {
    this.flushSeries();
    await Promise.all([...this.cache.values()].map((e) => e.chain));
    await this.writes.onIdle();
  }

  /** Flushes, then refuses further events. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    this.closed = true;
  }
}

/** client-go's `<name>.<unix nanos in hex>`, the name part cut so the whole stays within 253 characters. */
export function eventName(objectName: string, ms: number): string {
  const suffix = (BigInt(Math.floor(ms)) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000))).toString(16);
  return `${objectName.slice(0, 253 - suffix.length - 1).replace(/[.-]+$/, '')}.${suffix}`;
}

function truncateBytes(s: string, max: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= max) return s;
  // Cut on a character boundary.
  let end = max;
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}
