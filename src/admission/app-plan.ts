// A SparkApplication's logical job and its plan (policy/plan.ts planJob), for both webhooks: the SparkApplication
// mutation and the driver-pod gate ask the same question of the same facts. Pure.
import type { ServiceAccountLike } from '../policy/identity.js';
import {
  type JobResolution,
  jobSource,
  type LogicalJob,
  logicalJobOf,
  type ScheduledSparkApplicationLike,
  type SparkApplicationLike,
} from '../policy/job.js';
import type { ExistingCheckpoint } from '../policy/naming.js';
import { type JobPlan, type PolicySet, planJob } from '../policy/plan.js';
import type { Labels } from '../policy/selector.js';

export interface AppFacts {
  policies: PolicySet;
  namespaceLabels: Labels | undefined;
  /** For a scheduled run: its ScheduledSparkApplication (undefined when it cannot be found). */
  scheduled?: ScheduledSparkApplicationLike | undefined;
  serviceAccount: (name: string) => ServiceAccountLike | undefined;
  existing?: ExistingCheckpoint | undefined;
}

export type AppPlan =
  | { kind: 'NoJob'; resolution: Exclude<JobResolution, { kind: 'Job' }> }
  | { kind: 'NoSchedule'; job: LogicalJob }
  | { kind: 'Planned'; job: LogicalJob; plan: JobPlan };

export function planApp(app: SparkApplicationLike, f: AppFacts, resolution = logicalJobOf(app)): AppPlan {
  if (resolution.kind !== 'Job') return { kind: 'NoJob', resolution };
  const job = resolution.job;
  const source = jobSource(job, { app, scheduled: f.scheduled });
  if (!source) return { kind: 'NoSchedule', job };
  const plan = planJob(f.policies, {
    job,
    source,
    namespaceLabels: f.namespaceLabels,
    serviceAccount: f.serviceAccount,
    existing: f.existing,
  });
  return { kind: 'Planned', job, plan };
}
