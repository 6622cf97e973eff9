// Runs the Tidemark controller in this process: clients, informers, health/metrics server, leader election, and
// the manager while leading. Used by `tidemark controller`, by the playground (through the CLI) and by tests.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AccessBackend, AccessMode } from '../access/backend.js';
import { BucketConditionBackend } from '../access/bucket-condition-backend.js';
import { ManagedFolderBackend } from '../access/managed-folder-backend.js';
import { type AdmissionConfig, type RunningAdmission, startAdmission } from '../admission/index.js';
import type { Checkpoint, CheckpointPolicy } from '../api/index.js';
import type { EventSink } from '../checkpoint/world.js';
import { type RunningGc, startGc as startGcOnLeader } from '../gc/controller.js';
import { createGcs, type GcsClientOptions } from '../gcs/client.js';
import { EventRecorder } from '../kube/events.js';
import { type HealthServer, informerLiveness, informerSynced, startHealthServer } from '../kube/health.js';
import { Informer } from '../kube/informer.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { defaultIdentity, LeaderElector } from '../kube/leader.js';
import type { Logger } from '../kube/log.js';
import { Resources } from '../kube/resources.js';
import { type KubeObject, KubeRest } from '../kube/rest.js';
import { readOnlyCacheTransform, sparkJobCacheTransform } from './cache-transforms.js';
import { watchRequiredCrds } from './crd-check.js';
import { fencedRest } from './fence.js';
import { type Informers, type RunningManager, startManager } from './manager.js';

export interface ControllerConfig {
  kubeconfig?: string | undefined;
  gcs: GcsClientOptions;
  logger: Logger;
  /** Reconciles at once. */
  concurrency: number;
  resyncMs: number;
  /** Health and metrics server; port 0 picks a free one. */
  healthHost: string;
  healthPort: number;
  leaderElection: boolean;
  leaseNamespace: string;
  leaseName: string;
  identity?: string | undefined;
  /** BucketCondition mode: minimum time between two writes of one bucket's policy. */
  bucketWriteIntervalMs?: number | undefined;
  /** The admission webhooks (src/admission); undefined: none. */
  webhook?: AdmissionConfig | undefined;
  /** How long a GC run's per-policy Lease lasts without renewal (default 30 s). */
  gcLeaseDurationMs?: number | undefined;
}

export interface RunningControllerProcess {
  health: HealthServer;
  identity: string;
  /** The webhook server, on every replica (undefined when off). */
  admission?: RunningAdmission | undefined;
  isLeader(): boolean;
  /** Enqueues everything and scans for orphans now (only while leading). */
  resyncNow(): Promise<void>;
  /** Runs a policy's garbage collection now (only while leading); resolves when it ends. */
  gcNow(policy: string): Promise<void>;
  /** Resolves when the last leadership term that ended has stopped all its work. */
  idle(): Promise<void>;
  /** Graceful: stops taking work, finishes in-flight reconciles, releases the lease. */
  stop(): Promise<void>;
}

export async function startController(cfg: ControllerConfig): Promise<RunningControllerProcess> {
  const { logger } = cfg;
  const { kubeConfig, origin } = loadKubeConfig(cfg.kubeconfig ? { kubeconfig: cfg.kubeconfig } : {});
  logger.info({ origin, server: kubeConfig.getCurrentCluster()?.server }, 'kubeconfig loaded');
  const rest = new KubeRest(kubeConfig);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const identity = cfg.identity ?? defaultIdentity();

  const informer = <T extends KubeObject>(
    resource: (typeof Resources)[keyof typeof Resources],
    transform?: (obj: KubeObject) => T,
  ) => new Informer<T>({ rest, resource, logger, registry, ...(transform ? { transform } : {}) });
  const inf = {
    policies: informer<CheckpointPolicy & KubeObject>(Resources.CheckpointPolicy),
    checkpoints: informer<Checkpoint & KubeObject>(Resources.Checkpoint),
    sparkApplications: informer(Resources.SparkApplication, sparkJobCacheTransform),
    scheduledSparkApplications: informer(Resources.ScheduledSparkApplication, sparkJobCacheTransform),
    namespaces: informer(Resources.Namespace),
    serviceAccounts: informer(Resources.ServiceAccount, readOnlyCacheTransform),
  };
  const all = Object.values(inf) as Informer[];
  let admission: RunningAdmission | undefined;

  const health = await startHealthServer({
    registry,
    host: cfg.healthHost,
    port: cfg.healthPort,
    logger,
    liveness: all.map(informerLiveness),
    readiness: [
      ...all.map(informerSynced),
      {
        name: 'webhook-server',
        check: () => ({ ok: !cfg.webhook || admission !== undefined, message: 'webhook server not serving yet' }),
      },
    ],
  });
  logger.info({ url: health.url }, 'health and metrics server listening');
  // Missing CRDs (e.g. no Spark Operator) are named in the log and in /readyz instead of a silent backoff.
  const crds = watchRequiredCrds({ rest, resources: Object.values(Resources), logger });
  health.addReadiness(crds.check);

  for (const i of all) i.start();
  await Promise.all(all.map((i) => i.waitForSync()));
  logger.info('caches synced');

  // Admission serves on every replica (not only the leader), so it has its own, unfenced event recorder.
  const admissionRecorder = new EventRecorder({ rest, reportingInstance: identity, logger, registry });
  const admissionEvents: EventSink = {
    event(regarding, type, reason, message) {
      admissionRecorder.record(
        { ...regarding, namespace: regarding.namespace ?? undefined } as Parameters<EventRecorder['record']>[0],
        { type, reason, action: 'Admit', note: message },
      );
    },
  };
  admission = cfg.webhook
    ? await startAdmission({
        config: cfg.webhook,
        rest,
        caches: inf as never,
        events: admissionEvents,
        logger,
        registry,
      })
    : undefined;

  const gcsRequests = new Counter({
    name: 'tidemark_gcs_requests_total',
    help: 'Cloud Storage calls made by the access backends, by method and HTTP status',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  const gcsLatency = new Histogram({
    name: 'tidemark_gcs_request_duration_seconds',
    help: 'Cloud Storage call latency, by method',
    labelNames: ['method'],
    registers: [registry],
  });
  const gcsOptions = {
    ...cfg.gcs,
    onCall: (method: string, code: number, ms: number) => {
      gcsRequests.inc({ method, code: String(code) });
      gcsLatency.observe({ method }, ms / 1000);
    },
  };

  // One leadership term: everything it acts through (Kubernetes client, GCS client, access backends, event
  // recorder) is fenced by the term's signal, so the moment leadership is lost nothing it started can write
  // (src/controller/fence.ts, issue 8 item 8). The informers are shared (they only read; a standby stays warm).
  let term:
    | {
        abort: AbortController;
        manager: RunningManager;
        gc: RunningGc;
        recorder: EventRecorder;
        /** Access changes handed to a backend and not answered yet. */
        pendingChanges: () => number;
      }
    | undefined;
  new Gauge({
    name: 'tidemark_access_changes_pending',
    help: 'Grant changes handed to an access backend (BucketCondition) whose write has not been answered yet',
    registers: [registry],
    collect() {
      this.set(term?.pendingChanges() ?? 0);
    },
  });
  let stopping: Promise<void> = Promise.resolve();
  const startLeading = (parent?: AbortSignal) => {
    const abortTerm = new AbortController();
    parent?.addEventListener('abort', () => abortTerm.abort(new Error('leadership lost')), { once: true });
    const signal = abortTerm.signal;
    const termRest = fencedRest(rest, signal);
    const gcs = createGcs({ ...gcsOptions, signal });
    const backends = new Map<AccessMode, AccessBackend>();
    // BucketCondition changes are handed over, not waited for: the writer wakes the job's key when one lands.
    let wake: (job: { namespace: string; name: string }) => void = () => {};
    /** The term's BucketCondition backend, if a job has used that mode yet. */
    const bucketCondition = () => {
      const b = backends.get('BucketCondition');
      return b instanceof BucketConditionBackend ? b : undefined;
    };
    const backend = (mode: AccessMode): AccessBackend => {
      let b = backends.get(mode);
      if (!b) {
        b =
          mode === 'ManagedFolder'
            ? new ManagedFolderBackend({ gcs })
            : new BucketConditionBackend({
                gcs,
                minWriteIntervalMs: cfg.bucketWriteIntervalMs,
                signal,
                wake: (job) => wake(job),
              });
        backends.set(mode, b);
      }
      return b;
    };
    const recorder = new EventRecorder({ rest: termRest, reportingInstance: identity, logger, registry });
    const events: EventSink = {
      event(regarding, type, reason, message) {
        if (signal.aborted) return;
        recorder.record(
          { ...regarding, namespace: regarding.namespace ?? undefined } as Parameters<EventRecorder['record']>[0],
          { type, reason, action: 'Reconcile', note: message },
        );
      },
    };
    const gc = startGcOnLeader({
      rest: termRest,
      policies: inf.policies,
      checkpoints: inf.checkpoints,
      gcs,
      backend,
      events,
      logger,
      registry,
      leaseNamespace: cfg.leaseNamespace,
      identity,
      leaseDurationMs: cfg.gcLeaseDurationMs,
    });
    const manager = startManager({
      rest: termRest,
      informers: inf as unknown as Informers,
      gcs,
      backend,
      events,
      logger,
      registry,
      concurrency: cfg.concurrency,
      resyncMs: cfg.resyncMs,
      awaitingWake: (namespace, name) => bucketCondition()?.awaitingWake({ namespace, name }) ?? false,
    });
    wake = (job) => manager.wake(job.namespace, job.name);
    const pendingChanges = () => bucketCondition()?.pending ?? 0;
    term = { abort: abortTerm, manager, gc, recorder, pendingChanges };
    admission?.startLeading();
  };
  /**
   * Ends the term. `drain` (SIGTERM): in-flight reconciles finish, events are flushed. Without (leadership lost,
   * the term's signal already aborted): every request of the term was aborted and is refused from now on; this
   * resolves when its reconciles have returned (they fail fast), so a new term never overlaps the old one.
   */
  const stopLeading = (opts: { drain: boolean }): Promise<void> => {
    const t = term;
    term = undefined;
    if (!t) return stopping;
    if (!opts.drain) t.abort.abort(new Error('leadership lost'));
    stopping = Promise.all([t.gc.stop(), t.manager.stop({ drain: opts.drain }), admission?.stopLeading()]).then(
      async () => {
        if (opts.drain) await t.recorder.close();
        t.abort.abort(new Error('term ended'));
        if (!opts.drain) await t.recorder.close().catch(() => undefined);
      },
    );
    return stopping;
  };

  const abort = new AbortController();
  let elector: LeaderElector | undefined;
  let electing: Promise<void> | undefined;
  if (cfg.leaderElection) {
    elector = new LeaderElector({
      rest,
      namespace: cfg.leaseNamespace,
      name: cfg.leaseName,
      identity,
      releaseOnCancel: true,
      logger,
      registry,
      onStartedLeading: async (signal) => {
        logger.info({ identity }, 'started leading');
        startLeading(signal);
        // The elector awaits this before it stands again: the term is over only when all its work has stopped.
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        const cancelled = term !== undefined;
        await stopLeading({ drain: false });
        if (cancelled) logger.warn({ identity }, 'leadership ended: in-flight work cancelled, all acting stopped');
      },
      onStoppedLeading: () => logger.info({ identity }, 'stopped leading'),
      onNewLeader: (id) => logger.info({ leader: id }, 'leader observed'),
    });
    electing = elector
      .runUntilCancelled(abort.signal)
      .catch((err) => logger.error({ err }, 'leader election ended with an error'));
  } else {
    startLeading();
  }

  let stopped: Promise<void> | undefined;
  return {
    health,
    identity,
    isLeader: () => (elector ? elector.isLeader() : true),
    resyncNow: async () => {
      await term?.manager.resyncNow();
    },
    gcNow: async (policy) => {
      await term?.gc.runNow(policy);
    },
    admission,
    idle: () => stopping,
    stop() {
      stopped ??= stopAll();
      return stopped;
    },
  };

  async function stopAll(): Promise<void> {
    logger.info('stopping: finishing in-flight reconciles');
    await stopLeading({ drain: true });
    abort.abort();
    await electing;
    await stopping;
    crds.stop();
    await admission?.stop();
    await admissionRecorder.close();
    await Promise.all(all.map((i) => i.stop()));
    await health.close();
    rest.close();
    logger.info('stopped');
  }
}
