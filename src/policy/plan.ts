// The whole per-job decision, composed from the pure pieces: which policy, where, may it bind the Checkpoint
// carrying its name, which members, and the Checkpoint the controller should create or bind. No I/O: the caller
// gathers the facts (from informer caches) and carries the plan out.
//
//   Unselected — no policy selects the job: nothing to provision (an existing Checkpoint is the controller's to
//                release).
//   Blocked    — a problem stops provisioning before there is a Checkpoint to speak on: a policy conflict, a bad
//                annotation, an invalid policy, the name held by the other kind, a location change, a Checkpoint
//                being deleted, a root that overlaps another policy's (RootOverlap, see overlap.ts). The controller reports it (Event on the job; condition on an existing Checkpoint).
//   Provision  — create or bind the Checkpoint. `problem` is set when the job's identities cannot be granted
//                (e.g. ServiceAccountNotAllowed): the Checkpoint is still bound, with nothing granted and the
//                problem as its AccessGranted/Ready reason.

import { type IamCondition, jobCondition } from '../access/condition.js';
import { Labels as ApiLabels, type CheckpointPolicy, type CheckpointSpec, Reasons } from '../api/index.js';
import { type EffectivePolicy, type EffectivePolicyResult, resolvePolicy } from './effective.js';
import {
  IDENTITY_SOURCES_DISAGREE,
  type IdentityReason,
  resolveJobIdentities,
  type ServiceAccountLike,
} from './identity.js';
import type { JobSource, LogicalJob } from './job.js';
import { type BindDecision, decideBinding, type ExistingCheckpoint, jobLocation } from './naming.js';
import { foreignRootMessage, overlappingPolicies, ROOT_OVERLAP, rootOwnerOf, shadowedMessage } from './overlap.js';
import { PolicyIndex, type Selection, selectionMessage, selectionReason } from './select.js';
import type { Labels } from './selector.js';

export interface JobFacts {
  job: LogicalJob;
  /** Labels, annotations and spec of the object standing for the job (see job.ts jobSource). */
  source: JobSource;
  namespaceLabels: Labels | null | undefined;
  /** The job namespace's ServiceAccounts by name. */
  serviceAccount: (name: string) => ServiceAccountLike | undefined;
  /** The Checkpoint named after the job in its namespace, if one exists. */
  existing?: ExistingCheckpoint | undefined;
}

export interface DesiredCheckpoint {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  spec: CheckpointSpec;
}

export type JobPlan =
  | { kind: 'Unselected'; reason: string; message: string }
  | { kind: 'Blocked'; reason: string; message: string; policy?: string | undefined }
  | {
      kind: 'Provision';
      policy: EffectivePolicy;
      /** How the policy was chosen. */
      via: 'Selectors' | 'Annotation';
      bind: Extract<BindDecision, { kind: 'Bind' | 'Rebind' }>;
      checkpoint: DesiredCheckpoint;
      /** The members to grant (empty when `problem` is set). */
      members: string[];
      /** BucketCondition mode: the binding's condition. */
      condition?: IamCondition | undefined;
      problem?: { reason: IdentityReason; message: string } | undefined;
      /** The job's service-account sources disagree (reason IdentitySourcesDisagree): said on the Checkpoint. */
      identityWarning?: { reason: string; message: string } | undefined;
    };

/** Every CheckpointPolicy, selected among and resolved once, with their root overlaps (overlap.ts). */
export class PolicySet {
  readonly index: PolicyIndex<CheckpointPolicy>;
  private readonly resolved = new Map<string, EffectivePolicyResult>();
  private readonly byName = new Map<string, CheckpointPolicy>();
  private readonly shadowed: Map<string, string>;

  constructor(readonly policies: readonly CheckpointPolicy[]) {
    this.index = new PolicyIndex(policies);
    for (const p of policies) {
      this.resolved.set(p.metadata.name ?? '', resolvePolicy(p));
      this.byName.set(p.metadata.name ?? '', p);
    }
    this.shadowed = overlappingPolicies(policies);
  }

  /** The policy by name, as stored. */
  policy(name: string): CheckpointPolicy | undefined {
    return this.byName.get(name);
  }

  /** The older policy whose root overlaps `name`'s, when `name` is shadowed (it provisions nothing). */
  shadowedBy(name: string): string | undefined {
    return this.shadowed.get(name);
  }

  /** Another policy whose deeper root claims `prefix` of policy `name` on `bucket` (see overlap.ts rootOwnerOf). */
  rootOwnerOf(name: string, bucket: string, prefix: string): string | undefined {
    return rootOwnerOf(this.policies, name, bucket, prefix);
  }

  /** The resolved policy by name (undefined when there is no such policy). */
  get(name: string): EffectivePolicyResult | undefined {
    return this.resolved.get(name);
  }

  select(facts: Pick<JobFacts, 'namespaceLabels' | 'source'>): Selection<CheckpointPolicy> {
    return this.index.select({
      namespaceLabels: facts.namespaceLabels,
      labels: facts.source.labels,
      annotations: facts.source.annotations,
    });
  }
}

export function planJob(policies: PolicySet, facts: JobFacts): JobPlan {
  const { job } = facts;
  const sel = policies.select(facts);
  if (sel.kind === 'None')
    return { kind: 'Unselected', reason: selectionReason(sel), message: selectionMessage(sel, job.namespace) };
  if (sel.kind !== 'Selected') {
    return {
      kind: 'Blocked',
      reason: sel.kind === 'Conflict' ? Reasons.PolicyConflict : selectionReason(sel),
      message: selectionMessage(sel, job.namespace),
      policy: 'name' in sel ? sel.name : undefined,
    };
  }
  const resolved = policies.get(sel.name);
  if (!resolved || !resolved.ok) {
    return {
      kind: 'Blocked',
      reason: Reasons.InvalidSpec,
      message: `CheckpointPolicy "${sel.name}" is invalid: ${resolved && !resolved.ok ? resolved.errors.join('; ') : 'not found'}.`,
      policy: sel.name,
    };
  }
  const policy = resolved.policy;
  const winner = policies.shadowedBy(policy.name);
  if (winner !== undefined) {
    return {
      kind: 'Blocked',
      reason: ROOT_OVERLAP,
      message: shadowedMessage(
        policies.policy(policy.name) as CheckpointPolicy,
        policies.policy(winner) as CheckpointPolicy,
      ),
      policy: policy.name,
    };
  }
  const loc = jobLocation(policy, job);
  if (!loc.ok) {
    return {
      kind: 'Blocked',
      reason: 'InvalidLocation',
      message: `No checkpoint location: ${loc.error}.`,
      policy: policy.name,
    };
  }
  const { location } = loc;
  const owner = policies.rootOwnerOf(policy.name, location.bucket, location.prefix);
  if (owner !== undefined) {
    return {
      kind: 'Blocked',
      reason: ROOT_OVERLAP,
      message: foreignRootMessage(policy.name, location.uri, policies.policy(owner) as CheckpointPolicy),
      policy: policy.name,
    };
  }
  const bind = decideBinding(facts.existing, {
    job,
    policyName: policy.name,
    bucket: location.bucket,
    prefix: location.prefix,
  });
  switch (bind.kind) {
    case 'NameConflict':
      return {
        kind: 'Blocked',
        reason: 'NameConflict',
        message: `Checkpoint ${job.namespace}/${location.checkpointName} belongs to ${bind.holder.kind} ${bind.holder.name}; a ${job.kind} of the same name cannot share it. Rename one of them (the first holder keeps the checkpoint).`,
        policy: policy.name,
      };
    case 'Fenced':
      return {
        kind: 'Blocked',
        reason: Reasons.Deleting,
        message: `Checkpoint ${job.namespace}/${location.checkpointName} is being deleted; the job gets a fresh one when the deletion completes.`,
        policy: policy.name,
      };
    case 'LocationMismatch':
      return {
        kind: 'Blocked',
        reason: 'LocationMismatch',
        message: `The job's Checkpoint keeps its data at ${bind.existingUri}, but CheckpointPolicy "${policy.name}" would place it at ${bind.desiredUri}; data is never moved silently. Delete the Checkpoint to start over there, or select the job with the old policy.`,
        policy: policy.name,
      };
  }

  const ids = resolveJobIdentities({
    namespace: job.namespace,
    spec: facts.source.spec,
    access: policy,
    serviceAccount: facts.serviceAccount,
  });
  const members = ids.ok ? ids.members : [];
  const checkpoint: DesiredCheckpoint = {
    name: location.checkpointName,
    namespace: job.namespace,
    labels: { [ApiLabels.policy]: policy.name, [ApiLabels.jobKind]: job.kind },
    spec: {
      policyName: policy.name,
      jobRef: { kind: job.kind, name: job.name },
      bucket: location.bucket,
      prefix: location.prefix,
      uri: location.uri,
      access: { mode: policy.mode, role: policy.role },
      members,
    },
  };
  return {
    kind: 'Provision',
    policy,
    via: sel.via,
    bind,
    checkpoint,
    members,
    condition: policy.mode === 'BucketCondition' ? jobCondition(location.bucket, location.prefix, job) : undefined,
    problem: ids.ok ? undefined : { reason: ids.reason, message: ids.message },
    identityWarning:
      ids.ok && ids.disagreement ? { reason: IDENTITY_SOURCES_DISAGREE, message: ids.disagreement } : undefined,
  };
}
