// Driver Pod: hold it (scheduling gate tidemark.dev/checkpoint-ready) until its job's access is in place. Pure; the
// webhook uses it at Pod CREATE (add the gate or not) and the gate controller on every change (remove the gate when
// it no longer holds). Both ask the same question of the same facts, so a pod is released exactly when admission
// would have let it through.
//
// A driver pod waits while its job is selected and
// - its Checkpoint does not exist or is not Ready (grant read back and propagation hold passed), or
// - the pod's own serviceAccountName is not one the Checkpoint grants (the pod is the ground truth of who the job
//   runs as: a mutated or hand-made pod must not run as an identity that was never granted), or
// - selection is blocked (a policy conflict, a name conflict, ...): a selected job must not start without access.
// An unselected job's pod is never held. A pod that is not a Spark Operator driver is never held.
import type { Checkpoint } from '../api/index.js';
import { CheckpointConditions } from '../api/index.js';
import { findCondition } from '../checkpoint/status.js';
import { resolveJobIdentities } from '../policy/identity.js';
import type { SparkApplicationLike } from '../policy/job.js';
import type { Labels } from '../policy/selector.js';
import { type AppFacts, planApp } from './app-plan.js';

/** The label the Spark Operator puts on the pods of a SparkApplication: its name. */
export const APP_NAME_LABEL = 'sparkoperator.k8s.io/app-name';
/** The labels of a driver pod the Spark Operator launched (the webhook's objectSelector). */
export const DRIVER_POD_LABELS = {
  'sparkoperator.k8s.io/launched-by-spark-operator': 'true',
  'spark-role': 'driver',
} as const;

export interface PodLike {
  metadata: { name?: string; namespace?: string; labels?: Labels | null; creationTimestamp?: string | Date };
  spec?: { serviceAccountName?: string | null; schedulingGates?: { name: string }[] | null } | null;
}

export function isDriverPod(pod: PodLike): boolean {
  const labels = pod.metadata.labels ?? {};
  return Object.entries(DRIVER_POD_LABELS).every(([k, v]) => labels[k] === v);
}

/** The SparkApplication a driver pod belongs to (by the Spark Operator's app-name label). */
export function podAppName(pod: PodLike): string | undefined {
  const v = pod.metadata.labels?.[APP_NAME_LABEL];
  return v ? v : undefined;
}

export interface GateFacts extends AppFacts {
  pod: PodLike;
  namespace: string;
  /** The pod's SparkApplication (undefined when it cannot be found). */
  app: SparkApplicationLike | undefined;
  /** The Checkpoint named after the job. */
  checkpoint: Checkpoint | undefined;
}

export type GateDecision =
  | { hold: false; note?: string | undefined }
  | {
      hold: true;
      /** CamelCase: what the pod waits for. */
      reason: 'CheckpointMissing' | 'CheckpointNotReady' | 'ServiceAccountNotGranted' | 'JobBlocked';
      /** A sentence: what it waits for and what to do. */
      message: string;
      /** The SparkApplication, for Events. */
      app?: { name: string; uid?: string | undefined } | undefined;
    };

/** The members the Checkpoint's grant holds: status.grants (the record of what was applied) or grantedMembers. */
export function grantedMembers(cp: Checkpoint): Set<string> {
  const status = (cp.status ?? {}) as { grants?: { members?: string[] }[]; grantedMembers?: string[] };
  if (Array.isArray(status.grants)) return new Set(status.grants.flatMap((g) => g.members ?? []));
  return new Set(status.grantedMembers ?? []);
}

export function decideGate(f: GateFacts): GateDecision {
  if (!isDriverPod(f.pod)) return { hold: false, note: 'not a Spark Operator driver pod' };
  const appName = podAppName(f.pod);
  if (!appName) return { hold: false, note: `the driver pod has no ${APP_NAME_LABEL} label` };
  if (!f.app) return { hold: false, note: `SparkApplication ${f.namespace}/${appName} was not found` };
  const appRef = { name: appName, uid: (f.app.metadata as { uid?: string }).uid };
  const planned = planApp(f.app, f);
  if (planned.kind === 'NoJob') return { hold: false, note: planned.resolution.message };
  const { job } = planned;
  if (planned.kind === 'NoSchedule') {
    return { hold: false, note: `ScheduledSparkApplication ${job.namespace}/${job.name} was not found` };
  }
  const { plan } = planned;
  if (plan.kind === 'Unselected') return { hold: false };
  if (plan.kind === 'Blocked') {
    return {
      hold: true,
      reason: 'JobBlocked',
      message: `The job has no checkpoint access (${plan.reason}): ${plan.message}`,
      app: appRef,
    };
  }
  const cpName = `${job.namespace}/${plan.checkpoint.name}`;
  const cp = f.checkpoint;
  if (!cp) {
    return {
      hold: true,
      reason: 'CheckpointMissing',
      message: `Waiting for Checkpoint ${cpName} to be created and Ready.`,
      app: appRef,
    };
  }
  const ready = findCondition(cp.status?.conditions, CheckpointConditions.Ready);
  if (ready?.status !== 'True') {
    return {
      hold: true,
      reason: 'CheckpointNotReady',
      message: `Waiting for Checkpoint ${cpName} to be Ready${ready ? ` (${ready.reason}: ${ready.message})` : ''}.`,
      app: appRef,
    };
  }
  const podSa = f.pod.spec?.serviceAccountName || 'default';
  const ids = resolveJobIdentities({
    namespace: job.namespace,
    spec: { driver: { serviceAccount: podSa }, executor: { serviceAccount: podSa } },
    access: plan.policy,
    serviceAccount: f.serviceAccount,
  });
  const granted = grantedMembers(cp);
  if (!ids.ok || !ids.members.every((m) => granted.has(m))) {
    const why = ids.ok ? `its member ${ids.members.join(', ')} is not granted` : ids.message;
    return {
      hold: true,
      reason: 'ServiceAccountNotGranted',
      message: `The driver pod runs as ServiceAccount ${job.namespace}/${podSa}, which Checkpoint ${cpName} does not grant (${why}). Run the driver as the service account the SparkApplication names (spec.driver.serviceAccount).`,
      app: appRef,
    };
  }
  return { hold: false };
}
