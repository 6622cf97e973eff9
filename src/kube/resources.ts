import type { ResourceType } from './rest.js';

/** The kinds the controller watches or writes. Cluster scope and plurals as the API serves them. */
export const Resources = {
  CheckpointPolicy: {
    group: 'tidemark.dev',
    version: 'v1alpha1',
    plural: 'checkpointpolicies',
    kind: 'CheckpointPolicy',
    namespaced: false,
  },
  Checkpoint: {
    group: 'tidemark.dev',
    version: 'v1alpha1',
    plural: 'checkpoints',
    kind: 'Checkpoint',
    namespaced: true,
  },
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
