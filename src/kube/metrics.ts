import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Metrics are registered on a Registry that the caller passes in (never prom-client's global one), so that
 * several controllers, queues or tests can live in one process. One metric name exists once per registry and is
 * shared by every queue/informer/controller on it through its labels, hence get-or-create.
 */

type Config<L extends string> = { name: string; help: string; labelNames: readonly L[] };

function existing<M>(registry: Registry, name: string, ctor: abstract new (...a: never[]) => M): M | undefined {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return undefined;
  if (!(m instanceof ctor)) throw new Error(`metric ${name} is already registered with another type`);
  return m;
}

export function counter<L extends string>(registry: Registry, c: Config<L>): Counter<L> {
  return existing(registry, c.name, Counter<L>) ?? new Counter<L>({ ...c, registers: [registry] });
}

export function gauge<L extends string>(
  registry: Registry,
  c: Config<L> & { collect?: (this: Gauge<L>) => void },
): Gauge<L> {
  return existing(registry, c.name, Gauge<L>) ?? new Gauge<L>({ ...c, registers: [registry] });
}

export function histogram<L extends string>(registry: Registry, c: Config<L> & { buckets: number[] }): Histogram<L> {
  return existing(registry, c.name, Histogram<L>) ?? new Histogram<L>({ ...c, registers: [registry] });
}

/** prometheus.ExponentialBuckets(start, factor, count). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

/**
 * Gauges whose value is computed at scrape time from live objects (queues, informers). Each source registers a
 * callback under its label value; the gauge's collect() asks them all. Sources unregister when they stop.
 */
export class CollectedGauge<L extends string> {
  private readonly sources: Map<string, () => number>;
  private readonly gauge: Gauge<L>;
  constructor(registry: Registry, c: Config<L>, label: L) {
    const prior = registry.getSingleMetric(c.name);
    if (prior !== undefined) {
      const owner = collectedOwners.get(prior);
      if (!owner) throw new Error(`metric ${c.name} is already registered and not as a collected gauge`);
      this.gauge = prior as Gauge<L>;
      this.sources = owner;
      return;
    }
    const sources = new Map<string, () => number>();
    this.sources = sources;
    this.gauge = new Gauge<L>({
      ...c,
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, fn] of sources) this.set({ [label]: value } as Partial<Record<L, string>>, fn());
      },
    });
    collectedOwners.set(this.gauge, sources);
  }

  /** Reports `fn()` under label value `labelValue` at every scrape. */
  set(labelValue: string, fn: () => number): void {
    this.sources.set(labelValue, fn);
  }

  delete(labelValue: string): void {
    this.sources.delete(labelValue);
  }
}

const collectedOwners = new WeakMap<object, Map<string, () => number>>();
