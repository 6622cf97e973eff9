// What the admission webhook would set on a selected job when it is created (issue 10; CONTRACTS.md "Webhooks"):
// the checkpoint location and the Hadoop setting a prefix-only grant needs (each only where the user has not set
// it), the checkpoint-URI annotation, and the scheduling gate that holds the driver pod until the Checkpoint is
// Ready. Pure; `tidemark plan` prints it.
// MERGE(i10-admission): when the webhook's pure patch function lands, compute this from it instead.
import { Annotations, SCHEDULING_GATE } from '../api/index.js';
import { isRecord } from './input.js';

export const CHECKPOINT_LOCATION = 'spark.sql.streaming.checkpointLocation';
/** Hadoop GCS connector: without this, every create probes ancestors outside the prefix and fails on a 403. */
export const CONFLICT_CHECK = 'fs.gs.create.items.conflict.check.enable';

export interface AdmissionPreview {
  /** Set on the SparkApplication (for a scheduled job: on every run it creates). */
  annotations: Record<string, string>;
  sparkConf: Record<string, string>;
  hadoopConf: Record<string, string>;
  /** Added to the driver pod until the Checkpoint is Ready. */
  schedulingGates: string[];
  warnings: string[];
}

/** `spec` is the SparkApplication's spec (a scheduled job's spec.template); `uri` ends with '/'. */
export function previewAdmission(spec: unknown, uri: string): AdmissionPreview {
  const sparkConf = stringMap(isRecord(spec) ? spec.sparkConf : undefined);
  const hadoopConf = stringMap(isRecord(spec) ? spec.hadoopConf : undefined);
  const out: AdmissionPreview = {
    annotations: { [Annotations.checkpointUri]: uri },
    sparkConf: {},
    hadoopConf: {},
    schedulingGates: [SCHEDULING_GATE],
    warnings: [],
  };
  const own = sparkConf[CHECKPOINT_LOCATION];
  if (own === undefined) out.sparkConf[CHECKPOINT_LOCATION] = uri;
  else if (!`${own.replace(/\/+$/, '')}/`.startsWith(uri)) {
    out.warnings.push(
      `${CHECKPOINT_LOCATION} is ${own}, outside the job's checkpoint ${uri}: the job has no access there`,
    );
  }
  if (hadoopConf[CONFLICT_CHECK] === undefined && sparkConf[`spark.hadoop.${CONFLICT_CHECK}`] === undefined) {
    out.hadoopConf[CONFLICT_CHECK] = 'false';
  }
  return out;
}

function stringMap(v: unknown): Record<string, string> {
  if (!isRecord(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
