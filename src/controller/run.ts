// Runs the Tidemark controller in this process: clients, informers, health/metrics server, leader election, and
// the manager while leading. Used by `tidemark controller`, by the playground (through the CLI) and by tests.
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { AccessBackend, AccessMode } from '../access/backend.js';
import { BucketConditionBackend } from '../access/bucket-condition-backend.js';
import { ManagedFolderBackend } from '../access/managed-folder-backend.js';
import type { Checkpoint, CheckpointPolicy } from '../api/index.js';
import type { EventSink } from '../checkpoint/world.js';
import { type RunningGc, startGc as startGcOnLeader } from '../gc/controller.js';
import { createGcs, type GcsClientOptions } from '../gcs/client.js';
import { loadKubeConfig } from '../kube/client.js';
import { EventRecorder } from '../kube/events.js';
import { type HealthServer, informerLiveness, informerSynced, startHealthServer } from '../kube/health.js';
import { Informer } from '../kube/informer.js';
import { defaultIdentity, LeaderElector } from '../kube/leader.js';
import type { Logger } from '../kube/log.js';
import { Resources } from '../kube/resources.js';
import { type KubeObject, KubeRest } from '../kube/rest.js';
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
  /** How long a GC run's per-policy Lease lasts without renewal (default 30 s). */
  gcLeaseDurationMs?: number | undefined;
}

export interface RunningControllerProcess {
  health: HealthServer;
  identity: string;
  isLeader(): boolean;
  /** Enqueues everything and scans for orphans now (only while leading). */
  resyncNow(): Promise<void>;
  /** Runs a policy's garbage collection now (only while leading); resolves when it ends. */
  gcNow(policy: string): Promise<void>;
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

  const informer = <T extends KubeObject>(resource: (typeof Resources)[keyof typeof Resources]) =>
    new Informer<T>({ rest, resource, logger, registry });
  const inf = {
    policies: informer<CheckpointPolicy & KubeObject>(Resources.CheckpointPolicy),
    checkpoints: informer<Checkpoint & KubeObject>(Resources.Checkpoint),
    sparkApplications: informer(Resources.SparkApplication),
    scheduledSparkApplications: informer(Resources.ScheduledSparkApplication),
    namespaces: informer(Resources.Namespace),
    serviceAccounts: informer(Resources.ServiceAccount),
  };
  const all = Object.values(inf) as Informer[];

  const health = await startHealthServer({
    registry,
    host: cfg.healthHost,
    port: cfg.healthPort,
    logger,
    liveness: all.map(informerLiveness),
    readiness: all.map(informerSynced),
  });
  logger.info({ url: health.url }, 'health and metrics server listening');

  for (const i of all) i.start();
  await Promise.all(all.map((i) => i.waitForSync()));
  logger.info('caches synced');

  const recorder = new EventRecorder({ rest, reportingInstance: identity, logger, registry });
  const events: EventSink = {
    event(regarding, type, reason, message) {
      recorder.record(
        { ...regarding, namespace: regarding.namespace ?? undefined } as Parameters<EventRecorder['record']>[0],
        { type, reason, action: 'Reconcile', note: message },
      );
    },
  };

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
  const gcs = createGcs({
    ...cfg.gcs,
    onCall: (method, code, ms) => {
      gcsRequests.inc({ method, code: String(code) });
      gcsLatency.observe({ method }, ms / 1000);
    },
  });
  const backends = new Map<AccessMode, AccessBackend>();
  const backend = (mode: AccessMode): AccessBackend => {
    let b = backends.get(mode);
    if (!b) {
      b =
        mode === 'ManagedFolder'
          ? new ManagedFolderBackend({ gcs })
          : new BucketConditionBackend({ gcs, minWriteIntervalMs: cfg.bucketWriteIntervalMs });
      backends.set(mode, b);
    }
    return b;
  };

  let manager: RunningManager | undefined;
  let gc: RunningGc | undefined;
  const startLeading = () => {
    gc = startGcOnLeader({
      rest,
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
    manager = startManager({
      rest,
      informers: inf as unknown as Informers,
      gcs,
      backend,
      events,
      logger,
      registry,
      concurrency: cfg.concurrency,
      resyncMs: cfg.resyncMs,
    });
  };
  const stopLeading = async () => {
    const m = manager;
    manager = undefined;
    const g = gc;
    gc = undefined;
    await g?.stop();
    await m?.stop({ drain: true });
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
      onStartedLeading: (signal) => {
        logger.info({ identity }, 'started leading');
        startLeading();
        signal.addEventListener('abort', () => void stopLeading());
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
      await manager?.resyncNow();
    },
    gcNow: async (policy) => {
      await gc?.runNow(policy);
    },
    stop() {
      stopped ??= stopAll();
      return stopped;
    },
  };

  async function stopAll(): Promise<void> {
    logger.info('stopping: finishing in-flight reconciles');
    await stopLeading();
    abort.abort();
    await electing;
    await Promise.all(all.map((i) => i.stop()));
    await recorder.close();
    await health.close();
    rest.close();
    logger.info('stopped');
  }
}
