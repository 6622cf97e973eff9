// The Checkpoint lifecycle for one logical job name in one namespace (the work-queue key `namespace/name`, which is
// also the Checkpoint's name). Bound while a live, selected job claims it: the Checkpoint exists, its spec names the
// members, the grant is applied and read back, and Ready follows the propagation hold. Released when no live job
// claims it: access is revoked and releasedAt starts the retention clock. A Checkpoint being deleted has its access
// revoked before its finalizer goes; its data stays, and the resync finds it again as an orphan.
//
// Decisions come from pure modules (policy/plan.ts, checkpoint/status.ts); this file only gathers facts, carries
// the plan out and reports. Errors that a retry may fix are thrown (the queue backs off); problems the user must fix
// are written as conditions and Warning Events and not retried quickly.
import type { AccessBackend, AccessMode, GrantObservation, GrantRequest } from '../access/backend.js';
import { AccessError } from '../access/backend.js';
import {
  API_VERSION,
  type Checkpoint,
  CheckpointConditions,
  CheckpointDefaults,
  CheckpointResource,
  type CheckpointStatus,
  FINALIZER,
  Labels,
  Reasons,
} from '../api/index.js';
import { type JobSource, jobSource, type LogicalJob, logicalJobOf } from '../policy/job.js';
import type { ExistingCheckpoint } from '../policy/naming.js';
import { type JobPlan, planJob } from '../policy/plan.js';
import { type Claim, deriveCheckpointStatus, findCondition } from './status.js';
import type { CachedMeta, CheckpointWriter, ClusterView, EventSink, ObjectRef } from './world.js';

export interface ReconcileResult {
  /** Reconcile this key again after so many milliseconds (e.g. when a propagation hold ends). */
  requeueAfterMs?: number;
}

/** A prefix found under a policy root with no Checkpoint (see orphan-scan.ts). */
export interface OrphanCandidate {
  policyName: string;
  bucket: string;
  prefix: string;
  uri: string;
  mode: AccessMode;
  role: string;
}

export interface ReconcilerDeps {
  view: ClusterView;
  /** Takes (and forgets) the orphan candidate recorded for a key by the resync, if any. */
  takeOrphan?: (namespace: string, name: string) => OrphanCandidate | undefined;
  writer: CheckpointWriter;
  events: EventSink;
  backend: (mode: AccessMode) => AccessBackend;
  now?: () => Date;
}

const SPARK_API_VERSION = 'sparkoperator.k8s.io/v1beta2';

interface LiveJob {
  job: LogicalJob;
  source: JobSource;
  ref: ObjectRef;
  created: string;
}

type ProvisionPlan = Extract<JobPlan, { kind: 'Provision' }>;

function deleting(meta: { deletionTimestamp?: unknown }): boolean {
  return meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null;
}

function timeOf(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'string' ? v : '';
}

function checkpointRef(cp: Checkpoint): ObjectRef {
  return {
    apiVersion: API_VERSION,
    kind: CheckpointResource.kind,
    namespace: cp.metadata.namespace,
    name: cp.metadata.name ?? '',
    uid: cp.metadata.uid,
  };
}

function existingOf(cp: Checkpoint | undefined): ExistingCheckpoint | undefined {
  if (!cp) return undefined;
  const bound = findCondition(cp.status?.conditions, CheckpointConditions.Bound);
  return {
    jobRef: cp.spec.jobRef,
    policyName: cp.spec.policyName,
    bucket: cp.spec.bucket,
    prefix: cp.spec.prefix,
    phase: cp.status?.phase,
    orphaned: cp.status?.phase === 'Released' && bound?.reason === Reasons.Orphaned,
  };
}

function jobLabel(job: LogicalJob): string {
  return `${job.kind} ${job.namespace}/${job.name}`;
}

export class CheckpointReconciler {
  private readonly now: () => Date;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const { view } = this.deps;
    const cp = view.checkpoint(namespace, name);
    if (cp && deleting(cp.metadata)) return this.finalize(cp);

    const live = this.liveJobs(namespace, name);
    const namespaceLabels = view.namespaceLabels(namespace);
    const set = view.policySet();
    const existing = existingOf(cp);

    let chosen: { live: LiveJob; plan: ProvisionPlan } | undefined;
    let holderBlocked: { reason: string; message: string } | undefined;
    for (const j of live) {
      const plan = planJob(set, {
        job: j.job,
        source: j.source,
        namespaceLabels,
        serviceAccount: (sa) => view.serviceAccount(namespace, sa),
        existing,
      });
      if (plan.kind === 'Provision') {
        if (!chosen) {
          chosen = { live: j, plan };
          continue;
        }
        // Both kinds are selected and no Checkpoint exists yet: the older job takes the name.
        this.deps.events.event(
          j.ref,
          'Warning',
          'NameConflict',
          `${chosen.live.job.kind} ${chosen.live.job.name} holds the checkpoint name "${name}" in this namespace; rename one of them.`,
        );
      } else if (plan.kind === 'Blocked') {
        this.deps.events.event(j.ref, 'Warning', plan.reason, plan.message);
        if (cp && cp.spec.jobRef.kind === j.job.kind) holderBlocked = { reason: plan.reason, message: plan.message };
      }
    }

    // Fenced by the garbage collector: nothing binds it (a job that wants it was told so in an Event) until the GC
    // has deleted the data and dropped the record; the job then gets a fresh Checkpoint.
    if (cp?.status?.phase === 'Deleting') return {};
    const orphan = this.deps.takeOrphan?.(namespace, name);
    if (chosen) return this.bind(cp, chosen.live, chosen.plan);
    if (!cp) return orphan && live.length === 0 ? this.adoptOrphan(namespace, name, orphan) : {};
    if (holderBlocked) {
      // The job that holds the Checkpoint still exists but cannot be provisioned (e.g. a policy conflict): keep
      // everything as it is — releasing would start the retention clock on a live job's data — and say why.
      return this.writeStatus(cp, {
        claim: { kind: 'Bound', job: `${cp.spec.jobRef.kind} ${namespace}/${cp.spec.jobRef.name}` },
        desiredMembers: cp.spec.members ?? [],
        problem: holderBlocked,
        holdMs: 0,
      });
    }
    return this.release(cp);
  }

  /** The live jobs named `name` in `namespace`: a ScheduledSparkApplication and/or a plain SparkApplication. */
  private liveJobs(namespace: string, name: string): LiveJob[] {
    const { view } = this.deps;
    const out: LiveJob[] = [];
    const scheduled = view.scheduledSparkApplication(namespace, name);
    if (scheduled && !deleting(scheduled.metadata)) {
      const job: LogicalJob = { kind: 'ScheduledSparkApplication', namespace, name };
      const source = jobSource(job, { scheduled });
      if (source) out.push({ job, source, ref: this.jobRef(job, scheduled), created: this.created(scheduled) });
    }
    const app = view.sparkApplication(namespace, name);
    if (app && !deleting(app.metadata)) {
      const r = logicalJobOf(app);
      if (r.kind === 'Job' && r.job.kind === 'SparkApplication') {
        const source = jobSource(r.job, { app });
        if (source) out.push({ job: r.job, source, ref: this.jobRef(r.job, app), created: this.created(app) });
      }
    }
    return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
  }

  private created(o: { metadata: CachedMeta }): string {
    return timeOf(o.metadata.creationTimestamp);
  }

  private jobRef(job: LogicalJob, o: { metadata: CachedMeta }): ObjectRef {
    return {
      apiVersion: SPARK_API_VERSION,
      kind: job.kind,
      namespace: job.namespace,
      name: job.name,
      uid: o.metadata.uid,
    };
  }

  private async bind(current: Checkpoint | undefined, live: LiveJob, plan: ProvisionPlan): Promise<ReconcileResult> {
    const { writer, events } = this.deps;
    const desired = plan.checkpoint;
    let cp: Checkpoint;
    const fresh = !current || plan.bind.kind === 'Bind';
    if (fresh) {
      cp = await writer.create({
        apiVersion: API_VERSION,
        kind: 'Checkpoint',
        metadata: {
          name: desired.name,
          namespace: desired.namespace,
          labels: desired.labels,
          finalizers: [FINALIZER],
        },
        spec: desired.spec,
      });
      events.event(
        checkpointRef(cp),
        'Normal',
        'Provisioned',
        `Checkpoint for ${jobLabel(live.job)} at ${desired.spec.uri} (policy ${desired.spec.policyName}).`,
      );
      events.event(live.ref, 'Normal', 'CheckpointBound', `Checkpoint ${desired.spec.uri} bound.`);
    } else {
      cp = current;
      const wasReleased = cp.status?.phase === 'Released';
      const patch = this.specPatch(cp, desired);
      if (patch)
        cp = await this.deps.writer.patch(
          cp.metadata.namespace ?? '',
          desired.name,
          patch,
          cp.metadata.resourceVersion,
        );
      if (wasReleased) {
        events.event(live.ref, 'Normal', 'CheckpointRebound', `Checkpoint ${cp.spec.uri} bound again.`);
        events.event(checkpointRef(cp), 'Normal', 'Rebound', `Bound again by ${jobLabel(live.job)}.`);
      }
    }

    const req: GrantRequest = {
      bucket: cp.spec.bucket,
      prefix: cp.spec.prefix,
      role: cp.spec.access?.role ?? plan.policy.role,
      members: plan.members,
      applied: cp.status?.grantedMembers ?? [],
      job: { namespace: live.job.namespace, name: live.job.name },
    };
    const { observed, added, problem } = await this.converge(cp, plan.policy.mode, req, plan.problem, { fresh });
    return this.writeStatus(
      cp,
      {
        claim: { kind: 'Bound', job: jobLabel(live.job) },
        desiredMembers: plan.members,
        observedMembers: observed,
        addedMembers: added,
        problem,
        holdMs: plan.policy.propagationHoldMs,
      },
      live.ref,
    );
  }

  /** The merge patch that brings an existing Checkpoint's labels, finalizer and mutable spec to `desired`. */
  private specPatch(cp: Checkpoint, desired: ProvisionPlan['checkpoint']): object | undefined {
    const patch: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> } = {};
    const labels = cp.metadata.labels ?? {};
    const labelChanges = Object.fromEntries(Object.entries(desired.labels).filter(([k, v]) => labels[k] !== v));
    const finalizers = cp.metadata.finalizers ?? [];
    if (Object.keys(labelChanges).length > 0 || !finalizers.includes(FINALIZER)) {
      patch.metadata = {};
      if (Object.keys(labelChanges).length > 0) patch.metadata.labels = labelChanges;
      if (!finalizers.includes(FINALIZER)) patch.metadata.finalizers = [...finalizers, FINALIZER];
    }
    const spec: Record<string, unknown> = {};
    const d = desired.spec;
    if (cp.spec.policyName !== d.policyName) spec.policyName = d.policyName;
    if (cp.spec.jobRef.kind !== d.jobRef.kind || cp.spec.jobRef.name !== d.jobRef.name) spec.jobRef = d.jobRef;
    // Members are kept sorted, so a different order is a change too.
    if ((cp.spec.members ?? []).join() !== (d.members ?? []).join()) spec.members = d.members;
    if (cp.spec.access?.mode !== d.access?.mode || cp.spec.access?.role !== d.access?.role) spec.access = d.access;
    if (Object.keys(spec).length > 0) patch.spec = spec;
    return patch.metadata || patch.spec ? patch : undefined;
  }

  /**
   * Reads what GCS holds for the job and writes only when it differs from `req.members`. Returns what is in place
   * afterwards, or the problem the user must fix. Transient errors are thrown after the status says so.
   */
  private async converge(
    cp: Checkpoint,
    mode: AccessMode,
    req: GrantRequest,
    identityProblem: { reason: string; message: string } | undefined,
    opts: { fresh?: boolean; ownsAll?: boolean } = {},
  ): Promise<{
    observed?: string[] | undefined;
    added?: string[] | undefined;
    problem?: { reason: string; message: string } | undefined;
  }> {
    const backend = this.deps.backend(mode);
    const ref = checkpointRef(cp);
    // A managed folder's policy is Tidemark's alone, and so is a per-job binding whose Checkpoint was lost (an
    // orphan): every member found there is Tidemark's to remove. In a bucket policy otherwise only the members
    // Tidemark applied are; anyone else's member in the same binding is left alone (IAMPartialPolicy).
    const ownsAll = mode === 'ManagedFolder' || opts.ownsAll === true;
    const desired = new Set(req.members);
    try {
      // A Checkpoint created a moment ago has nothing in GCS yet: apply at once, without a read first.
      let obs: GrantObservation = opts.fresh ? { members: [], prefixReady: false } : await backend.observe(req);
      const managed = (members: readonly string[]) =>
        ownsAll ? [...members] : members.filter((m) => desired.has(m) || req.applied.includes(m));
      const added = req.members.filter((m) => !obs.members.includes(m));
      const removing = managed(obs.members).filter((m) => !desired.has(m));
      if (!obs.prefixReady || added.length > 0 || removing.length > 0) {
        obs = await backend.apply({ ...req, applied: [...new Set([...req.applied, ...removing])] });
        if (added.length > 0) {
          this.deps.events.event(
            ref,
            'Normal',
            'AccessGranted',
            `Granted ${req.role} on ${cp.spec.uri} to ${added.join(', ')}.`,
          );
        }
        if (removing.length > 0) {
          this.deps.events.event(
            ref,
            'Normal',
            'AccessRevoked',
            `Revoked ${req.role} on ${cp.spec.uri} from ${removing.join(', ')}.`,
          );
        }
      }
      return { observed: managed(obs.members), added, problem: identityProblem };
    } catch (err) {
      if (err instanceof AccessError) {
        this.deps.events.event(ref, 'Warning', err.reason, err.message);
        return { problem: { reason: err.reason, message: err.message } };
      }
      const message = err instanceof Error ? err.message : String(err);
      this.deps.events.event(ref, 'Warning', Reasons.GrantFailed, message);
      await this.writeStatus(cp, {
        claim: this.claimOf(cp),
        desiredMembers: req.members,
        problem: { reason: Reasons.GrantFailed, message },
        holdMs: 0,
      });
      throw err;
    }
  }

  private claimOf(cp: Checkpoint): Claim {
    if (cp.status?.phase === 'Bound' || cp.status?.phase === undefined) {
      return { kind: 'Bound', job: `${cp.spec.jobRef.kind} ${cp.metadata.namespace}/${cp.spec.jobRef.name}` };
    }
    const orphaned = existingOf(cp)?.orphaned === true;
    return { kind: 'Released', reason: orphaned ? 'Orphaned' : 'JobGone' };
  }

  /**
   * A prefix under a policy root that no Checkpoint records: record it as Released (reason Orphaned) so that it is
   * deleted only after a full retention period, and revoke whatever grant is still there.
   */
  private async adoptOrphan(namespace: string, name: string, o: OrphanCandidate): Promise<ReconcileResult> {
    if (this.deps.view.namespaceLabels(namespace) === undefined) return {};
    const cp = await this.deps.writer.create({
      apiVersion: API_VERSION,
      kind: 'Checkpoint',
      metadata: {
        name,
        namespace,
        labels: { [Labels.policy]: o.policyName, [Labels.jobKind]: 'SparkApplication' },
        finalizers: [FINALIZER],
      },
      spec: {
        policyName: o.policyName,
        jobRef: { kind: 'SparkApplication', name },
        bucket: o.bucket,
        prefix: o.prefix,
        uri: o.uri,
        access: { mode: o.mode, role: o.role },
        members: [],
      },
    });
    this.deps.events.event(
      checkpointRef(cp),
      'Normal',
      Reasons.Orphaned,
      `Found ${o.uri} under policy ${o.policyName} with no Checkpoint; recorded as Released so it is kept for a full retention period.`,
    );
    const req = this.revokeRequest(cp);
    const { observed, problem } = await this.converge(cp, o.mode, req, undefined, { ownsAll: true });
    return this.writeStatus(cp, {
      claim: { kind: 'Released', reason: 'Orphaned' },
      desiredMembers: [],
      observedMembers: observed,
      problem,
      holdMs: 0,
    });
  }

  /** No live job claims the Checkpoint: revoke what Tidemark granted, record the release. */
  private async release(cp: Checkpoint): Promise<ReconcileResult> {
    if (cp.status?.phase === 'Deleting') return {};
    const orphaned = existingOf(cp)?.orphaned === true;
    const wasBound = cp.status?.phase === 'Bound';
    const req = this.revokeRequest(cp);
    const { observed, problem } = await this.converge(
      cp,
      cp.spec.access?.mode ?? CheckpointDefaults.access.mode,
      req,
      undefined,
    );
    if (wasBound) {
      this.deps.events.event(
        checkpointRef(cp),
        'Normal',
        'Released',
        `No live job claims ${cp.spec.uri}; access revoked, data kept for the policy's retention period.`,
      );
    }
    return this.writeStatus(cp, {
      claim: { kind: 'Released', reason: orphaned ? 'Orphaned' : 'JobGone' },
      desiredMembers: [],
      observedMembers: observed,
      problem,
      holdMs: 0,
    });
  }

  private revokeRequest(cp: Checkpoint): GrantRequest {
    return {
      bucket: cp.spec.bucket,
      prefix: cp.spec.prefix,
      role: cp.spec.access?.role ?? CheckpointDefaults.access.role,
      members: [],
      applied: [...new Set([...(cp.status?.grantedMembers ?? []), ...(cp.spec.members ?? [])])],
      job: { namespace: cp.metadata.namespace ?? '', name: cp.metadata.name ?? '' },
    };
  }

  /** The Checkpoint is being deleted: revoke access, then let it go (its data stays; the resync re-adopts it). */
  private async finalize(cp: Checkpoint): Promise<ReconcileResult> {
    const finalizers = cp.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) return {};
    // Being garbage-collected: the GC removes the finalizer itself once the prefix is empty.
    if (cp.status?.phase === 'Deleting') return {};
    const req = this.revokeRequest(cp);
    const { problem } = await this.converge(cp, cp.spec.access?.mode ?? CheckpointDefaults.access.mode, req, undefined);
    if (problem) return { requeueAfterMs: 30_000 };
    await this.deps.writer.patch(
      cp.metadata.namespace ?? '',
      cp.metadata.name ?? '',
      { metadata: { finalizers: finalizers.filter((f) => f !== FINALIZER) } },
      cp.metadata.resourceVersion,
    );
    return {};
  }

  private async writeStatus(
    cp: Checkpoint,
    facts: {
      claim: Claim;
      desiredMembers: readonly string[];
      observedMembers?: readonly string[] | undefined;
      addedMembers?: readonly string[] | undefined;
      problem?: { reason: string; message: string } | undefined;
      holdMs: number;
    },
    jobRef?: ObjectRef,
  ): Promise<ReconcileResult> {
    const now = this.now();
    const previous = cp.status;
    const derived = deriveCheckpointStatus({ generation: cp.metadata.generation ?? 0, previous, now, ...facts });
    if (!sameStatus(previous, derived.status)) {
      await this.deps.writer.writeStatus(cp, derived.status);
      const wasReady = findCondition(previous?.conditions, CheckpointConditions.Ready)?.status === 'True';
      if (derived.ready && !wasReady) {
        const msg = `Access to ${cp.spec.uri} is in place; the job may start.`;
        this.deps.events.event(checkpointRef(cp), 'Normal', Reasons.CheckpointReady, msg);
        if (jobRef) this.deps.events.event(jobRef, 'Normal', Reasons.CheckpointReady, msg);
      }
    }
    if (derived.requeueAt) return { requeueAfterMs: Math.max(0, derived.requeueAt.getTime() - now.getTime()) };
    return {};
  }
}

function sameStatus(a: CheckpointStatus | undefined, b: CheckpointStatus): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function normalize(s: CheckpointStatus | undefined): unknown {
  if (!s) return null;
  const sorted = (o: unknown): unknown => {
    if (Array.isArray(o)) return o.map(sorted);
    if (o instanceof Date) return o.toISOString();
    if (o && typeof o === 'object') {
      return Object.fromEntries(
        Object.entries(o as Record<string, unknown>)
          .filter(([, v]) => v !== undefined)
          .sort(([x], [y]) => (x < y ? -1 : 1))
          .map(([k, v]) => [k, sorted(v)]),
      );
    }
    return o;
  };
  return sorted(s);
}
