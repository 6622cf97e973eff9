// The Spark Operator's part, played honestly enough for the end-to-end test (the playground has neither the
// operator nor nodes):
// - `sparkSubmitArgs` (pure): the operator's submission of a SparkApplication AS STORED (after Tidemark's webhook):
//   its sparkConf as --conf, its hadoopConf as --conf spark.hadoop.K, its arguments; `local[2]` instead of pods
//   (the executors run in the driver's JVM, so they act as the driver's identity too);
// - `driverPod`/`createDriverPod`: the driver Pod with the labels the operator puts on it (Tidemark's driver-pod
//   webhook selects on them and may add the scheduling gate tidemark.dev/checkpoint-ready);
// - `scheduledRun`: a run of a ScheduledSparkApplication, named `<scheduled>-<timestamp>` with the operator's label
//   and owner reference.
// Where the container image would bring its own settings (spark-defaults.conf: the GCS connector on the classpath,
// the Hadoop 3.5 fixes for connector 3.1.3, GKE's metadata-server authentication), the runner passes a properties
// file; the SparkApplication's own settings override it, as in Spark.
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';

export const SPARK_API = { group: 'sparkoperator.k8s.io', version: 'v1beta2' } as const;
export const SPARK_API_VERSION = `${SPARK_API.group}/${SPARK_API.version}`;
export const CHECKPOINT_GATE = 'tidemark.dev/checkpoint-ready';

export interface StoredSparkApplication {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: V1OwnerReference[];
  };
  spec: {
    type?: string;
    mode?: string;
    image?: string;
    mainApplicationFile?: string;
    arguments?: string[];
    sparkConf?: Record<string, string>;
    hadoopConf?: Record<string, string>;
    driver?: { serviceAccount?: string };
    executor?: { serviceAccount?: string; instances?: number };
  };
}

export interface SubmitOptions {
  /** `local[2]`: the driver and two task slots in one JVM. */
  master: string;
  /** The image's file for mainApplicationFile (`local:///…` inside the image). */
  mainFile: string;
  /** The image's defaults (spark-defaults.conf). */
  propertiesFile: string;
  jars: readonly string[];
}

/** spark-submit's arguments for a stored SparkApplication, as the operator builds them (v2.5.2), minus Kubernetes. */
export function sparkSubmitArgs(app: StoredSparkApplication, o: SubmitOptions): string[] {
  const args = ['--master', o.master, '--deploy-mode', 'client', '--name', app.metadata.name];
  args.push('--properties-file', o.propertiesFile);
  if (o.jars.length > 0) args.push('--jars', o.jars.join(','));
  for (const [k, v] of Object.entries(app.spec.sparkConf ?? {})) args.push('--conf', `${k}=${v}`);
  for (const [k, v] of Object.entries(app.spec.hadoopConf ?? {})) args.push('--conf', `spark.hadoop.${k}=${v}`);
  args.push(o.mainFile, ...(app.spec.arguments ?? []));
  return args;
}

/** The driver Pod the operator's submission creates for a SparkApplication (never scheduled here: no nodes). */
export function driverPod(app: StoredSparkApplication, submissionId: string): V1Pod {
  const { name, namespace, uid } = app.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${name}-driver`,
      namespace,
      labels: {
        'sparkoperator.k8s.io/app-name': name,
        'sparkoperator.k8s.io/launched-by-spark-operator': 'true',
        'sparkoperator.k8s.io/submission-id': submissionId,
        'spark-role': 'driver',
        'spark-app-name': name,
      },
      ...(uid
        ? {
            ownerReferences: [{ apiVersion: SPARK_API_VERSION, kind: 'SparkApplication', name, uid, controller: true }],
          }
        : {}),
    },
    spec: {
      serviceAccountName: app.spec.driver?.serviceAccount || 'default',
      restartPolicy: 'Never',
      containers: [{ name: 'spark-kubernetes-driver', image: app.spec.image ?? 'apache/spark:4.0.0-python3' }],
    },
  };
}

/** The scheduling gates a pod still has. */
export function gatesOf(pod: V1Pod): string[] {
  return (pod.spec?.schedulingGates ?? []).map((g) => g.name);
}

export interface ScheduledSparkApplication {
  metadata: { name: string; namespace: string; uid?: string; labels?: Record<string, string> };
  spec: { template: StoredSparkApplication['spec'] };
}

/**
 * A run of a ScheduledSparkApplication as the operator creates it: `<scheduled>-<unix nanoseconds>`, its template as
 * the spec, the label sparkoperator.k8s.io/scheduled-app-name and a controller owner reference to the schedule.
 */
export function scheduledRun(scheduled: ScheduledSparkApplication, at: Date): StoredSparkApplication {
  const { name, namespace, uid } = scheduled.metadata;
  return {
    apiVersion: SPARK_API_VERSION,
    kind: 'SparkApplication',
    metadata: {
      name: `${name}-${BigInt(at.getTime()) * 1_000_000n}`,
      namespace,
      labels: { ...(scheduled.metadata.labels ?? {}), 'sparkoperator.k8s.io/scheduled-app-name': name },
      ownerReferences: [
        {
          apiVersion: SPARK_API_VERSION,
          kind: 'ScheduledSparkApplication',
          name,
          uid: uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: structuredClone(scheduled.spec.template),
  };
}
