// `tidemark plan`'s decision: what the API server and the controller would do with a set of manifests, offline.
// Every decision comes from the modules the controller itself runs: src/api/validate.ts (the API server's refusals,
// word for word), src/policy/effective.ts (the controller's own checks), src/policy/job.ts (the logical job),
// src/policy/plan.ts (selection, location, identities: planJob, the reconciler's own entry point) and
// src/access/condition.ts (the BucketCondition binding). Nothing here decides anything of its own except how
// to gather the facts from files and how to report them.
import { type CheckpointPolicy, CheckpointPolicyResource, type CheckpointPolicySpec } from '../api/index.js';
import { validateObject } from '../api/validate.js';
import { resolvePolicy } from '../policy/effective.js';
import type { ServiceAccountLike } from '../policy/identity.js';
import {
  type JobSource,
  jobSource,
  type LogicalJob,
  logicalJobOf,
  logicalJobOfScheduled,
  type ScheduledSparkApplicationLike,
  type SparkApplicationLike,
} from '../policy/job.js';
import { PolicySet, planJob } from '../policy/plan.js';
import { cmp } from '../policy/selector.js';
import { type AdmissionPreview, previewAdmission } from './admission.js';
import type { Manifest, Manifests } from './manifests.js';
import { shadowedPolicies } from './overlap.js';

/** The label the API server puts on every namespace (namespaceSelectors may use it). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export type PolicyStatus = 'Valid' | 'Refused' | 'Invalid' | 'Shadowed';

export interface PolicyReport {
  name: string;
  source: string;
  /**
   * Valid; Refused: the API server would not store it (`errors` are its messages); Invalid: stored, but the
   * controller's checks fail (Ready=False, InvalidSpec); Shadowed: its root overlaps an earlier policy's
   * (Ready=False, RootOverlap) and it provisions nothing.
   */
  status: PolicyStatus;
  errors: string[];
  shadowedBy?: string | undefined;
  bucket?: string | undefined;
  rootPrefix?: string | undefined;
  mode?: string | undefined;
  identity?: string | undefined;
}

/**
 * Provision: a Checkpoint would be bound and `members` granted. Refused: the Checkpoint would be bound but nothing
 * granted (an identity problem, e.g. ServiceAccountNotAllowed). Blocked: nothing provisioned (a conflict, an
 * invalid or shadowed policy, ...). Unselected: no policy covers the job. Invalid: not a job Tidemark can name.
 */
export type JobOutcome = 'Provision' | 'Refused' | 'Blocked' | 'Unselected' | 'Invalid';

export interface JobReport {
  namespace: string;
  kind: LogicalJob['kind'];
  name: string;
  source: string;
  outcome: JobOutcome;
  reason: string;
  message: string;
  policy?: string | undefined;
  via?: 'Selectors' | 'Annotation' | undefined;
  uri?: string | undefined;
  bucket?: string | undefined;
  prefix?: string | undefined;
  mode?: string | undefined;
  role?: string | undefined;
  members: string[];
  condition?: { title: string; expression: string } | undefined;
  admission?: AdmissionPreview | undefined;
  /** SparkApplications in the input that are runs of this scheduled job. */
  runs?: string[] | undefined;
}

export interface PlanReport {
  policies: PolicyReport[];
  jobs: JobReport[];
  ignored: Manifests['ignored'];
  notes: string[];
  summary: Record<JobOutcome, number> & { policies: number; policyProblems: number };
  /** 0: nothing to fix; 1: findings (see EXIT_CODES). */
  exitCode: 0 | 1;
}

export const EXIT_CODES = {
  ok: 0,
  findings: 1,
  badInput: 2,
} as const;

export function planManifests(m: Manifests): PlanReport {
  const notes: string[] = [];
  const { policies, accepted } = checkPolicies(m.policies);
  const set = new PolicySet(accepted);
  const shadowed = new Map(policies.filter((p) => p.shadowedBy).map((p) => [p.name, p.shadowedBy as string]));

  const namespaceLabels = new Map<string, Record<string, string>>();
  for (const ns of m.namespaces) {
    namespaceLabels.set(ns.metadata.name, { ...(ns.metadata.labels ?? {}), [NAMESPACE_NAME_LABEL]: ns.metadata.name });
  }
  const missingNamespaces = new Set<string>();
  const labelsOf = (ns: string) => {
    const known = namespaceLabels.get(ns);
    if (known) return known;
    missingNamespaces.add(ns);
    return { [NAMESPACE_NAME_LABEL]: ns };
  };
  const serviceAccounts = new Map<string, ServiceAccountLike>();
  for (const sa of m.serviceAccounts) {
    serviceAccounts.set(`${sa.metadata.namespace}/${sa.metadata.name}`, { metadata: sa.metadata });
  }

  // The candidates per (namespace, name): the reconciler plans a scheduled job and a plain job of one name together.
  interface Candidate {
    job: LogicalJob;
    source: JobSource;
    manifest: Manifest;
    order: number;
  }
  const jobs: JobReport[] = [];
  const candidates = new Map<string, Candidate[]>();
  const runs = new Map<string, string[]>();
  const add = (c: Candidate) => {
    const key = `${c.job.namespace}/${c.job.name}`;
    candidates.set(key, [...(candidates.get(key) ?? []), c]);
  };
  let order = 0;
  for (const s of m.scheduledSparkApplications) {
    const like = s as unknown as ScheduledSparkApplicationLike;
    const r = logicalJobOfScheduled(like);
    if (r.kind !== 'Job') {
      jobs.push(invalidJob(s, 'ScheduledSparkApplication', r.message));
      continue;
    }
    const source = jobSource(r.job, { scheduled: like });
    if (source) add({ job: r.job, source, manifest: s, order: order++ });
  }
  for (const a of m.sparkApplications) {
    const like = a as unknown as SparkApplicationLike;
    const r = logicalJobOf(like);
    if (r.kind === 'Invalid') {
      jobs.push(invalidJob(a, 'SparkApplication', r.message));
    } else if (r.kind === 'Inconsistent') {
      jobs.push({ ...invalidJob(a, 'SparkApplication', r.message), outcome: 'Blocked', reason: r.reason });
    } else if (r.job.kind === 'ScheduledSparkApplication') {
      const key = `${r.job.namespace}/${r.job.name}`;
      runs.set(key, [...(runs.get(key) ?? []), a.metadata.name]);
    } else {
      const source = jobSource(r.job, { app: like });
      if (source) add({ job: r.job, source, manifest: a, order: order++ });
    }
  }
  for (const [key, names] of runs) {
    if (!candidates.get(key)?.some((c) => c.job.kind === 'ScheduledSparkApplication')) {
      const [namespace, schedule] = key.split('/') as [string, string];
      notes.push(
        `SparkApplication ${names.map((n) => `${namespace}/${n}`).join(', ')}: a run of ScheduledSparkApplication ${schedule}, which is not in the input; it is planned with its schedule.`,
      );
    }
  }

  for (const [key, list] of candidates) {
    // Like the reconciler: the older object takes the name (input order for objects without a creationTimestamp).
    list.sort(
      (a, b) =>
        cmp(a.manifest.metadata.creationTimestamp ?? '\uffff', b.manifest.metadata.creationTimestamp ?? '\uffff') ||
        a.order - b.order,
    );
    let holder: Candidate | undefined;
    for (const c of list) {
      const { job, source } = c;
      const plan = planJob(set, {
        job,
        source,
        namespaceLabels: labelsOf(job.namespace),
        serviceAccount: (name) => serviceAccounts.get(`${job.namespace}/${name}`),
        existing: undefined,
      });
      const base = {
        namespace: job.namespace,
        kind: job.kind,
        name: job.name,
        source: c.manifest.source,
        members: [] as string[],
        ...(job.kind === 'ScheduledSparkApplication' && runs.has(key) ? { runs: runs.get(key) } : {}),
      };
      if (plan.kind === 'Unselected') {
        jobs.push({ ...base, outcome: 'Unselected', reason: plan.reason, message: plan.message });
        continue;
      }
      if (plan.kind === 'Blocked') {
        jobs.push({ ...base, outcome: 'Blocked', reason: plan.reason, message: plan.message, policy: plan.policy });
        continue;
      }
      const policy = plan.policy;
      const spec = plan.checkpoint.spec;
      const where = {
        policy: policy.name,
        via: plan.via,
        uri: spec.uri,
        bucket: spec.bucket,
        prefix: spec.prefix,
        mode: policy.mode,
        role: policy.role,
      };
      const winner = shadowed.get(policy.name);
      if (winner !== undefined) {
        jobs.push({
          ...base,
          ...where,
          outcome: 'Blocked',
          reason: 'RootOverlap',
          message: `CheckpointPolicy "${policy.name}" provisions nothing: its root overlaps CheckpointPolicy "${winner}"'s.`,
        });
        continue;
      }
      if (holder) {
        jobs.push({
          ...base,
          ...where,
          outcome: 'Blocked',
          reason: 'NameConflict',
          message: `${holder.job.kind} ${holder.job.name} holds the checkpoint name "${job.name}" in this namespace; rename one of them.`,
        });
        continue;
      }
      holder = c;
      const admission = previewAdmission(source.spec, spec.uri);
      if (plan.problem) {
        jobs.push({
          ...base,
          ...where,
          outcome: 'Refused',
          reason: plan.problem.reason,
          message: plan.problem.message,
          admission,
        });
        continue;
      }
      jobs.push({
        ...base,
        ...where,
        outcome: 'Provision',
        reason: 'PolicySelected',
        message:
          plan.via === 'Annotation'
            ? `Selected by CheckpointPolicy "${policy.name}" through the tidemark.dev/policy annotation.`
            : `Selected by CheckpointPolicy "${policy.name}".`,
        members: plan.members,
        condition: plan.condition,
        admission,
      });
    }
  }
  jobs.sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name) || cmp(a.kind, b.kind));
  for (const ns of [...missingNamespaces].sort(cmp)) {
    notes.push(`Namespace ${ns} is not in the input: only its ${NAMESPACE_NAME_LABEL} label is known.`);
  }
  if (m.ignored.length > 0) {
    const kinds = [...new Set(m.ignored.map((i) => `${i.apiVersion} ${i.kind}`))].sort(cmp);
    notes.push(`${m.ignored.length} object(s) of kinds plan does not read were skipped: ${kinds.join(', ')}.`);
  }

  const summary: PlanReport['summary'] = {
    policies: policies.length,
    policyProblems: policies.filter((p) => p.status !== 'Valid').length,
    Provision: 0,
    Refused: 0,
    Blocked: 0,
    Unselected: 0,
    Invalid: 0,
  };
  for (const j of jobs) summary[j.outcome]++;
  const findings = summary.policyProblems + summary.Refused + summary.Blocked + summary.Invalid;
  return {
    policies,
    jobs,
    ignored: m.ignored,
    notes,
    summary,
    exitCode: findings > 0 ? EXIT_CODES.findings : EXIT_CODES.ok,
  };
}

function invalidJob(m: Manifest, kind: LogicalJob['kind'], message: string): JobReport {
  return {
    namespace: m.metadata.namespace ?? '',
    kind,
    name: m.metadata.name,
    source: m.source,
    outcome: 'Invalid',
    reason: 'InvalidJob',
    message,
    members: [],
  };
}

/** Each policy checked as the API server and then the controller would; the ones the API server would store. */
function checkPolicies(manifests: readonly Manifest[]): { policies: PolicyReport[]; accepted: CheckpointPolicy[] } {
  const policies: PolicyReport[] = [];
  const accepted: CheckpointPolicy[] = [];
  const created = new Map<string, string | undefined>();
  for (const m of manifests) {
    const name = m.metadata.name;
    const { object, errors } = validateObject(CheckpointPolicyResource.kind, m.raw);
    if (errors.length > 0) {
      policies.push({ name, source: m.source, status: 'Refused', errors: errors.map(String) });
      continue;
    }
    const spec = (object as { spec: CheckpointPolicySpec }).spec;
    const policy: CheckpointPolicy = {
      apiVersion: 'tidemark.dev/v1alpha1',
      kind: 'CheckpointPolicy',
      metadata: { name },
      spec,
    };
    accepted.push(policy);
    created.set(name, m.metadata.creationTimestamp);
    const resolved = resolvePolicy(policy);
    const report: PolicyReport = resolved.ok
      ? {
          name,
          source: m.source,
          status: 'Valid',
          errors: [],
          bucket: resolved.policy.bucket,
          rootPrefix: resolved.policy.rootPrefix,
          mode: resolved.policy.mode,
          identity: resolved.policy.identity,
        }
      : { name, source: m.source, status: 'Invalid', errors: resolved.errors };
    policies.push(report);
  }
  // MERGE(i8-policy): switch to overlappingPolicies from src/policy/overlap.ts (see ./overlap.ts).
  const shadowed = shadowedPolicies(
    policies
      .filter((p) => p.status === 'Valid')
      .map((p) => ({
        name: p.name,
        bucket: p.bucket as string,
        rootPrefix: p.rootPrefix as string,
        creationTimestamp: created.get(p.name),
      })),
  );
  for (const p of policies) {
    const winner = shadowed.get(p.name);
    if (winner === undefined) continue;
    p.status = 'Shadowed';
    p.shadowedBy = winner;
    p.errors = [
      `The root gs://${p.bucket}/${p.rootPrefix}/ is equal to or nested with CheckpointPolicy "${winner}"'s root; each policy needs a root of its own.`,
    ];
  }
  policies.sort((a, b) => cmp(a.name, b.name));
  return { policies, accepted };
}
