import { CheckpointPolicyResource, CheckpointResource } from '../api/index.js';
import type { ResourceType } from './rest.js';

/** Tidemark's own kinds come from src/api, the one place that names them. */
function pick(r: ResourceType): ResourceType {
  return { group: r.group, version: r.version, plural: r.plural, kind: r.kind, namespaced: r.namespaced };
}

/** The kinds the controller watches or writes. Cluster scope and plurals as the API serves them. */
export const Resources = {
  CheckpointPolicy: pick(CheckpointPolicyResource),
  Checkpoint: pick(CheckpointResource),
  SparkApplication: {
    group: 'sparkoperator.k8s.io',
    version: 'v1beta2',
    plural: 'sparkapplications',
    kind: 'SparkApplication',
    namespaced: true,
  },
  ScheduledSparkApplication: {
    group: 'sparkoperator.k8s.io',
    version: 'v1beta2',
    plural: 'scheduledsparkapplications',
    kind: 'ScheduledSparkApplication',
    namespaced: true,
  },
  Namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  Pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  Lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  Event: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
} as const satisfies Record<string, ResourceType>;
