// Sorting `tidemark plan`'s documents into the kinds it reads: CheckpointPolicies, SparkApplications,
// ScheduledSparkApplications, ServiceAccounts and Namespaces. Objects of other API groups (a Deployment in the same
// kustomize build) are set aside and counted; a document that is not a Kubernetes object, or a kind of Tidemark's or
// the Spark Operator's group that does not exist (a typo), is bad input.
import { API_VERSION, CheckpointPolicyResource, CheckpointResource, GROUP } from '../api/index.js';
import { SPARK_OPERATOR_GROUP } from '../policy/job.js';
import { type InputDocument, isRecord, PlanInputError } from './input.js';

export const SPARK_API_VERSION = `${SPARK_OPERATOR_GROUP}/v1beta2`;

export interface ObjectMeta {
  name: string;
  namespace?: string | undefined;
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
  ownerReferences?: { apiVersion?: string; kind?: string; name?: string }[] | undefined;
  creationTimestamp?: string | undefined;
}

export interface Manifest {
  source: string;
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  /** As the file says (a mapping); each reader checks what it uses. */
  spec?: Record<string, unknown> | undefined;
  /** The whole document as read (policies are validated whole). */
  raw: Record<string, unknown>;
}

export interface Manifests {
  policies: Manifest[];
  sparkApplications: Manifest[];
  scheduledSparkApplications: Manifest[];
  serviceAccounts: Manifest[];
  namespaces: Manifest[];
  /** Objects plan does not read (other kinds), by `apiVersion Kind`. */
  ignored: { source: string; apiVersion: string; kind: string; name: string }[];
}

/** The Spark Operator v2.5.2's kinds (its CRDs); only the first two matter to Tidemark. */
const SPARK_KINDS = new Set(['SparkApplication', 'ScheduledSparkApplication', 'SparkConnect']);

export interface SortOptions {
  /** The namespace of namespaced objects that name none (kubectl's current namespace). */
  defaultNamespace: string;
}

export function sortManifests(docs: readonly InputDocument[], options: SortOptions): Manifests {
  const m: Manifests = {
    policies: [],
    sparkApplications: [],
    scheduledSparkApplications: [],
    serviceAccounts: [],
    namespaces: [],
    ignored: [],
  };
  const seen = new Map<string, string>();
  for (const doc of docs) {
    const o = toManifest(doc);
    const group = o.apiVersion.includes('/') ? (o.apiVersion.split('/')[0] as string) : '';
    let bucket: Manifest[] | undefined;
    let namespaced = true;
    if (group === GROUP) {
      if (o.kind === CheckpointPolicyResource.kind) {
        bucket = m.policies;
        namespaced = false;
      } else if (o.kind !== CheckpointResource.kind) {
        throw new PlanInputError(
          `${o.source}: unknown kind ${o.kind} in ${GROUP} (its kinds: CheckpointPolicy, Checkpoint)`,
        );
      }
      if (o.apiVersion !== API_VERSION) {
        throw new PlanInputError(
          `${o.source}: ${o.kind} ${o.metadata.name}: apiVersion ${o.apiVersion} is not served (use ${API_VERSION})`,
        );
      }
    } else if (group === SPARK_OPERATOR_GROUP) {
      if (!SPARK_KINDS.has(o.kind)) {
        throw new PlanInputError(
          `${o.source}: unknown kind ${o.kind} in ${SPARK_OPERATOR_GROUP} (its kinds: ${[...SPARK_KINDS].join(', ')})`,
        );
      }
      if (o.kind === 'SparkApplication') bucket = m.sparkApplications;
      if (o.kind === 'ScheduledSparkApplication') bucket = m.scheduledSparkApplications;
      if (bucket && o.apiVersion !== SPARK_API_VERSION) {
        throw new PlanInputError(
          `${o.source}: ${o.kind} ${o.metadata.name}: apiVersion ${o.apiVersion} is not served (use ${SPARK_API_VERSION})`,
        );
      }
    } else if (o.apiVersion === 'v1' && o.kind === 'ServiceAccount') {
      bucket = m.serviceAccounts;
    } else if (o.apiVersion === 'v1' && o.kind === 'Namespace') {
      bucket = m.namespaces;
      namespaced = false;
    }
    if (!bucket) {
      m.ignored.push({ source: o.source, apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name });
      continue;
    }
    if (namespaced) o.metadata.namespace ??= options.defaultNamespace;
    else if (o.metadata.namespace !== undefined) {
      throw new PlanInputError(`${o.source}: ${o.kind} ${o.metadata.name} is cluster-scoped but names a namespace`);
    }
    const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const before = seen.get(key);
    if (before !== undefined) {
      const what = o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
      throw new PlanInputError(`${o.source}: ${o.kind} ${what} is also defined in ${before}`);
    }
    seen.set(key, o.source);
    bucket.push(o);
  }
  return m;
}

/** Whether plan reads objects of this kind (or rejects it as a typo in a group it knows). */
function readsKind(apiVersion: string, kind: string): boolean {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  return (
    group === GROUP ||
    group === SPARK_OPERATOR_GROUP ||
    (apiVersion === 'v1' && (kind === 'ServiceAccount' || kind === 'Namespace'))
  );
}

function toManifest(doc: InputDocument): Manifest {
  const v = doc.value;
  const where = doc.source;
  if (!isRecord(v))
    throw new PlanInputError(`${where}: not a Kubernetes object (a YAML mapping with apiVersion and kind)`);
  const { apiVersion, kind, metadata } = v;
  if (typeof apiVersion !== 'string' || apiVersion === '' || typeof kind !== 'string' || kind === '') {
    throw new PlanInputError(`${where}: not a Kubernetes object (no apiVersion or kind)`);
  }
  if (!isRecord(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    // A kustomization.yaml in a directory, or any other object plan does not read, needs no name.
    if (!readsKind(apiVersion, kind)) return { source: where, apiVersion, kind, metadata: { name: '' }, raw: v };
    throw new PlanInputError(`${where}: ${kind} has no metadata.name`);
  }
  if (metadata.namespace !== undefined && typeof metadata.namespace !== 'string') {
    throw new PlanInputError(`${where}: ${kind} ${metadata.name}: metadata.namespace is not a string`);
  }
  for (const field of ['labels', 'annotations'] as const) {
    const map = metadata[field];
    if (map === undefined || map === null) continue;
    if (!isRecord(map) || Object.values(map).some((x) => typeof x !== 'string')) {
      throw new PlanInputError(`${where}: ${kind} ${metadata.name}: metadata.${field} must map strings to strings`);
    }
  }
  if (metadata.ownerReferences !== undefined && !Array.isArray(metadata.ownerReferences)) {
    throw new PlanInputError(`${where}: ${kind} ${metadata.name}: metadata.ownerReferences is not a list`);
  }
  if (v.spec !== undefined && v.spec !== null && !isRecord(v.spec)) {
    throw new PlanInputError(`${where}: ${kind} ${metadata.name}: spec is not a mapping`);
  }
  const created = metadata.creationTimestamp;
  return {
    source: where,
    apiVersion,
    kind,
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace as string | undefined,
      labels: (metadata.labels ?? undefined) as Record<string, string> | undefined,
      annotations: (metadata.annotations ?? undefined) as Record<string, string> | undefined,
      ownerReferences: metadata.ownerReferences as ObjectMeta['ownerReferences'],
      creationTimestamp:
        created instanceof Date ? created.toISOString() : typeof created === 'string' ? created : undefined,
    },
    spec: (v.spec ?? undefined) as Record<string, unknown> | undefined,
    raw: v,
  };
}
