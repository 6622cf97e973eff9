// Garbage collection inside the controller: started when this replica starts leading, stopped when it stops.
// The scheduler runs each policy on its schedule through runPolicyGc (the same code as `tidemark gc`).
import type { Registry } from 'prom-client';
import type { AccessBackend, AccessMode } from '../access/backend.js';
import type { Checkpoint, CheckpointPolicy } from '../api/index.js';
import { rfc3339 } from '../checkpoint/status.js';
import type { EventSink } from '../checkpoint/world.js';
import type { Gcs } from '../gcs/client.js';
import type { Logger } from '../kube/log.js';
import { Resources } from '../kube/resources.js';
import type { KubeRest } from '../kube/rest.js';
import { GcMetrics } from './metrics.js';
import { type GcRunResult, runPolicyGc } from './run.js';
import { GcScheduler } from './scheduler.js';

interface Cache<T> {
  list(namespace?: string): T[];
  onChange(handler: (obj: T, old?: T) => void): (() => void) | undefined | void;
}

export interface GcControllerOptions {
  rest: KubeRest;
  policies: Cache<CheckpointPolicy>;
  checkpoints: Cache<Checkpoint>;
  gcs: Gcs;
  backend: (mode: AccessMode) => AccessBackend;
  events: EventSink;
  logger: Logger;
  registry?: Registry | undefined;
  leaseNamespace: string;
  identity: string;
  leaseDurationMs?: number | undefined;
}

export interface RunningGc {
  /** Runs a policy's GC now (unless one is running here); resolves when it ends. */
  runNow(policy: string): Promise<void>;
  stop(): Promise<void>;
}

const metricsByRegistry = new WeakMap<Registry, GcMetrics>();

export function startGc(o: GcControllerOptions): RunningGc {
  const logger = o.logger.child({ component: 'gc' });
  const abort = new AbortController();
  let metrics: GcMetrics | undefined;
  if (o.registry) {
    metrics = metricsByRegistry.get(o.registry) ?? new GcMetrics(o.registry);
    metricsByRegistry.set(o.registry, metrics);
  }
  const scheduler = new GcScheduler({
    policies: () => o.policies.list(),
    interrupted: () =>
      new Set(
        o.checkpoints
          .list()
          .filter((c) => c.status?.phase === 'Deleting')
          .map((c) => c.spec.policyName),
      ),
    run: (policy): Promise<GcRunResult> =>
      runPolicyGc(
        {
          rest: o.rest,
          gcs: o.gcs,
          backend: o.backend,
          events: o.events,
          logger,
          metrics,
          leaseNamespace: o.leaseNamespace,
          identity: o.identity,
          leaseDurationMs: o.leaseDurationMs,
          signal: abort.signal,
        },
        policy,
      ),
    writeNextGCTime: async (policy, at) => {
      await o.rest.mergePatch(
        Resources.CheckpointPolicy,
        policy,
        undefined,
        { status: { nextGCTime: at ? rfc3339(at) : null } },
        'status',
      );
    },
    logger,
  });
  const off = o.policies.onChange(() => scheduler.sync());
  scheduler.start();
  return {
    runNow: (policy) => scheduler.trigger(policy, 'manual'),
    async stop() {
      if (typeof off === 'function') off();
      abort.abort(new Error('the controller stopped leading'));
      await scheduler.stop();
    },
  };
}
