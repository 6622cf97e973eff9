// Tidemark's API in TypeScript: the kinds with their envelopes, and every name other parts agree on (group,
// version, plurals, annotations, labels, finalizer, condition types and reasons). The field types come from
// ./generated.ts, which scripts/gen-api.mjs derives from the CRDs in crds/ (the one source of truth).
import type { V1ListMeta, V1ObjectMeta } from '@kubernetes/client-node';
import type {
  CheckpointAccess,
  CheckpointPolicyAccess,
  CheckpointPolicyGC,
  CheckpointPolicyRetention,
  CheckpointPolicySpec,
  CheckpointPolicyStatus,
  CheckpointSpec,
  CheckpointStatus,
  JobRef,
} from './generated.js';

export type * from './generated.js';

export const GROUP = 'tidemark.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/** How each kind is served (what the CRDs in crds/ declare; a unit test holds the two together). */
export const CheckpointPolicyResource = {
  group: GROUP,
  version: VERSION,
  kind: 'CheckpointPolicy',
  listKind: 'CheckpointPolicyList',
  plural: 'checkpointpolicies',
  singular: 'checkpointpolicy',
  shortNames: ['ckptpol'],
  categories: ['tidemark'],
  namespaced: false,
} as const;

export const CheckpointResource = {
  group: GROUP,
  version: VERSION,
  kind: 'Checkpoint',
  listKind: 'CheckpointList',
  plural: 'checkpoints',
  singular: 'checkpoint',
  shortNames: ['ckpt'],
  categories: ['tidemark'],
  namespaced: true,
} as const;

/** A CheckpointPolicy as the API server stores it (cluster-scoped). */
export interface CheckpointPolicy {
  apiVersion: typeof API_VERSION;
  kind: typeof CheckpointPolicyResource.kind;
  metadata: V1ObjectMeta;
  spec: CheckpointPolicySpec;
  status?: CheckpointPolicyStatus;
}

export interface CheckpointPolicyList {
  apiVersion: typeof API_VERSION;
  kind: typeof CheckpointPolicyResource.listKind;
  metadata: V1ListMeta;
  items: CheckpointPolicy[];
}

/** A Checkpoint (namespaced; named after its logical job, so metadata.name === spec.jobRef.name). */
export interface Checkpoint {
  apiVersion: typeof API_VERSION;
  kind: typeof CheckpointResource.kind;
  metadata: V1ObjectMeta;
  spec: CheckpointSpec;
  status?: CheckpointStatus;
}

export interface CheckpointList {
  apiVersion: typeof API_VERSION;
  kind: typeof CheckpointResource.listKind;
  metadata: V1ListMeta;
  items: Checkpoint[];
}

// Enumerations, as types and as value maps (the `satisfies` clauses fail to compile when a CRD enum changes).
export type AccessMode = NonNullable<CheckpointPolicyAccess['mode']>;
export type IdentityMode = NonNullable<CheckpointPolicyAccess['identity']>;
export type JobKind = JobRef['kind'];
export type CheckpointPhase = NonNullable<CheckpointStatus['phase']>;

export const AccessModes = {
  ManagedFolder: 'ManagedFolder',
  BucketCondition: 'BucketCondition',
} as const satisfies { [K in AccessMode]: K };

export const IdentityModes = {
  KubernetesServiceAccount: 'KubernetesServiceAccount',
  GoogleServiceAccount: 'GoogleServiceAccount',
} as const satisfies { [K in IdentityMode]: K };

export const JobKinds = {
  SparkApplication: 'SparkApplication',
  ScheduledSparkApplication: 'ScheduledSparkApplication',
} as const satisfies { [K in JobKind]: K };

export const Phases = {
  Bound: 'Bound',
  Released: 'Released',
  Deleting: 'Deleting',
} as const satisfies { [K in CheckpointPhase]: K };

/** Annotations Tidemark reads or writes. */
export const Annotations = {
  /** On a SparkApplication or ScheduledSparkApplication: the name of the CheckpointPolicy that wins for it. */
  policy: 'tidemark.dev/policy',
  /** On a Checkpoint: "true" keeps it (and its data) forever. */
  retain: 'tidemark.dev/retain',
  /**
   * On a Checkpoint being deleted: "true" lets its finalizer go without revoking its grants (the admin's escape
   * when the controller cannot revoke, e.g. it lost its GCS permission; the grants left are listed in an Event).
   */
  skipRevoke: 'tidemark.dev/skip-revoke',
  /** Set on SparkApplications at admission: the job's checkpoint URI. */
  checkpointUri: 'tidemark.dev/checkpoint-uri',
} as const;

/** Labels Tidemark puts on Checkpoints. */
export const Labels = {
  /** The CheckpointPolicy that provisioned the Checkpoint. */
  policy: 'tidemark.dev/policy',
  /** The job's kind (a JobKind). */
  jobKind: 'tidemark.dev/job-kind',
} as const;

/** On every Checkpoint: kept until its data is gone or the Checkpoint is retained. */
export const FINALIZER = 'tidemark.dev/checkpoint-protection';

/** The scheduling gate on a driver Pod whose Checkpoint is not Ready yet; the controller removes it. */
export const SCHEDULING_GATE = 'tidemark.dev/checkpoint-ready';

/** Condition types of a CheckpointPolicy. */
export const PolicyConditions = {
  /** The policy is valid and enforced. */
  Ready: 'Ready',
} as const;

/** Condition types of a Checkpoint. */
export const CheckpointConditions = {
  /** Access is granted, read back, and the propagation hold has passed: the driver may start. */
  Ready: 'Ready',
  /** A live job claims the checkpoint. */
  Bound: 'Bound',
  /** The grant for spec.members is in place (read back). */
  AccessGranted: 'AccessGranted',
} as const;

/**
 * Condition reasons (CamelCase, as metav1.Condition requires). A reason says why a condition has its status; the
 * message says what to do about it.
 */
export const Reasons = {
  // CheckpointPolicy Ready
  /** Ready=True: the policy is valid and enforced. */
  PolicyReady: 'PolicyReady',
  /** Ready=False: something the CRD schema could not check is wrong (e.g. a duration over 100 years). */
  InvalidSpec: 'InvalidSpec',
  /** Ready=False: the bucket does not exist or is not reachable. */
  BucketNotFound: 'BucketNotFound',
  /** A GCS call was refused with 403: the controller lacks a permission. */
  PermissionDenied: 'PermissionDenied',

  // Checkpoint Bound
  /** Bound=True: a live job claims the checkpoint. */
  JobPresent: 'JobPresent',
  /** Bound=False: no live job claims it any more (Released). */
  JobGone: 'JobGone',
  /** Bound=False: a prefix under a policy root without a Checkpoint; recorded as Released so retention applies. */
  Orphaned: 'Orphaned',
  /** More than one policy selects the job and none is named by the tidemark.dev/policy annotation. */
  PolicyConflict: 'PolicyConflict',

  // Checkpoint AccessGranted / Ready
  /** AccessGranted=True: the grant was read back in place. */
  Granted: 'Granted',
  /** AccessGranted=False/Ready=False: the grant is being applied. */
  GrantPending: 'GrantPending',
  /** AccessGranted=False: applying the grant failed; the message says why. */
  GrantFailed: 'GrantFailed',
  /** AccessGranted=False: access was revoked (job gone or checkpoint being deleted). */
  Revoked: 'Revoked',
  /** AccessGranted=False: the job's Google service account does not match access.allowedServiceAccounts. */
  ServiceAccountNotAllowed: 'ServiceAccountNotAllowed',
  /** AccessGranted=False: GoogleServiceAccount mode and the KSA has no iam.gke.io/gcp-service-account annotation. */
  ServiceAccountAnnotationMissing: 'ServiceAccountAnnotationMissing',
  /** AccessGranted=False: the grant would break a GCS limit (1,500 principals, 20 conditional bindings per member). */
  IamLimitExceeded: 'IamLimitExceeded',
  /** Ready=False: the grant is in place but access.propagationHold has not passed yet. */
  PropagationHold: 'PropagationHold',
  /** Ready=True: access granted, read back, and the hold passed. */
  CheckpointReady: 'CheckpointReady',
  /** Ready=False: the checkpoint is fenced and its data is being deleted. */
  Deleting: 'Deleting',
  /**
   * AccessGranted=False/Ready=False: the spec names a place other than <root>/<namespace>/<name>/ of a policy
   * covering the Checkpoint's namespace; nothing in GCS is touched for it.
   */
  PrefixMismatch: 'PrefixMismatch',
  /** AccessGranted=False: revoking a recorded grant failed (e.g. the controller lacks permission); retried with backoff. */
  RevokeFailed: 'RevokeFailed',
} as const;

export type Reason = (typeof Reasons)[keyof typeof Reasons];

/**
 * The defaults the CRDs declare, for code that reads policies without an API server (e.g. `tidemark plan` over
 * YAML files). The API server applies the same defaults itself; a unit test holds the two together.
 */
export const PolicyDefaults = {
  access: {
    mode: 'ManagedFolder',
    role: 'roles/storage.objectUser',
    identity: 'KubernetesServiceAccount',
    propagationHold: '60s',
  },
  retention: { afterRelease: '168h' },
  gc: { schedule: '0 3 * * *', dryRun: false, maxDeletesPerRun: 100 },
} as const satisfies {
  access: Required<Pick<CheckpointPolicyAccess, 'mode' | 'role' | 'identity' | 'propagationHold'>>;
  retention: Required<CheckpointPolicyRetention>;
  gc: Required<CheckpointPolicyGC>;
};

export const CheckpointDefaults = {
  access: { mode: 'ManagedFolder', role: 'roles/storage.objectUser' },
} as const satisfies { access: Required<CheckpointAccess> };

/** A CheckpointPolicySpec whose defaulted fields are all present (what the API server returns). */
export type DefaultedCheckpointPolicySpec = CheckpointPolicySpec & {
  access: CheckpointPolicyAccess & Required<Pick<CheckpointPolicyAccess, keyof typeof PolicyDefaults.access>>;
  retention: Required<CheckpointPolicyRetention>;
  gc: Required<CheckpointPolicyGC>;
};

/** The spec with the CRD's defaults filled in where a field is absent, as the API server would. Does not validate. */
export function withPolicyDefaults(spec: CheckpointPolicySpec): DefaultedCheckpointPolicySpec {
  return {
    ...spec,
    access: { ...PolicyDefaults.access, ...definedOnly(spec.access) },
    retention: { ...PolicyDefaults.retention, ...definedOnly(spec.retention) },
    gc: { ...PolicyDefaults.gc, ...definedOnly(spec.gc) },
  };
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
