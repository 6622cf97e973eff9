import type { IncomingMessage } from 'node:http';
import type { Registry } from 'prom-client';
import { type Logger, silentLogger } from './log.js';
import { CollectedGauge, counter } from './metrics.js';
import { backoffDelay } from './ratelimit.js';
import {
  apiVersionOf,
  isGone,
  KubeApiError,
  type KubeList,
  type KubeObject,
  type KubeRest,
  type KubeStatus,
  type ResourceType,
  resourcePath,
} from './rest.js';
import { sleep } from './sleep.js';

/**
 * A robust informer: list + watch of one resource into a local cache, with handlers for add/update/delete.
 *
 * Built directly on list and watch requests (through KubeRest, authenticated by our own kubeconfig.ts) rather than
 * on @kubernetes/client-node's `makeInformer`, because that informer (ListWatch in cache.js, 1.4):
 * - stops for good on any error except 410 (a network blip, a 403, a deleted CRD, an API server restart);
 * - cannot ask for bookmarks or a server-side watch timeout, so a watch that went silent is never noticed;
 * - never relists while its watch looks fine, so a missed event stays missed;
 * - lists without pagination, caches whole objects (managedFields included) and ignores undecodable lines.
 * Here: any error → backoff (exponential, jittered, capped) → relist (diffed against the cache, emitting the
 * adds/updates/deletes that were missed) → watch; a periodic relist does the same on a healthy watch; a watch
 * silent for longer than the liveness timeout (bookmarks keep quiet watches talking) is torn down and rebuilt.
 * A failed list changes nothing in the cache, a 404 included (a kind whose CRD was deleted, or not yet served):
 * deletes are emitted only from a list that worked or from the watch, never inferred from an error.
 */

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  /** `finalStateUnknown`: the delete was found by a relist, `obj` is the last state this cache saw. */
  onDelete?(obj: T, info: { finalStateUnknown: boolean }): void;
}

export interface InformerOptions<T extends KubeObject> {
  rest: KubeRest;
  resource: ResourceType;
  /** Metrics/log label; default `<plural>.<group>` plus the namespace and selector. */
  name?: string;
  /** Only this namespace (namespaced kinds); default all namespaces. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Shrinks each object before it is cached and handed to handlers; default drops metadata.managedFields. */
  transform?: (obj: KubeObject) => T;
  /** Full relist on a healthy watch every this many ms (±10% jitter); 0 disables. Default 10 min. */
  relistIntervalMs?: number;
  /** Server-side watch timeout; default a random 300–600 s per watch (client-go's spread). */
  watchTimeoutSeconds?: number;
  /**
   * A watch with no event or bookmark for this long is rebuilt. Default 5 min: a quiet watch on kube-apiserver
   * 1.37 was measured to get bookmarks at 0 s, 121 s, 181 s and just before its timeout, so gaps of 2 min happen.
   */
  livenessTimeoutMs?: number;
  /** Restart backoff; default 800 ms doubling to 30 s, jittered (client-go's reflector). */
  backoff?: { initialMs: number; maxMs: number };
  /** A watch that stayed open this long resets the backoff. Default 60 s. */
  backoffResetMs?: number;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /** /healthz fails after this long without a working watch. Default 5 min. */
  unhealthyAfterMs?: number;
  logger?: Logger;
  registry?: Registry;
}

export interface InformerHealth {
  name: string;
  synced: boolean;
  watching: boolean;
  /** ms since the last watch event or bookmark (or since the watch opened). */
  lastEventAgeMs: number;
  /** ms since the informer last had an open, live watch (0 while it has one). */
  downForMs: number;
  restarts: number;
  lastError?: string;
}

/** client-go's MetaNamespaceKeyFunc: `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error('object without metadata.name');
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** The default transform: managedFields are often the largest part of an object and no controller reads them. */
export function stripManagedFields<T extends KubeObject>(obj: KubeObject): T {
  if (obj.metadata && 'managedFields' in obj.metadata) {
    const { managedFields: _dropped, ...metadata } = obj.metadata;
    return { ...obj, metadata } as T;
  }
  return obj as T;
}

class LivenessTimeout extends Error {
  override readonly name = 'LivenessTimeout';
}

type WatchEnd = 'closed' | 'relist' | 'stopped';
type ListReason = 'initial' | 'periodic' | 'error' | 'gone' | 'manual';

interface InformerMetrics {
  restart(): void;
  list(reason: ListReason): void;
  event(type: string): void;
  handlerError(): void;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly name: string;
  private readonly o: InformerOptions<T>;
  private readonly logger: Logger;
  private readonly transform: (obj: KubeObject) => T;
  private readonly cache = new Map<string, T>();
  private readonly byNamespace = new Map<string, Set<string>>();
  private readonly handlers = new Set<InformerHandlers<T>>();
  private readonly metrics: InformerMetrics;
  private readonly collectionPath: string;
  private readonly livenessMs: number;
  private readonly unhealthyMs: number;
  private rv = '';
  private synced = false;
  private syncWaiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private running: Promise<void> | undefined;
  private stopCtl = new AbortController();
  private watchCtl: AbortController | undefined;
  private relistRequested = false;
  private watching = false;
  private lastEventAt = 0;
  /** Events received on the current (or last) watch. */
  private watchEvents = 0;
  private lastAliveAt = Date.now();
  private restarts = 0;
  private lastError: string | undefined;
  private listReason: ListReason = 'initial';

  constructor(opts: InformerOptions<T>) {
    this.o = opts;
    const rt = opts.resource;
    if (opts.namespace && !rt.namespaced)
      throw new Error(`${rt.plural} is cluster-scoped: it has no namespace to watch`);
    this.collectionPath = resourcePath(rt, { namespace: opts.namespace });
    const sel = [opts.namespace && `ns=${opts.namespace}`, opts.labelSelector, opts.fieldSelector].filter(Boolean);
    this.name = opts.name ?? `${rt.plural}${rt.group ? `.${rt.group}` : ''}${sel.length ? `[${sel.join(',')}]` : ''}`;
    this.logger = (opts.logger ?? silentLogger()).child({ informer: this.name });
    this.transform = opts.transform ?? stripManagedFields;
    this.livenessMs = opts.livenessTimeoutMs ?? 5 * 60_000;
    this.unhealthyMs = opts.unhealthyAfterMs ?? 5 * 60_000;
    this.metrics = opts.registry ? this.registerMetrics(opts.registry) : NO_METRICS;
  }

  private registerMetrics(r: Registry): InformerMetrics {
    const l = { informer: this.name };
    const restarts = counter(r, {
      name: 'tidemark_informer_restarts_total',
      help: 'Watch or list failures after which the informer backed off and relisted',
      labelNames: ['informer'],
    });
    const lists = counter(r, {
      name: 'tidemark_informer_relists_total',
      help: 'Full lists by reason (initial, periodic, error, gone, manual)',
      labelNames: ['informer', 'reason'],
    });
    const events = counter(r, {
      name: 'tidemark_informer_events_total',
      help: 'Watch events received, by type (ADDED, MODIFIED, DELETED, BOOKMARK)',
      labelNames: ['informer', 'type'],
    });
    const handlerErrors = counter(r, {
      name: 'tidemark_informer_handler_errors_total',
      help: 'Event handlers that threw (logged; the informer carries on)',
      labelNames: ['informer'],
    });
    const gauges: Array<[string, string, () => number]> = [
      [
        'tidemark_informer_last_event_age_seconds',
        'Seconds since the last watch event or bookmark',
        () => (this.lastEventAt ? (Date.now() - this.lastEventAt) / 1000 : 0),
      ],
      ['tidemark_informer_cache_objects', 'Objects in the informer cache', () => this.cache.size],
      ['tidemark_informer_watch_open', '1 while a watch is open', () => (this.watching ? 1 : 0)],
      ['tidemark_informer_synced', '1 once the first list completed', () => (this.synced ? 1 : 0)],
    ];
    for (const [name, help, fn] of gauges) {
      new CollectedGauge(r, { name, help, labelNames: ['informer'] }, 'informer').set(this.name, fn);
    }
    restarts.inc(l, 0);
    handlerErrors.inc(l, 0);
    return {
      restart: () => restarts.inc(l),
      list: (reason) => lists.inc({ ...l, reason }),
      event: (type) => events.inc({ ...l, type }),
      handlerError: () => handlerErrors.inc(l),
    };
  }

  /**
   * Adds handlers; returns a function that removes them. Handlers added after the first sync first get an add
   * for every cached object (like client-go). Handlers must not throw: a throw is logged and counted.
   */
  addHandlers(h: InformerHandlers<T>): () => void {
    this.handlers.add(h);
    if (this.synced) for (const obj of this.cache.values()) this.call(h, 'onAdd', obj);
    return () => this.handlers.delete(h);
  }

  /**
   * One handler for every change: `(obj)` on add and delete, `(newObj, oldObj)` on update. Returns a remover.
   * (The shape the controller manager's CacheInformer expects.)
   */
  onChange(handler: (obj: T, old?: T) => void): () => void {
    return this.addHandlers({
      onAdd: (obj) => handler(obj),
      onUpdate: (old, obj) => handler(obj, old),
      onDelete: (obj) => handler(obj),
    });
  }

  start(): void {
    if (this.running) return;
    this.stopCtl = new AbortController();
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopCtl.abort();
    this.watchCtl?.abort();
    const pending = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of pending) w.reject(new Error(`informer ${this.name} stopped before it synced`));
    await this.running;
    this.running = undefined;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    if (!this.running) return Promise.reject(new Error(`informer ${this.name} is not running`));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.syncWaiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          this.syncWaiters = this.syncWaiters.filter((w) => w !== waiter);
          reject(signal.reason ?? new Error('aborted'));
        },
        { once: true },
      );
    });
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  getByKey(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** Every cached object, or those of one namespace (from a namespace index, not a scan). */
  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.cache.values()];
    const keys = this.byNamespace.get(namespace);
    return keys ? [...keys].map((k) => this.cache.get(k) as T) : [];
  }

  private store(key: string, obj: T): T | undefined {
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    const ns = obj.metadata?.namespace;
    if (!old && ns) {
      let keys = this.byNamespace.get(ns);
      if (!keys) this.byNamespace.set(ns, (keys = new Set()));
      keys.add(key);
    }
    return old;
  }

  private forget(key: string): T | undefined {
    const old = this.cache.get(key);
    if (!old) return undefined;
    this.cache.delete(key);
    const ns = old.metadata?.namespace;
    const keys = ns ? this.byNamespace.get(ns) : undefined;
    if (ns && keys) {
      keys.delete(key);
      if (keys.size === 0) this.byNamespace.delete(ns);
    }
    return old;
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  get size(): number {
    return this.cache.size;
  }

  /** The resourceVersion the cache is at ('' before the first list). */
  resourceVersion(): string {
    return this.rv;
  }

  /** Asks for a relist now (the open watch is closed and rebuilt after the list). */
  relist(): void {
    this.relistRequested = true;
    this.listReason = 'manual';
    this.watchCtl?.abort();
  }

  health(): InformerHealth {
    const now = Date.now();
    const alive = this.watching && now - this.lastEventAt <= this.livenessMs;
    if (alive) this.lastAliveAt = now;
    return {
      name: this.name,
      synced: this.synced,
      watching: this.watching,
      lastEventAgeMs: this.lastEventAt ? now - this.lastEventAt : 0,
      downForMs: alive ? 0 : now - this.lastAliveAt,
      restarts: this.restarts,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** For /healthz: false once the informer has had no live watch for longer than `unhealthyAfterMs`. */
  isHealthy(): boolean {
    return this.running !== undefined && this.health().downForMs <= this.unhealthyMs;
  }

  private async loop(): Promise<void> {
    const stop = this.stopCtl.signal;
    let failures = 0;
    let quickCloses = 0;
    let needList = true;
    while (!stop.aborted) {
      try {
        if (needList || this.relistRequested) {
          this.relistRequested = false;
          await this.listAndDiff(stop);
          needList = false;
        }
        const opened = Date.now();
        const end = await this.watch(stop);
        if (Date.now() - opened >= (this.o.backoffResetMs ?? 60_000)) failures = 0;
        if (end === 'relist') needList = true;
        if (end === 'closed' && Date.now() - opened < 1000 && this.watchEvents === 0) {
          // Watches that end at once without a single event, again and again, are a failure in disguise (a proxy
          // or server that drops them): back off instead of spinning. One such close is just a cut connection.
          if (++quickCloses >= 3) throw new Error(`${quickCloses} watches in a row closed at once without events`);
        } else {
          quickCloses = 0;
        }
      } catch (err) {
        if (stop.aborted) break;
        needList = true;
        if (isGone(err)) {
          // Our resourceVersion is too old (compacted): relist at once, no backoff (client-go does the same).
          this.rv = '';
          this.listReason = 'gone';
          this.logger.info('resourceVersion expired; relisting');
          continue;
        }
        quickCloses = 0;
        this.restarts++;
        this.metrics.restart();
        this.lastError = err instanceof Error ? err.message : String(err);
        this.listReason = 'error';
        const delay = backoffDelay(failures++, this.o.backoff ?? { initialMs: 800, maxMs: 30_000 });
        this.logger.warn(
          { err, retryInMs: Math.round(delay), failures },
          'list/watch failed; restarting after backoff',
        );
        await sleep(delay, stop);
      }
    }
    this.watching = false;
  }

  private path(): string {
    return this.collectionPath;
  }

  /** Lists every page and makes the cache equal to the result, emitting the differences. */
  private async listAndDiff(signal: AbortSignal): Promise<void> {
    const reason = this.listReason;
    this.listReason = 'periodic';
    const seen = new Set<string>();
    let cont: string | undefined;
    let rv = '';
    const { group, version, kind } = this.o.resource;
    do {
      const page: KubeList<KubeObject> = await this.o.rest.request('GET', this.path(), {
        query: {
          limit: this.o.pageSize ?? 500,
          continue: cont,
          labelSelector: this.o.labelSelector,
          fieldSelector: this.o.fieldSelector,
        },
        signal,
        timeoutMs: 120_000,
      });
      for (const raw of page.items ?? []) {
        // Items of core lists carry no apiVersion/kind; handlers and Events need them.
        raw.apiVersion ??= apiVersionOf({ group, version });
        raw.kind ??= kind;
        const obj = this.transform(raw);
        const key = objectKey(obj);
        seen.add(key);
        this.upsert(key, obj);
      }
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? '';
    } while (cont);
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.forget(key);
        this.emit('onDelete', old, { finalStateUnknown: true });
      }
    }
    this.rv = rv;
    this.metrics.list(reason);
    this.logger.debug({ reason, objects: this.cache.size, resourceVersion: rv }, 'listed');
    if (!this.synced) {
      this.synced = true;
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const w of waiters) w.resolve();
    }
  }

  private upsert(key: string, obj: T): void {
    const old = this.store(key, obj);
    if (!old) this.emit('onAdd', obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('onUpdate', old, obj);
  }

  private emit(kind: 'onAdd' | 'onUpdate' | 'onDelete', a: T, b?: T | { finalStateUnknown: boolean }): void {
    for (const h of this.handlers) this.call(h, kind, a, b);
  }

  private call(h: InformerHandlers<T>, kind: 'onAdd' | 'onUpdate' | 'onDelete', a: T, b?: unknown): void {
    try {
      if (kind === 'onAdd') h.onAdd?.(a);
      else if (kind === 'onUpdate') h.onUpdate?.(a, b as T);
      else h.onDelete?.(a, b as { finalStateUnknown: boolean });
    } catch (err) {
      this.metrics.handlerError();
      this.logger.error({ err, handler: kind }, 'informer event handler threw (a bug in the handler); continuing');
    }
  }

  /** One watch from this.rv; resolves how it ended, rejects on any error (including an ERROR event). */
  private async watch(stop: AbortSignal): Promise<WatchEnd> {
    // stop() may have run while the list was finishing: its abort event is gone, so look at the flag.
    if (stop.aborted) return 'stopped';
    const ctl = new AbortController();
    this.watchCtl = ctl;
    const onStop = (): void => ctl.abort();
    stop.addEventListener('abort', onStop, { once: true });
    const timeout = this.o.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);
    // The liveness deadline covers the wait for the response too: a watch whose headers never come is as dead as
    // a silent one.
    const connectTimer = setTimeout(() => {
      connectTimedOut = true;
      ctl.abort();
    }, this.livenessMs);
    let connectTimedOut = false;
    let res: IncomingMessage;
    try {
      res = await this.o.rest.stream(
        this.path(),
        {
          watch: 'true',
          resourceVersion: this.rv,
          allowWatchBookmarks: 'true',
          timeoutSeconds: timeout,
          labelSelector: this.o.labelSelector,
          fieldSelector: this.o.fieldSelector,
        },
        ctl.signal,
      );
    } catch (err) {
      stop.removeEventListener('abort', onStop);
      if (stop.aborted) return 'stopped';
      if (connectTimedOut) throw new LivenessTimeout(`watch not established within ${this.livenessMs} ms`);
      if (ctl.signal.aborted && this.relistRequested) return 'relist';
      throw err;
    } finally {
      clearTimeout(connectTimer);
    }
    this.watching = true;
    this.watchEvents = 0;
    this.lastEventAt = Date.now();
    this.lastAliveAt = this.lastEventAt;
    const { group, version, kind } = this.o.resource;
    const apiVersion = apiVersionOf({ group, version });
    return new Promise<WatchEnd>((resolve, reject) => {
      let buffer = '';
      let settled = false;
      const relistMs = this.o.relistIntervalMs ?? 10 * 60_000;
      const relistTimer =
        relistMs > 0
          ? setTimeout(
              () => {
                this.listReason = 'periodic';
                finish(null, 'relist');
              },
              relistMs * (0.9 + Math.random() * 0.2),
            )
          : undefined;
      const livenessTimer = setInterval(
        () => {
          if (Date.now() - this.lastEventAt > this.livenessMs) {
            finish(new LivenessTimeout(`watch silent for more than ${this.livenessMs} ms`));
          }
        },
        Math.max(10, Math.min(this.livenessMs / 4, 5000)),
      );
      const finish = (err: unknown, end: WatchEnd = 'closed'): void => {
        if (settled) return;
        settled = true;
        clearTimeout(relistTimer);
        clearInterval(livenessTimer);
        stop.removeEventListener('abort', onStop);
        if (this.watching && Date.now() - this.lastEventAt <= this.livenessMs) this.lastAliveAt = Date.now();
        this.watching = false;
        if (this.watchCtl === ctl) this.watchCtl = undefined;
        ctl.abort();
        res.destroy();
        if (stop.aborted) resolve('stopped');
        else if (err) reject(err);
        else resolve(end);
      };
      ctl.signal.addEventListener('abort', () => finish(null, this.relistRequested ? 'relist' : 'closed'), {
        once: true,
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl = buffer.indexOf('\n');
        while (nl >= 0 && !settled) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          nl = buffer.indexOf('\n');
          if (line === '') continue;
          try {
            this.onEvent(line, apiVersion, kind);
          } catch (err) {
            finish(err);
          }
        }
      });
      res.on('end', () => finish(null, 'closed'));
      res.on('error', (err) => {
        // A stream that breaks after it was established (connection reset, proxy or API server restart) lost
        // nothing: the next watch resumes from the last resourceVersion, as client-go does on unexpected EOF.
        // Repeated breaks count as quick closes above and end in backoff + relist.
        if (!settled) this.logger.info({ err: err.message, resourceVersion: this.rv }, 'watch stream broke; resuming');
        finish(null, 'closed');
      });
      res.on('close', () => finish(null, 'closed'));
    });
  }

  private onEvent(line: string, apiVersion: string, kind: string): void {
    let event: { type?: string; object?: KubeObject };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      throw new Error(`undecodable watch event: ${line.slice(0, 200)}`);
    }
    const type = event.type ?? '';
    const raw = event.object;
    if (!raw) throw new Error(`watch event ${type} without an object`);
    this.lastEventAt = Date.now();
    this.lastAliveAt = this.lastEventAt;
    this.watchEvents++;
    this.metrics.event(type);
    if (type === 'ERROR') {
      const status = raw as KubeStatus;
      throw new KubeApiError(
        status.code ?? 500,
        status.reason ?? 'WatchError',
        status.message ?? 'error event in watch',
        'WATCH',
        this.path(),
      );
    }
    const rv = raw.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv) this.rv = rv;
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') {
      throw new Error(`unknown watch event type ${JSON.stringify(type)}`);
    }
    raw.apiVersion ??= apiVersion;
    raw.kind ??= kind;
    const obj = this.transform(raw);
    const key = objectKey(obj);
    if (type === 'DELETED') {
      if (this.forget(key)) this.emit('onDelete', obj, { finalStateUnknown: false });
    } else {
      this.upsert(key, obj);
    }
    if (rv) this.rv = rv;
  }
}

const NO_METRICS: InformerMetrics = { restart() {}, list() {}, event() {}, handlerError() {} };
