// The leader's gate controller: removes tidemark.dev/checkpoint-ready from a driver pod as soon as decideGate (the
// same decision admission made) no longer holds it, and only that gate (a JSON patch that tests the entry's name
// before removing it, so a concurrent change to the list fails the patch instead of removing someone else's gate).
// A pod held longer than `eventAfterMs` gets a Warning Event, on the pod and on its SparkApplication, saying what
// it waits for. Triggers: the pod, any Checkpoint, policy, namespace or service-account change in its namespace.
import type { Registry } from 'prom-client';
import { SCHEDULING_GATE } from '../api/index.js';
import type { EventSink } from '../checkpoint/world.js';
import { type RunningController, runController } from '../kube/controller.js';
import { Informer } from '../kube/informer.js';
import type { Logger } from '../kube/log.js';
import { Resources } from '../kube/resources.js';
import { isNotFound, JSON_PATCH, type KubeObject, type KubeRest, resourcePath } from '../kube/rest.js';
import { WorkQueue } from '../kube/workqueue.js';
import { DRIVER_POD_LABELS, decideGate, type PodLike } from './driver-gate.js';
import { gateFacts } from './handlers.js';
import type { AdmissionView, CacheLike } from './view.js';

export interface GateControllerOptions {
  rest: KubeRest;
  view: AdmissionView;
  /** Change feeds that may release a pod (Checkpoints, policies, namespaces, service accounts). */
  triggers: { checkpoints: CacheLike<{ metadata: { namespace?: string } }>; others: CacheLike<unknown>[] };
  events: EventSink;
  logger: Logger;
  registry?: Registry;
  /** A pod held this long gets a Warning Event (default 5 min). */
  eventAfterMs?: number;
  now?: () => number;
}

export interface RunningGateController {
  stop(): Promise<void>;
}

type Pod = PodLike & KubeObject & { metadata: { uid?: string } };

const gated = (p: Pod) => (p.spec?.schedulingGates ?? []).some((g) => g.name === SCHEDULING_GATE);

export async function startGateController(o: GateControllerOptions): Promise<RunningGateController> {
  const eventAfterMs = o.eventAfterMs ?? 5 * 60_000;
  const now = o.now ?? Date.now;
  const pods = new Informer<Pod>({
    rest: o.rest,
    resource: Resources.Pod,
    labelSelector: Object.entries(DRIVER_POD_LABELS)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    logger: o.logger,
    registry: o.registry,
  });
  const queue = new WorkQueue({ name: 'tidemark-driver-gate', registry: o.registry });
  const reported = new Map<string, string>();
  const enqueue = (p: Pod) => {
    if (gated(p) && p.metadata.namespace && p.metadata.name) queue.add(`${p.metadata.namespace}/${p.metadata.name}`);
  };
  const enqueueNamespace = (ns?: string) => {
    for (const p of pods.list(ns)) enqueue(p);
  };
  pods.onChange((p) => enqueue(p));
  const unsubscribe = [
    o.triggers.checkpoints.onChange((c) => enqueueNamespace(c.metadata.namespace)),
    ...o.triggers.others.map((t) => t.onChange(() => enqueueNamespace())),
  ];
  pods.start();
  await pods.waitForSync();

  const controller: RunningController = runController({
    name: 'driver-gate',
    queue,
    concurrency: 2,
    registry: o.registry,
    logger: o.logger,
    reconcile: async (key) => {
      const slash = key.indexOf('/');
      const namespace = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const pod = pods.get(name, namespace);
      if (!pod || !gated(pod)) {
        reported.delete(key);
        return;
      }
      const decision = decideGate(await gateFacts(o.view, pod, namespace));
      if (!decision.hold) {
        await removeGate(o.rest, pod);
        reported.delete(key);
        o.logger.info({ pod: key }, 'driver pod released: its checkpoint access is in place');
        o.events.event(podRef(pod), 'Normal', 'CheckpointAccessReady', `Scheduling gate ${SCHEDULING_GATE} removed.`);
        return;
      }
      const created = Date.parse(String(pod.metadata.creationTimestamp ?? '')) || now();
      const heldFor = now() - created;
      if (heldFor < eventAfterMs) return { requeueAfter: eventAfterMs - heldFor };
      if (reported.get(key) !== decision.message) {
        reported.set(key, decision.message);
        const note = `Driver pod held by ${SCHEDULING_GATE} for ${Math.round(heldFor / 1000)} s: ${decision.message}`;
        o.events.event(podRef(pod), 'Warning', decision.reason, note);
        if (decision.app) {
          o.events.event(
            {
              apiVersion: 'sparkoperator.k8s.io/v1beta2',
              kind: 'SparkApplication',
              namespace,
              name: decision.app.name,
              uid: decision.app.uid,
            },
            'Warning',
            decision.reason,
            note,
          );
        }
      }
      return undefined;
    },
  });

  return {
    async stop() {
      for (const u of unsubscribe) if (typeof u === 'function') u();
      await controller.stop({ drain: true });
      await queue.shutdown({ drain: false });
      await pods.stop();
    },
  };
}

function podRef(pod: Pod) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: pod.metadata.namespace,
    name: pod.metadata.name ?? '',
    uid: pod.metadata.uid,
  };
}

/** Removes Tidemark's gate only: the patch tests that the entry at that index is still ours. */
async function removeGate(rest: KubeRest, pod: Pod): Promise<void> {
  const i = (pod.spec?.schedulingGates ?? []).findIndex((g) => g.name === SCHEDULING_GATE);
  if (i < 0) return;
  const path = resourcePath(Resources.Pod, { namespace: pod.metadata.namespace, name: pod.metadata.name });
  try {
    await rest.request('PATCH', path, {
      contentType: JSON_PATCH,
      body: [
        { op: 'test', path: `/spec/schedulingGates/${i}/name`, value: SCHEDULING_GATE },
        { op: 'remove', path: `/spec/schedulingGates/${i}` },
      ],
    });
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
}
