// The Kubernetes permissions the controller needs: the one list that config/rbac/, the Helm chart and the docs are
// checked against (test/unit/rbac.test.ts also scans src/ for every Kubernetes call and fails when one is missing
// here or a rule here is no longer used). No wildcards: every verb on every resource is named.
//
// Engineers adding a Kubernetes call add its resource and verb here (CONTRACTS.md, "Kubernetes RBAC").
import { GROUP } from '../api/index.js';
import { Resources } from './resources.js';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** One permission and the code that needs it (the reason is documentation; the test checks the call sites). */
export interface Permission {
  group: string;
  /** `plural` or `plural/subresource`. */
  resource: string;
  verbs: readonly string[];
  why: string;
}

const { CheckpointPolicy, Checkpoint, SparkApplication, ScheduledSparkApplication, Namespace, ServiceAccount, Event } =
  Resources;

/** Cluster-wide: the ClusterRole `tidemark-controller`. */
export const CLUSTER_PERMISSIONS: readonly Permission[] = [
  {
    group: GROUP,
    resource: CheckpointPolicy.plural,
    verbs: ['list', 'watch'],
    why: 'informer (src/controller/run.ts); the GC run lists every policy fresh, for overlap (src/gc/run.ts)',
  },
  {
    group: GROUP,
    resource: `${CheckpointPolicy.plural}/status`,
    verbs: ['update', 'patch'],
    why: 'policy Ready condition and counts, PUT /status (src/controller/policy-status.ts); lastGC and nextGCTime (src/gc/)',
  },
  {
    group: GROUP,
    resource: Checkpoint.plural,
    verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
    why: 'informer; create and merge-patch (finalizer, spec) (src/checkpoint/kube-writer.ts); the GC reads, fences and drops the record (src/gc/run.ts)',
  },
  {
    group: GROUP,
    resource: `${Checkpoint.plural}/status`,
    verbs: ['update', 'patch'],
    why: 'Checkpoint conditions and grants, PUT /status (src/checkpoint/kube-writer.ts); GC progress and usage (src/gc/)',
  },
  {
    group: SparkApplication.group,
    resource: SparkApplication.plural,
    verbs: ['get', 'list', 'watch'],
    why: 'informer: the jobs (src/controller/run.ts); live reads by admission and the GC re-check',
  },
  {
    group: ScheduledSparkApplication.group,
    resource: ScheduledSparkApplication.plural,
    verbs: ['get', 'list', 'watch'],
    why: 'informer: the scheduled jobs (src/controller/run.ts); live reads by admission and the GC re-check',
  },
  {
    group: Namespace.group,
    resource: Namespace.plural,
    verbs: ['get', 'list', 'watch'],
    why: "informer: namespace labels for the policies' namespaceSelector (src/controller/run.ts)",
  },
  {
    group: ServiceAccount.group,
    resource: ServiceAccount.plural,
    verbs: ['list', 'watch'],
    why: 'informer: the iam.gke.io/gcp-service-account annotation (src/controller/run.ts)',
  },
  {
    group: Event.group,
    resource: Event.plural,
    verbs: ['create', 'patch'],
    why: 'Events on jobs, Checkpoints and policies; patch updates a series (src/kube/events.ts)',
  },
  {
    group: Resources.Pod.group,
    resource: Resources.Pod.plural,
    verbs: ['list', 'watch', 'patch'],
    why: "driver pods: informer on the driver label; a JSON patch removes Tidemark's scheduling gate (src/admission/gate-controller.ts)",
  },
  {
    group: 'admissionregistration.k8s.io',
    resource: 'mutatingwebhookconfigurations',
    verbs: ['get', 'create', 'update'],
    why: 'tidemark-mutating: one entry pair per policy, and the caBundle (src/admission/config-keeper.ts)',
  },
  {
    group: 'admissionregistration.k8s.io',
    resource: 'validatingwebhookconfigurations',
    verbs: ['get', 'create', 'update'],
    why: 'tidemark-validating: the caBundle (src/admission/config-keeper.ts)',
  },
];

/** In the controller's own namespace only: the Role `tidemark-leader-election` (Leases, and the webhook's Secret). */
export const LEASE_PERMISSIONS: readonly Permission[] = [
  {
    group: Resources.Lease.group,
    resource: Resources.Lease.plural,
    verbs: ['get', 'create', 'update'],
    why: "leader election (src/kube/leader.ts) and GC's per-policy Leases (src/gc/lease.ts)",
  },
  {
    group: '',
    resource: 'secrets',
    verbs: ['get', 'create', 'update'],
    why: "the webhook's CA and serving certificate in the --webhook-secret Secret (src/admission/cert-keeper.ts)",
  },
];

/** Kubernetes' order of verbs in `kubectl describe`, for stable manifests. */
const VERB_ORDER = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

function verbRank(v: string): number {
  const i = VERB_ORDER.indexOf(v);
  return i === -1 ? VERB_ORDER.length : i;
}

/** The permissions as RBAC rules: one rule per (group, verbs), resources sorted, verbs in Kubernetes' order. */
export function rulesOf(permissions: readonly Permission[]): PolicyRule[] {
  const byKey = new Map<string, PolicyRule>();
  for (const p of permissions) {
    const verbs = [...p.verbs].sort((a, b) => verbRank(a) - verbRank(b));
    const key = `${p.group}|${verbs.join(',')}`;
    const rule = byKey.get(key) ?? { apiGroups: [p.group], resources: [], verbs };
    rule.resources.push(p.resource);
    byKey.set(key, rule);
  }
  const rules = [...byKey.values()];
  for (const r of rules) r.resources.sort();
  return rules.sort(
    (a, b) =>
      (a.apiGroups[0] ?? '').localeCompare(b.apiGroups[0] ?? '') ||
      (a.resources[0] ?? '').localeCompare(b.resources[0] ?? ''),
  );
}

/** Every (group, resource, verb) a list of rules allows, as `group/resource:verb` strings, sorted. */
export function grantsOf(rules: readonly PolicyRule[]): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g}/${res}:${v}`);
  }
  return [...out].sort();
}

/** Same as grantsOf, from the permission list. */
export function grantsOfPermissions(permissions: readonly Permission[]): string[] {
  return grantsOf(permissions.map((p) => ({ apiGroups: [p.group], resources: [p.resource], verbs: [...p.verbs] })));
}
