// The logical job behind a SparkApplication, and whether a logical job is still claimed ("live").
//
// - A run created by a ScheduledSparkApplication S carries BOTH the label
//   `sparkoperator.k8s.io/scheduled-app-name=S` and an ownerReference of kind ScheduledSparkApplication named S
//   (the Spark Operator always sets both). Such a run belongs to {kind: ScheduledSparkApplication, name: S}: every
//   run shares one Checkpoint.
// - Partial or contradictory evidence (only the label, only the owner reference, names that differ, several
//   ScheduledSparkApplication owners) is Inconsistent: nothing is provisioned for that object and the reason is
//   reported. Both marks are user-settable, so neither alone is trusted to move a job onto another job's
//   checkpoint, and neither alone is ignored either (a run orphaned from its schedule would otherwise silently
//   start over on a fresh, empty checkpoint).
// - Any other SparkApplication is its own job, {kind: SparkApplication, name}, by name (not UID), so that
//   delete-and-recreate finds the same checkpoint.
import { dns1123LabelError, dns1123SubdomainError } from './names.js';
import { cmp, type Labels } from './selector.js';

export const SCHEDULED_APP_LABEL = 'sparkoperator.k8s.io/scheduled-app-name';
export const SPARK_OPERATOR_GROUP = 'sparkoperator.k8s.io';

export type JobKind = 'SparkApplication' | 'ScheduledSparkApplication';

export interface LogicalJob {
  kind: JobKind;
  namespace: string;
  name: string;
}

export interface OwnerReferenceLike {
  apiVersion?: string | undefined;
  kind?: string | undefined;
  name?: string | undefined;
}

export interface ObjectMetaLike {
  name?: string | undefined;
  namespace?: string | undefined;
  labels?: Labels | null | undefined;
  annotations?: Labels | null | undefined;
  ownerReferences?: readonly OwnerReferenceLike[] | null | undefined;
  deletionTimestamp?: Date | string | null | undefined;
}

export interface SparkPodSpecLike {
  serviceAccount?: string | null | undefined;
  /** Spark Operator v2 pod template (a PodTemplateSpec; Spark >= 3.0). */
  template?:
    | {
        spec?: { serviceAccountName?: string | null | undefined; serviceAccount?: string | null | undefined } | null;
      }
    | null
    | undefined;
}

export interface SparkApplicationSpecLike {
  driver?: SparkPodSpecLike | null | undefined;
  executor?: SparkPodSpecLike | null | undefined;
  sparkConf?: Readonly<Record<string, string>> | null | undefined;
}

export interface SparkApplicationLike {
  metadata: ObjectMetaLike;
  spec?: SparkApplicationSpecLike | null | undefined;
}

export interface ScheduledSparkApplicationLike {
  metadata: ObjectMetaLike;
  spec?: { template?: SparkApplicationSpecLike | null | undefined } | null | undefined;
}

export type InconsistentReason = 'LabelWithoutOwner' | 'OwnerWithoutLabel' | 'OwnerLabelMismatch' | 'MultipleOwners';

export type JobResolution =
  | { kind: 'Job'; job: LogicalJob }
  | { kind: 'Inconsistent'; reason: InconsistentReason; message: string }
  | { kind: 'Invalid'; message: string };

function isScheduledOwner(ref: OwnerReferenceLike): boolean {
  if (ref.kind !== 'ScheduledSparkApplication') return false;
  // apiVersion is group/version; accept any version of the Spark Operator's group (v1beta2 today).
  const group = (ref.apiVersion ?? '').split('/')[0];
  return group === SPARK_OPERATOR_GROUP;
}

/** The logical job a SparkApplication belongs to. */
export function logicalJobOf(app: SparkApplicationLike): JobResolution {
  const { name, namespace } = app.metadata;
  if (!name || !namespace) return { kind: 'Invalid', message: 'SparkApplication has no name or namespace' };
  const nameErr = dns1123SubdomainError(name);
  if (nameErr) return { kind: 'Invalid', message: `SparkApplication name "${name}" ${nameErr}` };
  const nsErr = dns1123LabelError(namespace);
  if (nsErr) return { kind: 'Invalid', message: `namespace "${namespace}" ${nsErr}` };

  const labels = app.metadata.labels ?? {};
  const label = Object.hasOwn(labels, SCHEDULED_APP_LABEL) ? (labels[SCHEDULED_APP_LABEL] as string) : undefined;
  const owners = [
    ...new Set((app.metadata.ownerReferences ?? []).filter(isScheduledOwner).map((r) => r.name ?? '')),
  ].sort(cmp);
  const where = `SparkApplication ${namespace}/${name}`;

  if (owners.length > 1) {
    return {
      kind: 'Inconsistent',
      reason: 'MultipleOwners',
      message: `${where} has several ScheduledSparkApplication owners (${owners.join(', ')}); it cannot belong to more than one scheduled job.`,
    };
  }
  const owner = owners[0];
  if (label === undefined && owner === undefined) {
    return { kind: 'Job', job: { kind: 'SparkApplication', namespace, name } };
  }
  if (owner === undefined) {
    return {
      kind: 'Inconsistent',
      reason: 'LabelWithoutOwner',
      message: `${where} has the label ${SCHEDULED_APP_LABEL}=${label} but no ScheduledSparkApplication owner reference; a run of a scheduled job has both. Remove the label to make it a job of its own.`,
    };
  }
  if (label === undefined) {
    return {
      kind: 'Inconsistent',
      reason: 'OwnerWithoutLabel',
      message: `${where} is owned by ScheduledSparkApplication ${owner} but lacks the label ${SCHEDULED_APP_LABEL}; a run of a scheduled job has both.`,
    };
  }
  if (label !== owner) {
    return {
      kind: 'Inconsistent',
      reason: 'OwnerLabelMismatch',
      message: `${where} has the label ${SCHEDULED_APP_LABEL}=${label} but is owned by ScheduledSparkApplication ${owner}.`,
    };
  }
  const ownerErr = dns1123SubdomainError(owner);
  if (ownerErr) return { kind: 'Invalid', message: `ScheduledSparkApplication name "${owner}" ${ownerErr}` };
  return { kind: 'Job', job: { kind: 'ScheduledSparkApplication', namespace, name: owner } };
}

/** The logical job of a ScheduledSparkApplication itself. */
export function logicalJobOfScheduled(ssa: ScheduledSparkApplicationLike): JobResolution {
  const { name, namespace } = ssa.metadata;
  if (!name || !namespace) return { kind: 'Invalid', message: 'ScheduledSparkApplication has no name or namespace' };
  const nameErr = dns1123SubdomainError(name);
  if (nameErr) return { kind: 'Invalid', message: `ScheduledSparkApplication name "${name}" ${nameErr}` };
  const nsErr = dns1123LabelError(namespace);
  if (nsErr) return { kind: 'Invalid', message: `namespace "${namespace}" ${nsErr}` };
  return { kind: 'Job', job: { kind: 'ScheduledSparkApplication', namespace, name } };
}

/** A stable key for maps and work queues: `Kind/namespace/name`. */
export function jobKey(job: LogicalJob): string {
  return `${job.kind}/${job.namespace}/${job.name}`;
}

export function sameJob(a: LogicalJob, b: LogicalJob): boolean {
  return a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}

/**
 * The object whose labels/annotations select a policy and whose spec names the service accounts: the
 * SparkApplication for a plain job, the ScheduledSparkApplication (its `spec.template`) for a scheduled one.
 */
export interface JobSource {
  labels: Labels;
  annotations: Labels;
  spec: SparkApplicationSpecLike;
}

/**
 * The selection/identity source for `job`. For a scheduled job the ScheduledSparkApplication must be given
 * (undefined → the scheduled job has no source: it is not live).
 */
export function jobSource(
  job: LogicalJob,
  objects: { app?: SparkApplicationLike | undefined; scheduled?: ScheduledSparkApplicationLike | undefined },
): JobSource | undefined {
  if (job.kind === 'ScheduledSparkApplication') {
    const s = objects.scheduled;
    if (!s || s.metadata.name !== job.name || s.metadata.namespace !== job.namespace) return undefined;
    return {
      labels: s.metadata.labels ?? {},
      annotations: s.metadata.annotations ?? {},
      spec: s.spec?.template ?? {},
    };
  }
  const a = objects.app;
  if (!a || a.metadata.name !== job.name || a.metadata.namespace !== job.namespace) return undefined;
  return { labels: a.metadata.labels ?? {}, annotations: a.metadata.annotations ?? {}, spec: a.spec ?? {} };
}

function deleting(meta: ObjectMetaLike): boolean {
  return meta.deletionTimestamp !== null && meta.deletionTimestamp !== undefined;
}

/**
 * The logical jobs claimed by the given objects of one or more namespaces. A scheduled job is live while its
 * ScheduledSparkApplication exists (also between runs, and whether or not runs exist); a plain job while its
 * SparkApplication exists (whatever its state: a finished app that still exists may be restarted). Objects being
 * deleted (deletionTimestamp set) claim nothing. Runs of a scheduled job do not keep it live on their own: when
 * the ScheduledSparkApplication is gone, the job is released even if a last run lingers.
 */
export function liveJobKeys(
  apps: readonly SparkApplicationLike[],
  scheduled: readonly ScheduledSparkApplicationLike[],
): Set<string> {
  const live = new Set<string>();
  for (const s of scheduled) {
    if (deleting(s.metadata)) continue;
    const r = logicalJobOfScheduled(s);
    if (r.kind === 'Job') live.add(jobKey(r.job));
  }
  for (const a of apps) {
    if (deleting(a.metadata)) continue;
    const r = logicalJobOf(a);
    if (r.kind === 'Job' && r.job.kind === 'SparkApplication') live.add(jobKey(r.job));
  }
  return live;
}

/** Whether `job` is still claimed by the given objects (see liveJobKeys). */
export function isJobLive(
  job: LogicalJob,
  apps: readonly SparkApplicationLike[],
  scheduled: readonly ScheduledSparkApplicationLike[],
): boolean {
  return liveJobKeys(apps, scheduled).has(jobKey(job));
}
