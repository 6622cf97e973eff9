// A CheckpointPolicy resolved into what the controller acts on: defaults applied (as the API server would, for
// policies read from files), durations parsed, selectors and allowedServiceAccounts compiled, and every semantic
// problem the CRD schema cannot express collected — so the policy's Ready condition can name them all.
import {
  type AccessMode,
  type CheckpointPolicySpec,
  type IdentityMode,
  type LabelSelector,
  withPolicyDefaults,
} from '../api/index.js';
import { parseDuration } from './duration.js';
import { compileAllowedServiceAccounts, workloadIdentityError } from './identity.js';
import { bucketNameError, rootPrefixError } from './naming.js';
import { compileSelector } from './selector.js';

export interface EffectivePolicy {
  name: string;
  generation: number;
  namespaceSelector: LabelSelector;
  jobSelector: LabelSelector;
  bucket: string;
  rootPrefix: string;
  mode: AccessMode;
  role: string;
  identity: IdentityMode;
  workloadIdentity?: { projectNumber: string; pool: string } | undefined;
  allowedServiceAccounts: string[];
  propagationHoldMs: number;
  retentionMs: number;
  gc: { schedule: string; dryRun: boolean; maxDeletesPerRun: number };
}

export type EffectivePolicyResult = { ok: true; policy: EffectivePolicy } | { ok: false; errors: string[] };

const ROLE =
  /^(roles\/[A-Za-z0-9_.]+|projects\/[a-z0-9][a-z0-9.:-]*[a-z0-9]\/roles\/[A-Za-z0-9_.]+|organizations\/[0-9]+\/roles\/[A-Za-z0-9_.]+)$/;

/** Resolves a policy; `errors` lists every problem, each prefixed with its field. */
export function resolvePolicy(policy: {
  metadata: { name?: string | undefined; generation?: number | undefined };
  spec: CheckpointPolicySpec;
}): EffectivePolicyResult {
  const errors: string[] = [];
  const name = policy.metadata.name ?? '';
  if (name === '') errors.push('metadata.name: required');
  if (!policy.spec || typeof policy.spec !== 'object') return { ok: false, errors: [...errors, 'spec: required'] };
  const spec = withPolicyDefaults(policy.spec);

  for (const field of ['namespaceSelector', 'jobSelector'] as const) {
    const sel = spec[field];
    if (sel === undefined || sel === null) {
      errors.push(`spec.${field}: required (use {} to select everything)`);
      continue;
    }
    const r = compileSelector(sel);
    if (!r.ok) for (const e of r.errors) errors.push(`spec.${field}: ${e}`);
  }

  const bucket = spec.storage?.bucket ?? '';
  const rootPrefix = spec.storage?.rootPrefix ?? '';
  const bucketErr = bucketNameError(bucket);
  if (bucketErr) errors.push(`spec.storage.bucket: ${bucketErr}`);
  const rootErr = rootPrefixError(rootPrefix);
  if (rootErr) errors.push(`spec.storage.rootPrefix: ${rootErr}`);

  const access = spec.access;
  if (access.mode !== 'ManagedFolder' && access.mode !== 'BucketCondition') {
    errors.push(`spec.access.mode: ${JSON.stringify(access.mode)} is not ManagedFolder or BucketCondition`);
  }
  if (!ROLE.test(access.role)) {
    errors.push(
      `spec.access.role: ${JSON.stringify(access.role)} is not an IAM role name (roles/NAME, projects/P/roles/NAME, organizations/O/roles/NAME)`,
    );
  }
  if (access.identity === 'KubernetesServiceAccount') {
    const wiErr = workloadIdentityError(access.workloadIdentity);
    if (wiErr) errors.push(`spec.${wiErr}`);
  } else if (access.identity === 'GoogleServiceAccount') {
    const list = access.allowedServiceAccounts ?? [];
    if (list.length === 0)
      errors.push('spec.access.allowedServiceAccounts: required when identity is GoogleServiceAccount');
    const allowed = compileAllowedServiceAccounts(list);
    if (!allowed.ok) for (const e of allowed.errors) errors.push(`spec.${e}`);
  } else {
    errors.push(
      `spec.access.identity: ${JSON.stringify(access.identity)} is not KubernetesServiceAccount or GoogleServiceAccount`,
    );
  }

  const hold = parseDuration(access.propagationHold);
  if (!hold.ok) errors.push(`spec.access.propagationHold: ${hold.error}`);
  const retention = parseDuration(spec.retention.afterRelease);
  if (!retention.ok) errors.push(`spec.retention.afterRelease: ${retention.error}`);

  const gc = spec.gc;
  if (!Number.isInteger(gc.maxDeletesPerRun) || gc.maxDeletesPerRun < 1) {
    errors.push(`spec.gc.maxDeletesPerRun: ${gc.maxDeletesPerRun} must be an integer of at least 1`);
  }

  if (errors.length > 0 || !hold.ok || !retention.ok) return { ok: false, errors };
  return {
    ok: true,
    policy: {
      name,
      generation: policy.metadata.generation ?? 0,
      namespaceSelector: spec.namespaceSelector,
      jobSelector: spec.jobSelector,
      bucket,
      rootPrefix,
      mode: access.mode,
      role: access.role,
      identity: access.identity,
      workloadIdentity:
        access.identity === 'KubernetesServiceAccount' && access.workloadIdentity
          ? { projectNumber: access.workloadIdentity.projectNumber, pool: access.workloadIdentity.pool }
          : undefined,
      allowedServiceAccounts: [...(access.allowedServiceAccounts ?? [])],
      propagationHoldMs: hold.ms,
      retentionMs: retention.ms,
      gc: { schedule: gc.schedule, dryRun: gc.dryRun, maxDeletesPerRun: gc.maxDeletesPerRun },
    },
  };
}
