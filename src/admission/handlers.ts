// The three webhooks: gather facts from the view, decide with the pure modules, record Events (never on dry runs).
import type { Checkpoint } from '../api/index.js';
import { SCHEDULING_GATE } from '../api/index.js';
import type { EventSink } from '../checkpoint/world.js';
import { logicalJobOf, type SparkApplicationLike } from '../policy/job.js';
import { decideGate, isDriverPod, type PodLike, podAppName } from './driver-gate.js';
import { validatePolicy } from './policy-validation.js';
import { type AdmissionRequest, allow, type Decision, deny, isObject, type PatchOp } from './review.js';
import { decideSparkApplication, type OutsidePrefixMode, sparkSubject } from './spark-mutation.js';
import { type AdmissionView, existingCheckpoint } from './view.js';

export interface HandlerDeps {
  view: AdmissionView;
  events: EventSink;
}

function namespaceOf(req: AdmissionRequest): string | undefined {
  const meta = isObject(req.object) && isObject(req.object.metadata) ? req.object.metadata : {};
  const ns = req.namespace || (typeof meta.namespace === 'string' ? meta.namespace : undefined);
  return ns || undefined;
}

export function sparkApplicationHandler(d: HandlerDeps) {
  return async (req: AdmissionRequest): Promise<Decision> => {
    if (req.operation !== 'CREATE') return allow();
    const namespace = namespaceOf(req);
    if (!namespace) return deny(400, 'the SparkApplication has no namespace');
    const subject = sparkSubject(req.object, namespace);
    if (!subject.ok) return deny(400, `Tidemark cannot read this SparkApplication: ${subject.error}.`);
    const name = subject.app.metadata.name;
    const policies = d.view.policySet();
    if (!name) {
      // generateName: the job's name (its checkpoint's identity) is not known yet.
      return allow(
        [],
        [
          'Tidemark: a SparkApplication named by generateName gets no checkpoint location (a job is found again by its name); give it a name.',
        ],
      );
    }
    const job = subject.resolution.kind === 'Job' ? subject.resolution.job : undefined;
    const scheduled =
      job?.kind === 'ScheduledSparkApplication'
        ? await d.view.scheduledSparkApplication(namespace, job.name)
        : undefined;
    const r = decideSparkApplication({
      subject,
      policies,
      outsidePrefix: (p): OutsidePrefixMode =>
        d.view.policy(p)?.spec?.admission?.outsidePrefix === 'Deny' ? 'Deny' : 'Warn',
      namespaceLabels: await d.view.namespaceLabels(namespace),
      scheduled,
      serviceAccount: (sa) => d.view.serviceAccount(namespace, sa),
      existing: job ? existingCheckpoint(d.view.checkpoint(namespace, job.name)) : undefined,
    });
    if (r.event && !req.dryRun) {
      const uid = (subject.app.metadata as { uid?: string }).uid;
      d.events.event(
        { apiVersion: 'sparkoperator.k8s.io/v1beta2', kind: 'SparkApplication', namespace, name, uid },
        'Warning',
        r.event.reason,
        r.event.message,
      );
    }
    return r.decision;
  };
}

/** Facts for the gate decision about one driver pod (shared by the webhook and the gate controller). */
export async function gateFacts(view: AdmissionView, pod: PodLike, namespace: string) {
  const appName = podAppName(pod);
  const app: SparkApplicationLike | undefined = appName ? await view.sparkApplication(namespace, appName) : undefined;
  const res = app ? logicalJobOf(app) : undefined;
  const job = res?.kind === 'Job' ? res.job : undefined;
  const scheduled =
    job?.kind === 'ScheduledSparkApplication' ? await view.scheduledSparkApplication(namespace, job.name) : undefined;
  const checkpoint: Checkpoint | undefined = job ? view.checkpoint(namespace, job.name) : undefined;
  return {
    pod,
    namespace,
    app,
    scheduled,
    policies: view.policySet(),
    namespaceLabels: await view.namespaceLabels(namespace),
    serviceAccount: (sa: string) => view.serviceAccount(namespace, sa),
    existing: existingCheckpoint(checkpoint),
    checkpoint,
  };
}

export function driverPodHandler(d: HandlerDeps) {
  return async (req: AdmissionRequest): Promise<Decision> => {
    if (req.operation !== 'CREATE') return allow();
    const namespace = namespaceOf(req);
    if (!namespace) return deny(400, 'the Pod has no namespace');
    const pod = req.object;
    if (!isObject(pod) || !isObject(pod.metadata) || (pod.spec !== undefined && !isObject(pod.spec))) {
      return deny(400, 'Tidemark cannot read this Pod: it needs metadata and spec objects.');
    }
    const gates = (pod.spec as { schedulingGates?: unknown } | undefined)?.schedulingGates;
    if (gates !== undefined && gates !== null && !Array.isArray(gates)) {
      return deny(400, 'Tidemark cannot read this Pod: spec.schedulingGates must be a list.');
    }
    const p = pod as unknown as PodLike;
    if (!isDriverPod(p)) return allow();
    const decision = decideGate(await gateFacts(d.view, p, namespace));
    if (!decision.hold) return allow([], decision.note ? [`Tidemark: driver pod not held: ${decision.note}.`] : []);
    const list = (gates ?? []) as { name?: unknown }[];
    // Reinvoked (IfNeeded) after another webhook changed the pod: the gate is there already.
    if (list.some((g) => g?.name === SCHEDULING_GATE)) return allow();
    const patch: PatchOp[] =
      gates === undefined || gates === null
        ? [{ op: 'add', path: '/spec/schedulingGates', value: [{ name: SCHEDULING_GATE }] }]
        : [{ op: 'add', path: '/spec/schedulingGates/-', value: { name: SCHEDULING_GATE } }];
    return allow(patch, [`Tidemark: driver pod held by scheduling gate ${SCHEDULING_GATE}: ${decision.message}`]);
  };
}

export function checkpointPolicyHandler(d: HandlerDeps) {
  return (req: AdmissionRequest): Decision => {
    if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return allow();
    return validatePolicy({
      operation: req.operation,
      object: req.object,
      others: d.view.policies(),
      namespaces: d.view.namespaces(),
    });
  };
}
