// SparkApplication CREATE: where the job's checkpoint goes, and the Hadoop settings a prefix-only grant needs. Pure:
// the handler gathers the facts from the informer caches; the decision (which policy, which logical job, which
// location) is the one the reconciler makes, through policy/plan.ts planJob.
//
// - Unselected job: allowed untouched (no patch at all, so the stored object is byte-for-byte the user's).
// - Blocked job (policy conflict, name conflict, ...): allowed untouched with a warning saying why; the controller
//   reports it too, and the driver-pod gate keeps such a job from starting without access.
// - Selected job: spec.sparkConf gets
//     spark.sql.streaming.checkpointLocation = the job's URI (Spark appends `/<queryName>` for each named query),
//       unless the user set a location inside the job's prefix (kept); a location outside it is kept with a
//       warning and an Event, or denied, as the policy's admission.outsidePrefix says;
//     spark.hadoop.fs.gs.create.items.conflict.check.enable=false and
//     spark.hadoop.fs.gs.hierarchical.namespace.folders.enable=false, each only where the user has not set it
//       (in sparkConf as spark.hadoop.K, or in hadoopConf as K, which the Spark Operator turns into spark.hadoop.K);
//   and metadata.annotations[tidemark.dev/checkpoint-uri] = the job's URI.
import { Annotations } from '../api/index.js';
import { type JobResolution, logicalJobOf, type SparkApplicationLike } from '../policy/job.js';
import { type AppFacts, planApp } from './app-plan.js';
import { allow, type Decision, deny, isObject, type PatchOp, pointer, stringMap } from './review.js';

export const CHECKPOINT_LOCATION_KEY = 'spark.sql.streaming.checkpointLocation';

/**
 * What a prefix-only grant needs of the Hadoop GCS connector (design §3): with the conflict check on, every create
 * probes each ancestor (`checkpoints`, `checkpoints/ns`) as an object — 403 outside the prefix, reported as
 * "Error getting '…' object" without a word of 403; with hierarchical-namespace folders on (the default from 3.1.15)
 * it calls getStorageLayout on the bucket, which a prefix grant does not allow either.
 */
export const HADOOP_SETTINGS: readonly { key: string; value: string; why: string }[] = [
  {
    key: 'fs.gs.create.items.conflict.check.enable',
    value: 'false',
    why: 'with it on, the GCS connector reads every ancestor of each new file, outside the job prefix, and fails without saying 403',
  },
  {
    key: 'fs.gs.hierarchical.namespace.folders.enable',
    value: 'false',
    why: "with it on, the GCS connector asks for the bucket's storage layout, which a prefix-only grant does not allow",
  },
];

export type OutsidePrefixMode = 'Warn' | 'Deny';

export const UNNAMED_QUERY_WARNING =
  'Tidemark: name every streaming query (.queryName(...)): Spark keeps each named query under <location>/<queryName>, while an unnamed one gets a random subfolder that a redeploy cannot find again.';

/** The SparkApplication in a request, checked enough to read it safely, and its logical job. */
export type SparkSubject =
  | { ok: true; app: SparkApplicationLike; resolution: JobResolution; sparkConf: Record<string, string> }
  | { ok: false; error: string };

export function sparkSubject(object: unknown, namespace: string | undefined): SparkSubject {
  if (!isObject(object)) return { ok: false, error: 'the request carries no SparkApplication object' };
  const metadata = object.metadata;
  if (metadata !== undefined && !isObject(metadata)) return { ok: false, error: 'metadata must be an object' };
  const spec = object.spec;
  if (spec !== undefined && spec !== null && !isObject(spec)) return { ok: false, error: 'spec must be an object' };
  const conf = stringMap(spec?.sparkConf, 'spec.sparkConf');
  if (!conf.ok) return { ok: false, error: conf.error };
  const hadoop = stringMap(spec?.hadoopConf, 'spec.hadoopConf');
  if (!hadoop.ok) return { ok: false, error: hadoop.error };
  for (const f of ['labels', 'annotations'] as const) {
    const m = stringMap(metadata?.[f], `metadata.${f}`);
    if (!m.ok) return { ok: false, error: m.error };
  }
  if (metadata?.ownerReferences !== undefined && !Array.isArray(metadata.ownerReferences)) {
    return { ok: false, error: 'metadata.ownerReferences must be a list' };
  }
  const app = {
    ...object,
    metadata: { ...(metadata ?? {}), namespace: namespace ?? (metadata?.namespace as string | undefined) },
  } as SparkApplicationLike;
  return { ok: true, app, resolution: logicalJobOf(app), sparkConf: conf.map };
}

export interface SparkFacts extends AppFacts {
  subject: Extract<SparkSubject, { ok: true }>;
  /** The policy's admission.outsidePrefix (default Warn). */
  outsidePrefix: (policyName: string) => OutsidePrefixMode;
}

/** A Warning Event to record about the SparkApplication (never on a dry run). */
export interface SparkEvent {
  reason: string;
  message: string;
}

export interface SparkDecision {
  decision: Decision;
  event?: SparkEvent | undefined;
}

const WHO = 'Tidemark';

export function decideSparkApplication(f: SparkFacts): SparkDecision {
  const { app, resolution, sparkConf } = f.subject;
  const planned = planApp(app, f, resolution);
  if (planned.kind === 'NoJob') {
    if (planned.resolution.kind === 'Invalid') return { decision: allow() };
    return { decision: allow([], [`${WHO}: no checkpoint location injected: ${planned.resolution.message}`]) };
  }
  if (planned.kind === 'NoSchedule') {
    // A run whose ScheduledSparkApplication is not there (deleted, or not seen yet): nothing can be said of it.
    const { job } = planned;
    return {
      decision: allow(
        [],
        [
          `${WHO}: ScheduledSparkApplication ${job.namespace}/${job.name} was not found; no checkpoint location injected.`,
        ],
      ),
    };
  }
  const { plan } = planned;
  if (plan.kind === 'Unselected') return { decision: allow() };
  if (plan.kind === 'Blocked') {
    return { decision: allow([], [`${WHO}: no checkpoint location injected (${plan.reason}): ${plan.message}`]) };
  }

  const uri = plan.checkpoint.spec.uri;
  const spec = (app.spec ?? {}) as Record<string, unknown>;
  const hadoopConf = (spec.hadoopConf ?? {}) as Record<string, string>;
  const warnings: string[] = [];
  const add: Record<string, string> = {};
  let event: SparkEvent | undefined;

  const userLocation = Object.hasOwn(sparkConf, CHECKPOINT_LOCATION_KEY)
    ? sparkConf[CHECKPOINT_LOCATION_KEY]
    : undefined;
  if (userLocation === undefined) {
    add[CHECKPOINT_LOCATION_KEY] = uri;
    warnings.push(UNNAMED_QUERY_WARNING);
  } else if (!insidePrefix(userLocation, uri)) {
    const message = `${CHECKPOINT_LOCATION_KEY}=${JSON.stringify(userLocation)} is outside this job's checkpoint prefix ${uri}; Tidemark grants access only there, so the job would be refused (403). Remove the setting to get ${uri}, or point it below that prefix.`;
    if (f.outsidePrefix(plan.policy.name) === 'Deny') {
      return { decision: deny(403, `${message} (CheckpointPolicy "${plan.policy.name}" denies other locations.)`) };
    }
    warnings.push(`${WHO}: ${message}`);
    event = { reason: 'CheckpointLocationOutsidePrefix', message };
  }

  for (const s of HADOOP_SETTINGS) {
    const confKey = `spark.hadoop.${s.key}`;
    const set = Object.hasOwn(sparkConf, confKey)
      ? sparkConf[confKey]
      : Object.hasOwn(hadoopConf, s.key)
        ? hadoopConf[s.key]
        : undefined;
    if (set === undefined) add[confKey] = s.value;
    else if (set.trim().toLowerCase() !== s.value) {
      warnings.push(`${WHO}: ${s.key}=${set} is kept as you set it, but ${s.why}.`);
    }
  }

  const patch: PatchOp[] = [];
  if (Object.keys(add).length > 0) {
    if (spec.sparkConf === undefined || spec.sparkConf === null) {
      if (app.spec === undefined || app.spec === null) patch.push({ op: 'add', path: '/spec', value: {} });
      patch.push({ op: 'add', path: '/spec/sparkConf', value: add });
    } else {
      for (const [k, v] of Object.entries(add))
        patch.push({ op: 'add', path: pointer('spec', 'sparkConf', k), value: v });
    }
  }
  const annotations = app.metadata.annotations;
  if (annotations === undefined || annotations === null) {
    patch.push({ op: 'add', path: '/metadata/annotations', value: { [Annotations.checkpointUri]: uri } });
  } else if (annotations[Annotations.checkpointUri] !== uri) {
    patch.push({ op: 'add', path: pointer('metadata', 'annotations', Annotations.checkpointUri), value: uri });
  }
  return { decision: allow(patch, warnings), event };
}

/** Whether a user's checkpoint location is the job's URI or below it (`gs://b/p/` and `gs://b/p` are the same). */
export function insidePrefix(location: string, uri: string): boolean {
  const loc = location.trim();
  const base = uri.endsWith('/') ? uri : `${uri}/`;
  if (loc === base || `${loc}/` === base) return true;
  if (!loc.startsWith(base)) return false;
  // No way back out: `gs://b/p/../other` is not inside.
  return !loc
    .slice(base.length)
    .split('/')
    .some((seg) => seg === '..' || seg === '.');
}
