// The running controller: informers over the six kinds it reads, one keyed work queue, the Checkpoint and policy
// reconcilers, a jittered periodic resync with the orphan scan, leader election, and the health/metrics server.
//
// Keys: `job:<namespace>/<name>` (one logical job name: its Checkpoint and the jobs that may claim it) and
// `policy:<name>` (a CheckpointPolicy's status). One queue serialises each key, so one job is reconciled by one
// worker at a time.
import type { Registry } from 'prom-client';
import type { AccessBackend, AccessMode } from '../access/backend.js';
import type { Checkpoint, CheckpointPolicy } from '../api/index.js';
import { KubeCheckpointWriter } from '../checkpoint/kube-writer.js';
import { scanPolicyRoot } from '../checkpoint/orphan-scan.js';
import { CheckpointReconciler, type OrphanCandidate } from '../checkpoint/reconciler.js';
import type { ClusterView, EventSink } from '../checkpoint/world.js';
import type { Gcs } from '../gcs/client.js';
import { type ReconcileResult, type RunningController, runController } from '../kube/controller.js';
import type { Logger } from '../kube/log.js';
import { Resources } from '../kube/resources.js';
import { isConflict, isNotFound, type KubeRest } from '../kube/rest.js';
import { WorkQueue } from '../kube/workqueue.js';
import { logicalJobOf, type SparkApplicationLike } from '../policy/job.js';
import { PolicySet } from '../policy/plan.js';
import { PolicyStatusReconciler } from './policy-status.js';

/** What the manager needs of an informer (src/kube/informer.ts provides it). */
export interface CacheInformer<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): T[];
  /** Registers a handler; returns how to remove it (the manager removes its handlers when it stops). */
  onChange(handler: (obj: T, old?: T) => void): (() => void) | undefined;
}

export interface Informers {
  policies: CacheInformer<CheckpointPolicy>;
  checkpoints: CacheInformer<Checkpoint>;
  sparkApplications: CacheInformer<SparkApplicationLike & { metadata: { name?: string; namespace?: string } }>;
  scheduledSparkApplications: CacheInformer<{
    metadata: { name?: string; namespace?: string; labels?: Record<string, string> };
  }>;
  namespaces: CacheInformer<{ metadata: { name?: string; labels?: Record<string, string> } }>;
  serviceAccounts: CacheInformer<{
    metadata: { name?: string; namespace?: string; annotations?: Record<string, string> };
  }>;
}

export interface ManagerOptions {
  rest: KubeRest;
  informers: Informers;
  gcs: Gcs;
  backend: (mode: AccessMode) => AccessBackend;
  events: EventSink;
  logger: Logger;
  registry?: Registry;
  concurrency: number;
  /** Full resync period (each run jittered by up to +20%). */
  resyncMs: number;
  /**
   * Whether a change of the job is handed to an access backend and not answered yet (the answer wakes the job):
   * the job's failure backoff is then kept, not reset, by a reconcile that ends waiting for it.
   */
  awaitingWake?: (namespace: string, name: string) => boolean;
}

export interface RunningManager {
  /** Enqueue every key now (what the periodic resync does). */
  resyncNow(): Promise<void>;
  /** Queues a job's key: an access backend's change for it was answered (see AccessBackend.submit). */
  wake(namespace: string, name: string): void;
  stop(opts?: { drain?: boolean }): Promise<void>;
}

const JOB = 'job:';

/** True when only status (and the resourceVersion that comes with it) differs. */
function statusOnlyChange<T extends { metadata: { resourceVersion?: string; managedFields?: unknown } }>(
  a: T,
  b: T,
): boolean {
  const m = (c: T & { spec?: unknown }) => {
    const { resourceVersion: _rv, managedFields: _mf, ...meta } = c.metadata;
    return JSON.stringify([meta, c.spec]);
  };
  return m(a) === m(b);
}
const POLICY = 'policy:';

export function startManager(opts: ManagerOptions): RunningManager {
  const { informers: inf, logger } = opts;
  let policySet: PolicySet | undefined;
  const orphans = new Map<string, OrphanCandidate>();
  // Keys whose next reconcile must read GCS (drift repair): every job key on a periodic or explicit resync. The
  // first pass after start (a cold start, or a new leader) trusts a record that proves the grant settled.
  const verify = new Set<string>();

  const view: ClusterView = {
    policySet: () => {
      policySet ??= new PolicySet(inf.policies.list());
      return policySet;
    },
    policies: () => inf.policies.list(),
    namespaceLabels: (ns) => {
      const n = inf.namespaces.get(ns);
      return n ? (n.metadata.labels ?? {}) : undefined;
    },
    namespaceTerminating: (ns) => {
      const n = inf.namespaces.get(ns) as { metadata: { deletionTimestamp?: unknown } } | undefined;
      return n?.metadata.deletionTimestamp !== undefined && n?.metadata.deletionTimestamp !== null;
    },
    serviceAccount: (ns, name) => inf.serviceAccounts.get(name, ns),
    sparkApplication: (ns, name) => inf.sparkApplications.get(name, ns) as ReturnType<ClusterView['sparkApplication']>,
    scheduledSparkApplication: (ns, name) =>
      inf.scheduledSparkApplications.get(name, ns) as ReturnType<ClusterView['scheduledSparkApplication']>,
    checkpoint: (ns, name) => inf.checkpoints.get(name, ns),
    checkpoints: () => inf.checkpoints.list(),
  };

  const reconciler = new CheckpointReconciler({
    view,
    writer: new KubeCheckpointWriter(opts.rest),
    events: opts.events,
    backend: opts.backend,
    // Before revoking the grants of a namespace the cache does not know, ask the API server (get namespaces).
    namespaceGone: async (ns) => {
      try {
        await opts.rest.get(Resources.Namespace, ns);
        return false;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    },
    mustVerify: (ns, name) => verify.delete(`${ns}/${name}`),
    takeOrphan: (ns, name) => {
      const key = `${ns}/${name}`;
      const o = orphans.get(key);
      orphans.delete(key);
      return o;
    },
  });
  const policyStatus = new PolicyStatusReconciler({ rest: opts.rest, view, gcs: opts.gcs, events: opts.events });

  const queue = new WorkQueue({ name: 'tidemark', registry: opts.registry });
  const enqueueJob = (ns: string | undefined, name: string | undefined) => {
    if (ns && name) queue.add(`${JOB}${ns}/${name}`);
  };
  const enqueuePolicy = (name: string | undefined) => {
    if (name) queue.add(`${POLICY}${name}`);
  };
  // A policy's counts follow its Checkpoints at most once a second: under churn (1,000 jobs provisioning) that is one
  // status write a second instead of one per Checkpoint write.
  const POLICY_COUNTS_DELAY_MS = 1000;
  const enqueuePolicyCounts = (name: string | undefined) => {
    if (name) queue.addAfter(`${POLICY}${name}`, POLICY_COUNTS_DELAY_MS);
  };
  const enqueueNamespace = (ns: string | undefined) => {
    for (const a of inf.sparkApplications.list(ns)) enqueueApp(a);
    for (const s of inf.scheduledSparkApplications.list(ns)) enqueueJob(s.metadata.namespace, s.metadata.name);
    for (const c of inf.checkpoints.list(ns)) enqueueJob(c.metadata.namespace, c.metadata.name);
  };
  const enqueueApp = (a: SparkApplicationLike) => {
    const r = logicalJobOf(a);
    // A run of a scheduled job stands for the scheduled job; an inconsistent one is reported under its own name.
    enqueueJob(a.metadata.namespace ?? undefined, r.kind === 'Job' ? r.job.name : (a.metadata.name ?? undefined));
  };
  const enqueueAll = () => {
    enqueueNamespace(undefined);
    for (const p of inf.policies.list()) enqueuePolicy(p.metadata.name);
  };

  const unsubscribe: ((() => void) | undefined)[] = [];
  unsubscribe.push(inf.sparkApplications.onChange((a) => enqueueApp(a)));
  unsubscribe.push(inf.scheduledSparkApplications.onChange((s) => enqueueJob(s.metadata.namespace, s.metadata.name)));
  const onCheckpoint = inf.checkpoints.onChange((c, old) => {
    // A status-only change is this controller's own write: the job needs no second look (saves a GCS read per
    // status write); the policy's counts may have changed, though. A phase change (the GC fencing or giving a
    // Checkpoint back) does need one: a job may be waiting for it.
    if (!old || !statusOnlyChange(old, c) || old.status?.phase !== c.status?.phase)
      enqueueJob(c.metadata.namespace, c.metadata.name);
    enqueuePolicyCounts(c.spec?.policyName);
    if (old && old.spec?.policyName !== c.spec?.policyName) enqueuePolicyCounts(old.spec?.policyName);
  });
  unsubscribe.push(onCheckpoint);
  unsubscribe.push(
    inf.policies.onChange((p, old) => {
      policySet = undefined;
      // A status-only change (this controller's counts and conditions, the GC's run report) changes no job's plan:
      // re-queueing every job for it made each Checkpoint write cost a pass over all jobs.
      if (!old || !statusOnlyChange(old, p)) enqueueAll();
      enqueuePolicy(p.metadata.name);
    }),
  );
  unsubscribe.push(
    inf.namespaces.onChange((n, old) => {
      if (!old || JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(n.metadata.labels ?? {})) {
        enqueueNamespace(n.metadata.name);
      }
    }),
  );
  unsubscribe.push(inf.serviceAccounts.onChange((sa) => enqueueNamespace(sa.metadata.namespace)));

  const controller: RunningController = runController({
    name: 'checkpoint',
    queue,
    concurrency: opts.concurrency,
    registry: opts.registry,
    logger,
    reconcile: async (key) => {
      try {
        return await reconcileKey(key);
      } catch (err) {
        // A write against a cache that lagged behind the API server: try again shortly, with fresh data. Not an error.
        if (isConflict(err)) return { requeueAfter: 250 };
        throw err;
      }
    },
  });

  async function reconcileKey(key: string): Promise<ReconcileResult | undefined> {
    if (key.startsWith(POLICY)) {
      const r = await policyStatus.reconcile(key.slice(POLICY.length));
      return r.requeueAfterMs !== undefined ? { requeueAfter: r.requeueAfterMs } : undefined;
    }
    if (!key.startsWith(JOB)) throw new Error(`unknown work-queue key ${key}`);
    const rest = key.slice(JOB.length);
    const slash = rest.indexOf('/');
    const [namespace, name] = [rest.slice(0, slash), rest.slice(slash + 1)];
    const r = await reconciler.reconcile(namespace, name);
    // A change handed over and not answered: its answer wakes the key. Resetting the backoff here would retry a
    // change that keeps failing at the writer's pace forever (each failure followed by an immediate hand-over).
    const result: ReconcileResult = {};
    if (r.requeueAfterMs !== undefined) result.requeueAfter = r.requeueAfterMs;
    if (opts.awaitingWake?.(namespace, name)) result.awaitingWake = true;
    return result;
  }

  /** Scans every valid policy's root for prefixes no Checkpoint records and queues them as orphan candidates. */
  const scanOrphans = async () => {
    const set = view.policySet();
    for (const p of inf.policies.list()) {
      const resolved = set.get(p.metadata.name ?? '');
      // A shadowed policy (its root overlaps an older one's) acts on nothing, the scan included.
      if (!resolved?.ok || set.shadowedBy(resolved.policy.name) !== undefined) continue;
      const { name, bucket } = resolved.policy;
      try {
        const res = await scanPolicyRoot(
          opts.gcs.storage,
          resolved.policy,
          (ns, job) => inf.checkpoints.get(job, ns) !== undefined,
          { rootOwnerOf: (prefix) => set.rootOwnerOf(name, bucket, prefix) },
        );
        for (const c of res.candidates) {
          orphans.set(`${c.namespace}/${c.name}`, c.candidate);
          enqueueJob(c.namespace, c.name);
        }
        if (res.unrecognised.length > 0) {
          logger.warn(
            { policy: resolved.policy.name, prefixes: res.unrecognised.slice(0, 20) },
            'prefixes under the policy root that are not <namespace>/<job>/',
          );
        }
      } catch (err) {
        logger.error({ err, policy: resolved.policy.name }, 'orphan scan failed');
        opts.events.event(
          { apiVersion: p.apiVersion, kind: p.kind, name: p.metadata.name ?? '', uid: p.metadata.uid },
          'Warning',
          'OrphanScanFailed',
          `Could not list gs://${resolved.policy.bucket}/${resolved.policy.rootPrefix}/: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  };

  const resyncNow = async (opts: { verify?: boolean } = { verify: true }) => {
    if (opts.verify) {
      // Rebuilt, not added to: a key is taken only by a bind, so keys of Released or deleted Checkpoints would
      // otherwise stay for the life of the process.
      verify.clear();
      for (const c of inf.checkpoints.list()) verify.add(`${c.metadata.namespace}/${c.metadata.name}`);
    }
    enqueueAll();
    await scanOrphans();
  };

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    const delay = opts.resyncMs * (1 + Math.random() * 0.2);
    timer = setTimeout(() => {
      resyncNow()
        .catch((err) => logger.error({ err }, 'resync failed'))
        .finally(schedule);
    }, delay);
    timer.unref();
  };
  // The first full pass right away: it also finds orphans left while no controller ran.
  resyncNow({ verify: false }).catch((err) => logger.error({ err }, 'initial resync failed'));
  schedule();

  return {
    resyncNow: () => resyncNow(),
    wake: (ns, name) => enqueueJob(ns, name),
    async stop(stopOpts) {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const off of unsubscribe) off?.();
      await controller.stop(stopOpts);
      await queue.shutdown({ drain: stopOpts?.drain ?? true });
    },
  };
}
