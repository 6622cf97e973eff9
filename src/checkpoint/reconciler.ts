// The Checkpoint lifecycle for one logical job name in one namespace (the work-queue key `namespace/name`, which is
// also the Checkpoint's name). Bound while a live, selected job claims it: the Checkpoint exists, its spec names the
// members, the grant is applied and read back, and Ready follows the propagation hold. Released when no live job
// claims it: access is revoked and releasedAt starts the retention clock. A Checkpoint being deleted has its access
// revoked before its finalizer goes; its data stays, and the resync finds it again as an orphan.
//
// What is granted is recorded in status.grants BEFORE the GCS change and narrowed after the read-back; revocation
// works from that record alone (grants.ts). The place to act is derived from policy + namespace + name, never read
// from the Checkpoint's spec (place.ts). docs/access.md states the invariants this file keeps.
//
// Decisions come from pure modules (policy/plan.ts, checkpoint/status.ts); this file only gathers facts, carries
// the plan out and reports. Errors that a retry may fix are thrown (the queue backs off); problems the user must fix
// are written as conditions and Warning Events and not retried quickly.
//
// A backend whose writes wait for a slot (BucketCondition: one bucket-policy write per second) is never waited for:
// its change is handed over (AccessBackend.submit) after the intent is recorded, the reconcile ends "pending"
// (status says so; the worker is free), and the backend wakes the key when the write has been read back or has
// failed; the next reconcile takes that answer and goes on (narrows the record, AccessGranted, Ready, revocations).
// Nothing about a queued change lives outside the backend: after a restart or a new leadership term the record
// alone is the starting point again (the change is recomputed and handed over anew).
import type { AccessBackend, AccessMode, GrantObservation, GrantRequest } from '../access/backend.js';
import { AccessError } from '../access/backend.js';
import { AccessReasons } from '../access/gcs-errors.js';
import {
  Annotations,
  API_VERSION,
  type Checkpoint,
  CheckpointConditions,
  CheckpointDefaults,
  type CheckpointStatus,
  FINALIZER,
  Labels,
  Reasons,
} from '../api/index.js';
import { type JobSource, jobSource, type LogicalJob, logicalJobOf } from '../policy/job.js';
import { type JobPlan, planJob } from '../policy/plan.js';
import {
  belongsTo,
  describeGrant,
  type GrantRecord,
  grantFor,
  grantKey,
  type JobName,
  narrowed,
  recordOf,
  withIntent,
} from './grants.js';
import { checkPlace, type PlaceCheck, policiesCovering } from './place.js';
import { checkpointRef, existingCheckpoint } from './refs.js';
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
  /**
   * Asks the API server (not a cache) whether a namespace is gone, before the grants of a namespace the cache does
   * not know are revoked. Without it the cache's word is taken.
   */
  namespaceGone?: (namespace: string) => Promise<boolean>;
  /**
   * Takes (and forgets) whether this key must read GCS even when its record proves the grant settled: true for the
   * periodic resync's drift repair. Absent: always read. Without the mark, a Checkpoint whose status shows exactly
   * the desired grant read back (for its current generation and members) is not read again: a restart or an
   * unrelated change costs no GCS call per job.
   */
  mustVerify?: (namespace: string, name: string) => boolean;
  now?: () => Date;
}

/** Event reasons of the reconciler (condition reasons are in src/api Reasons). */
export const EventReasons = {
  /** A role, mode or member change: the new grant is in place and read back, the old one revoked. */
  AccessMigrated: 'AccessMigrated',
  /** A managed folder held bindings Tidemark did not make; they were removed (the folder is Tidemark's alone). */
  ForeignBindingRemoved: 'ForeignBindingRemoved',
  /** A recorded grant's bucket no longer exists: the grant went with it. */
  BucketGone: 'BucketGone',
  /** The tidemark.dev/skip-revoke annotation let a finalizer go without revoking. */
  RevokeSkipped: 'RevokeSkipped',
  /** The Checkpoint of a live job was deleted: access kept, a new Checkpoint follows. */
  LiveCheckpointDeleted: 'LiveCheckpointDeleted',
  /** A Tidemark grant for a namespace that no longer exists was revoked by the resync. */
  NamespaceGoneRevoked: 'NamespaceGoneRevoked',
} as const;

interface Problem {
  reason: string;
  message: string;
}

/** A recorded grant could not be revoked (e.g. forbidden): thrown after the status says so, so the queue backs off. */
export class RevokeBlocked extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RevokeBlocked';
  }
}

function jobOf(cp: Checkpoint): JobName {
  return { namespace: cp.metadata.namespace ?? '', name: cp.metadata.name ?? '' };
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
    const existing = existingCheckpoint(cp);

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
    if (!cp) {
      if (!orphan || live.length > 0) return {};
      return namespaceLabels === undefined
        ? this.revokeGoneNamespace(namespace, name, orphan)
        : this.adoptOrphan(namespace, name, orphan);
    }
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

    // The place comes from the policy and the job (plan.checkpoint), never from the Checkpoint: decideBinding
    // refused (LocationMismatch) a Checkpoint whose spec names any other place.
    const grant = this.desiredGrant(plan, desired.namespace, desired.name);
    const verify = this.deps.mustVerify?.(desired.namespace, desired.name) ?? true;
    const r =
      !fresh && !verify && settledGrant(cp, grant)
        ? {
            cp,
            record: cp.status?.grants ?? [],
            observed: grant.members,
            added: [],
            problem: undefined,
            pending: undefined,
          }
        : await this.migrate(cp, grant, { fresh });
    // i8-policy hook (issue 8 item 10): the job's service-account sources disagree; say so on the Checkpoint.
    if (plan.identityWarning)
      this.deps.events.event(checkpointRef(r.cp), 'Warning', plan.identityWarning.reason, plan.identityWarning.message);
    return this.writeStatus(
      r.cp,
      {
        claim: { kind: 'Bound', job: jobLabel(live.job) },
        desiredMembers: plan.members,
        observedMembers: r.observed,
        addedMembers: r.added,
        problem: r.problem ?? plan.problem,
        pending: r.pending,
        holdMs: plan.policy.propagationHoldMs,
        grants: r.record,
      },
      live.ref,
    );
  }

  private desiredGrant(plan: ProvisionPlan, namespace: string, name: string): GrantRecord {
    const spec = plan.checkpoint.spec;
    return grantFor(spec, plan.policy.mode, plan.policy.role, plan.members, { namespace, name });
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
   * Brings GCS to exactly `desired` (or to nothing, when undefined) from what the record says may be granted:
   * 1. record the intent (desired's members added to the record) in status BEFORE any GCS change;
   * 2. apply `desired` and read it back;
   * 3. revoke every other recorded grant (a role, mode or member change is a migration: the new is in place first);
   * 4. return the record narrowed to what the read-backs showed (the caller writes it with the rest of status).
   * A status write that hits 409 fails the reconcile before GCS changes, so a member can only be in GCS after it
   * was recorded: however many changes happen between successful writes, every one is revoked later.
   */
  private async migrate(
    cp0: Checkpoint,
    desired: GrantRecord | undefined,
    opts: { fresh?: boolean; ownsAll?: boolean } = {},
  ): Promise<{
    cp: Checkpoint;
    record: GrantRecord[];
    observed?: string[] | undefined;
    added?: string[] | undefined;
    problem?: Problem | undefined;
    /** A change was handed to a backend that wakes the key when it lands: nothing after it was done yet. */
    pending?: string | undefined;
  }> {
    let cp = cp0;
    const job = jobOf(cp);
    const { mine, ignored } = this.partition(cp, true);
    const withIgnored = (r: GrantRecord[]) => [...r, ...ignored];
    let record = mine;
    if (desired) {
      const intent = withIntent(record, desired);
      if (intent) {
        cp = await this.writeRecord(cp, withIgnored(intent));
        record = intent;
      }
    }
    const shown = new Map<string, string[]>();
    let observed: string[] | undefined;
    let added: string[] | undefined;
    if (desired) {
      const k = grantKey(desired);
      const applied = record.find((g) => grantKey(g) === k)?.members ?? [];
      const r = await this.applyGrant(cp, desired, applied, opts);
      if (r.problem) return { cp, record: withIgnored(record), problem: r.problem };
      // The new grant is not in place yet: nothing old is revoked before it is (a migration keeps access).
      if (r.pending !== undefined) return { cp, record: withIgnored(record), pending: r.pending };
      observed = r.observed;
      added = r.added;
      shown.set(k, r.observed ?? []);
    }
    const revoked: GrantRecord[] = [];
    let problem: Problem | undefined;
    let pending: string | undefined;
    for (const old of record) {
      if (desired && grantKey(old) === grantKey(desired)) continue;
      const r = await this.revokeGrant(cp, old, desired, job);
      if ('problem' in r) {
        problem ??= r.problem;
        continue;
      }
      if ('pending' in r) {
        // Kept in the record as it is until the revocation has been read back.
        pending ??= r.pending;
        continue;
      }
      shown.set(grantKey(old), r.remaining);
      if (r.remaining.length === 0) revoked.push(old);
    }
    if (desired && revoked.length > 0) {
      this.deps.events.event(
        checkpointRef(cp),
        'Normal',
        EventReasons.AccessMigrated,
        `Access moved to ${describeGrant(desired)}; revoked ${revoked.map(describeGrant).join('; ')}.`,
      );
    } else if (revoked.length > 0) {
      this.deps.events.event(
        checkpointRef(cp),
        'Normal',
        'AccessRevoked',
        `Revoked ${revoked.map((g) => `${describeGrant(g)} from ${g.members.join(', ')}`).join('; ')}.`,
      );
    }
    return { cp, record: withIgnored(narrowed(record, shown)), observed, added, problem, pending };
  }

  /** The record split into entries that can only be this job's own grants and any others (never acted on). */
  private partition(cp: Checkpoint, placeVerified: boolean): { mine: GrantRecord[]; ignored: GrantRecord[] } {
    const job = jobOf(cp);
    const mine: GrantRecord[] = [];
    const ignored: GrantRecord[] = [];
    for (const g of recordOf(cp, placeVerified)) (belongsTo(g, job) ? mine : ignored).push(g);
    if (ignored.length > 0) {
      this.deps.events.event(
        checkpointRef(cp),
        'Warning',
        Reasons.PrefixMismatch,
        `status.grants names ${ignored.map(describeGrant).join('; ')}, which is not this Checkpoint's own place; ignored.`,
      );
    }
    return { mine, ignored };
  }

  private async writeRecord(cp: Checkpoint, grants: GrantRecord[]): Promise<Checkpoint> {
    const status: CheckpointStatus = { ...(cp.status ?? {}), grants };
    return this.deps.writer.writeStatus(cp, status);
  }

  /**
   * Makes `g` hold exactly its members in GCS (idempotent; reads first unless the Checkpoint is new). Returns what
   * is in place afterwards, or the problem the user must fix. Transient errors are thrown after the status says so.
   */
  private async applyGrant(
    cp: Checkpoint,
    g: GrantRecord,
    applied: readonly string[],
    opts: { fresh?: boolean; ownsAll?: boolean },
  ): Promise<{
    observed?: string[] | undefined;
    added?: string[] | undefined;
    problem?: Problem | undefined;
    pending?: string | undefined;
  }> {
    const backend = this.deps.backend(g.mode);
    const ref = checkpointRef(cp);
    // A managed folder's policy is Tidemark's alone: every member and binding found there is Tidemark's to remove.
    // In a bucket policy only the members Tidemark recorded are; anyone else's member in the same binding is left
    // alone (IAMPartialPolicy), unless the caller owns the binding outright (an orphan).
    const ownsAll = g.mode === 'ManagedFolder' || opts.ownsAll === true;
    const req = this.request(cp, g, g.members, applied);
    const desired = new Set(g.members);
    try {
      if (backend.submit && !opts.ownsAll) {
        // Handed over, not waited for. The backend's writer reads the policy itself and merges the change (a change
        // already in place costs no write); only the members in `applied` (the record) may be removed.
        const q = backend.submit(req);
        if (q.kind === 'Pending') return { pending: q.message };
        const was = new Set(q.previous);
        const added = g.members.filter((m) => !was.has(m));
        const removing = applied.filter((m) => !desired.has(m) && was.has(m));
        this.grantEvents(cp, g, added, removing, []);
        return { observed: q.observation.members.filter((m) => desired.has(m) || applied.includes(m)), added };
      }
      // A Checkpoint created a moment ago has nothing in GCS yet: apply at once, without a read first.
      let obs: GrantObservation = opts.fresh ? { members: [], prefixReady: false } : await backend.observe(req);
      const managed = (members: readonly string[]) =>
        ownsAll ? [...members] : members.filter((m) => desired.has(m) || applied.includes(m));
      const added = g.members.filter((m) => !obs.members.includes(m));
      const removing = managed(obs.members).filter((m) => !desired.has(m));
      const foreign = g.mode === 'ManagedFolder' ? (obs.foreign ?? []) : [];
      if (!obs.prefixReady || added.length > 0 || removing.length > 0 || foreign.length > 0) {
        obs = await backend.apply({ ...req, applied: [...new Set([...applied, ...removing])] });
        this.grantEvents(cp, g, added, removing, foreign);
      }
      return { observed: managed(obs.members), added };
    } catch (err) {
      if (err instanceof AccessError) {
        this.deps.events.event(ref, 'Warning', err.reason, err.message);
        return { problem: { reason: err.reason, message: err.message } };
      }
      const message = err instanceof Error ? err.message : String(err);
      this.deps.events.event(ref, 'Warning', Reasons.GrantFailed, message);
      await this.writeStatus(cp, {
        claim: this.claimOf(cp),
        desiredMembers: g.members,
        problem: { reason: Reasons.GrantFailed, message },
        holdMs: 0,
      });
      throw err;
    }
  }

  /** The Events of a grant change that was read back. */
  private grantEvents(
    cp: Checkpoint,
    g: GrantRecord,
    added: readonly string[],
    removing: readonly string[],
    foreign: readonly string[],
  ): void {
    const ref = checkpointRef(cp);
    if (added.length > 0) {
      this.deps.events.event(
        ref,
        'Normal',
        'AccessGranted',
        `Granted ${g.role} on ${cp.spec.uri} to ${added.join(', ')}.`,
      );
    }
    if (removing.length > 0) {
      this.deps.events.event(
        ref,
        'Normal',
        'AccessRevoked',
        `Revoked ${g.role} on ${cp.spec.uri} from ${removing.join(', ')}.`,
      );
    }
    if (foreign.length > 0) {
      this.deps.events.event(
        ref,
        'Warning',
        EventReasons.ForeignBindingRemoved,
        `Removed bindings Tidemark did not make from managed folder gs://${g.bucket}/${g.folder} (its policy is exactly Tidemark's binding): ${foreign.join('; ')}.`,
      );
    }
  }

  /**
   * Revokes one recorded grant and reads it back. A gone bucket means the grant is gone (Event BucketGone). A
   * forbidden revoke is a problem (the caller shows it and retries with backoff); other failures are thrown.
   */
  private async revokeGrant(
    cp: Checkpoint,
    g: GrantRecord,
    current: GrantRecord | undefined,
    job: JobName,
  ): Promise<{ remaining: string[] } | { problem: Problem } | { pending: string }> {
    const backend = this.deps.backend(g.mode);
    const req = this.request(cp, g, [], g.members);
    try {
      if (
        g.mode === 'ManagedFolder' &&
        current?.mode === 'ManagedFolder' &&
        current.bucket === g.bucket &&
        current.folder === g.folder
      ) {
        // The same folder now holds the new grant, written as the folder's whole policy: the old role is gone
        // with it. Read it back rather than write (an empty write would revoke the new grant too).
        return { remaining: (await backend.observe(req)).members };
      }
      let obs: GrantObservation;
      if (backend.submit) {
        const q = backend.submit(req);
        if (q.kind === 'Pending') return { pending: q.message };
        obs = q.observation;
      } else obs = await backend.apply(req);
      return { remaining: g.mode === 'ManagedFolder' ? obs.members : obs.members.filter((m) => g.members.includes(m)) };
    } catch (err) {
      if (err instanceof AccessError && err.reason === AccessReasons.BucketNotFound) {
        this.deps.events.event(
          checkpointRef(cp),
          'Normal',
          EventReasons.BucketGone,
          `Bucket gs://${g.bucket} no longer exists; its grant for ${job.namespace}/${job.name} went with it.`,
        );
        return { remaining: [] };
      }
      if (err instanceof AccessError) {
        const message = `Could not revoke ${describeGrant(g)} from ${g.members.join(', ')}: ${err.message} Retrying with backoff; fix the controller's access, or (on a Checkpoint being deleted) annotate it ${Annotations.skipRevoke}="true" to let it go without revoking.`;
        this.deps.events.event(checkpointRef(cp), 'Warning', Reasons.RevokeFailed, message);
        return { problem: { reason: Reasons.RevokeFailed, message } };
      }
      throw err;
    }
  }

  private request(
    cp: Checkpoint,
    g: GrantRecord,
    members: readonly string[],
    applied: readonly string[],
  ): GrantRequest {
    return { bucket: g.bucket, prefix: g.prefix, role: g.role, members, applied, job: jobOf(cp) };
  }

  private claimOf(cp: Checkpoint): Claim {
    if (cp.status?.phase === 'Bound' || cp.status?.phase === undefined) {
      return { kind: 'Bound', job: `${cp.spec.jobRef.kind} ${cp.metadata.namespace}/${cp.spec.jobRef.name}` };
    }
    const orphaned = existingCheckpoint(cp)?.orphaned === true;
    return { kind: 'Released', reason: orphaned ? 'Orphaned' : 'JobGone' };
  }

  /**
   * A prefix under a policy root that no Checkpoint records: record it as Released (reason Orphaned) so that it is
   * deleted only after a full retention period, and revoke whatever grant is still there.
   */
  private async adoptOrphan(namespace: string, name: string, o: OrphanCandidate): Promise<ReconcileResult> {
    let cp = await this.deps.writer.create({
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
    const swept = await this.sweep(cp, grantFor(o, o.mode, o.role, [], { namespace, name }), true);
    cp = swept.cp;
    const r = await this.migrate(cp, undefined);
    return this.writeStatus(r.cp, {
      claim: { kind: 'Released', reason: 'Orphaned' },
      desiredMembers: [],
      observedMembers: [],
      problem: swept.problem ?? r.problem,
      holdMs: 0,
      grants: r.record,
    });
  }

  /**
   * Grants found at the Checkpoint's own (verified) place that the record may not show: a managed folder's
   * members (the folder is Tidemark's alone), or every member of Tidemark's binding for an orphan. They are added
   * to the record (before anything is revoked, as any intent is) so that the revocation that follows is recorded.
   * Bindings in a folder that are not Tidemark's role are removed at once (Warning Event).
   */
  private async sweep(
    cp: Checkpoint,
    template: GrantRecord,
    ownsAll: boolean,
  ): Promise<{ cp: Checkpoint; problem?: Problem | undefined }> {
    if (template.mode !== 'ManagedFolder' && !ownsAll) return { cp };
    const backend = this.deps.backend(template.mode);
    const req = this.request(cp, template, [], []);
    try {
      const obs = await backend.observe(req);
      const foreign = template.mode === 'ManagedFolder' ? (obs.foreign ?? []) : [];
      if (obs.members.length > 0) {
        const { mine, ignored } = this.partition(cp, true);
        const intent = withIntent(mine, { ...template, members: obs.members });
        if (intent) cp = await this.writeRecord(cp, [...intent, ...ignored]);
      }
      if (foreign.length > 0 && obs.members.length === 0) {
        await backend.apply(req);
        this.deps.events.event(
          checkpointRef(cp),
          'Warning',
          EventReasons.ForeignBindingRemoved,
          `Removed bindings Tidemark did not make from managed folder gs://${template.bucket}/${template.folder}: ${foreign.join('; ')}.`,
        );
      }
      return { cp };
    } catch (err) {
      if (err instanceof AccessError && err.reason === AccessReasons.BucketNotFound) return { cp };
      if (err instanceof AccessError) {
        this.deps.events.event(checkpointRef(cp), 'Warning', err.reason, err.message);
        return { cp, problem: { reason: err.reason, message: err.message } };
      }
      throw err;
    }
  }

  /**
   * A Tidemark grant found by the resync for `<root>/<namespace>/<name>/` whose namespace no longer exists: nobody
   * may hold it (Workload Identity names are reusable), so it is revoked outright. The prefix's data stays; its
   * retention clock is the newest object's `updated` time under it (GCS is its record; see docs/access.md).
   */
  private async revokeGoneNamespace(namespace: string, name: string, o: OrphanCandidate): Promise<ReconcileResult> {
    if (this.deps.namespaceGone && !(await this.deps.namespaceGone(namespace))) return {};
    const g = grantFor(o, o.mode, o.role, [], { namespace, name });
    const backend = this.deps.backend(o.mode);
    const req: GrantRequest = {
      bucket: o.bucket,
      prefix: o.prefix,
      role: o.role,
      members: [],
      applied: [],
      job: { namespace, name },
    };
    const obs = await backend.observe(req);
    const foreign = o.mode === 'ManagedFolder' ? (obs.foreign ?? []) : [];
    if (obs.members.length === 0 && foreign.length === 0) return {};
    const after = await backend.apply({ ...req, applied: obs.members });
    const policy = this.deps.view.policies().find((p) => p.metadata.name === o.policyName);
    if (policy) {
      this.deps.events.event(
        { apiVersion: API_VERSION, kind: 'CheckpointPolicy', name: o.policyName, uid: policy.metadata.uid },
        'Warning',
        EventReasons.NamespaceGoneRevoked,
        `Namespace ${namespace} no longer exists: revoked ${describeGrant(g)} from ${[...obs.members, ...foreign].join(', ')}${after.members.length > 0 ? ` (still shown: ${after.members.join(', ')})` : ''}. The data under ${o.uri} stays until GC finds it stale.`,
      );
    }
    return {};
  }

  /**
   * No live job claims the Checkpoint: revoke every recorded grant, record the release. The spec's place is acted
   * on only when a policy covering the namespace derives it (else PrefixMismatch, and nothing is touched for it).
   */
  private async release(cp0: Checkpoint): Promise<ReconcileResult> {
    let cp = cp0;
    if (cp.status?.phase === 'Deleting' && (cp.status.grants ?? []).length === 0) return {};
    const orphaned = existingCheckpoint(cp)?.orphaned === true;
    const wasBound = cp.status?.phase === 'Bound';
    const place = this.checkPlace(cp);
    let problem: Problem | undefined;
    if (place.ok) {
      const swept = await this.sweep(cp, this.specGrant(cp), false);
      cp = swept.cp;
      problem = swept.problem;
    } else {
      problem = { reason: Reasons.PrefixMismatch, message: place.message };
      this.deps.events.event(checkpointRef(cp), 'Warning', Reasons.PrefixMismatch, place.message);
    }
    const r = await this.migrateRecord(cp, place.ok);
    if (wasBound) {
      this.deps.events.event(
        checkpointRef(cp),
        'Normal',
        'Released',
        `No live job claims ${cp.spec.uri}; access revoked, data kept for the policy's retention period.`,
      );
    }
    const result = await this.writeStatus(r.cp, {
      claim: { kind: 'Released', reason: orphaned ? 'Orphaned' : 'JobGone' },
      desiredMembers: [],
      observedMembers: r.record.flatMap((g) => g.members),
      problem: r.problem ?? problem,
      holdMs: 0,
      grants: r.record,
    });
    if (r.problem) throw new RevokeBlocked(r.problem.message);
    return result;
  }

  /** Revokes every recorded grant (the record may be a legacy one, built from spec, only when the place is verified). */
  private migrateRecord(cp: Checkpoint, placeVerified: boolean) {
    if (!placeVerified && cp.status?.grants === undefined) {
      // No record and a spec that is not this Checkpoint's own place: nothing may be touched.
      return Promise.resolve({
        cp,
        record: [] as GrantRecord[],
        problem: undefined as Problem | undefined,
        pending: undefined as string | undefined,
      });
    }
    return this.migrate(cp, undefined);
  }

  private specGrant(cp: Checkpoint): GrantRecord {
    return grantFor(
      cp.spec,
      cp.spec.access?.mode ?? CheckpointDefaults.access.mode,
      cp.spec.access?.role ?? CheckpointDefaults.access.role,
      [],
      jobOf(cp),
    );
  }

  private checkPlace(cp: Checkpoint): PlaceCheck {
    const { view } = this.deps;
    const names = view.policies().map((p) => p.metadata.name ?? '');
    return checkPlace(cp, policiesCovering(view.policySet(), names, view.namespaceLabels(cp.metadata.namespace ?? '')));
  }

  /**
   * The Checkpoint is being deleted. Its recorded grants are revoked before its finalizer goes (its data stays; the
   * resync finds it again as an orphan), except:
   * - a live job still claims this very place: its grant is narrowed to exactly what the job needs and kept, the
   *   finalizer goes, and the job's next reconcile creates a new Checkpoint for it (Warning Event on both);
   * - annotation tidemark.dev/skip-revoke="true": the finalizer goes without revoking (Warning Event lists what
   *   may be left).
   * A gone bucket counts as revoked; a forbidden revoke keeps the finalizer, says so, and retries with backoff.
   */
  private async finalize(cp0: Checkpoint): Promise<ReconcileResult> {
    let cp = cp0;
    const finalizers = cp.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) return {};
    // Being garbage-collected: the GC removes the finalizer itself once the prefix is empty.
    if (cp.status?.phase === 'Deleting') return {};
    const place = this.checkPlace(cp);
    if (cp.metadata.annotations?.[Annotations.skipRevoke] === 'true') {
      const left = this.partition(cp, place.ok).mine;
      this.deps.events.event(
        checkpointRef(cp),
        'Warning',
        EventReasons.RevokeSkipped,
        left.length === 0
          ? `${Annotations.skipRevoke}: finalizer removed without revoking; nothing was recorded as granted.`
          : `${Annotations.skipRevoke}: finalizer removed WITHOUT revoking; revoke by hand: ${left.map((g) => `${describeGrant(g)} for ${g.members.join(', ')}`).join('; ')}.`,
      );
      return this.removeFinalizer(cp);
    }
    if (!place.ok) {
      this.deps.events.event(checkpointRef(cp), 'Warning', Reasons.PrefixMismatch, place.message);
    }
    const handover = place.ok ? this.liveClaim(cp) : undefined;
    if (handover) {
      const desired = this.desiredGrant(handover.plan, cp.metadata.namespace ?? '', cp.metadata.name ?? '');
      const r = await this.migrate(cp, desired);
      cp = r.cp;
      // The job's grant is handed over and not read back yet: the finalizer waits for the wake-up.
      if (r.pending !== undefined) return {};
      if (!r.problem) {
        const msg = `Checkpoint deleted while ${jobLabel(handover.live.job)} still runs: its access to ${cp.spec.uri} is kept and a new Checkpoint is created for it.`;
        this.deps.events.event(checkpointRef(cp), 'Warning', EventReasons.LiveCheckpointDeleted, msg);
        this.deps.events.event(handover.live.ref, 'Warning', EventReasons.LiveCheckpointDeleted, msg);
        return this.removeFinalizer(cp);
      }
      // The job's grant cannot be kept (e.g. its bucket is gone): revoke everything recorded, as for any deletion.
    }
    if (place.ok) cp = (await this.sweep(cp, this.specGrant(cp), false)).cp;
    const r = await this.migrateRecord(cp, place.ok);
    if (r.problem) {
      await this.writeStatus(r.cp, {
        claim: this.claimOf(r.cp),
        desiredMembers: [],
        problem: r.problem,
        holdMs: 0,
        grants: r.record,
      });
      throw new RevokeBlocked(r.problem.message);
    }
    // A revocation handed over and not read back yet: the finalizer stays until the wake-up shows it done.
    if (r.pending !== undefined) return {};
    return this.removeFinalizer(r.cp);
  }

  /** The live job that the Checkpoint being deleted still serves, with its plan for this very place. */
  private liveClaim(cp: Checkpoint): { live: LiveJob; plan: ProvisionPlan } | undefined {
    const { view } = this.deps;
    const namespace = cp.metadata.namespace ?? '';
    // A namespace being deleted takes its jobs too, and no new Checkpoint could be created in it: revoke.
    if (view.namespaceTerminating?.(namespace)) return undefined;
    const namespaceLabels = view.namespaceLabels(namespace);
    for (const j of this.liveJobs(namespace, cp.metadata.name ?? '')) {
      const plan = planJob(view.policySet(), {
        job: j.job,
        source: j.source,
        namespaceLabels,
        serviceAccount: (sa) => view.serviceAccount(namespace, sa),
        existing: undefined,
      });
      if (plan.kind !== 'Provision' || plan.problem) continue;
      const s = plan.checkpoint.spec;
      if (s.bucket === cp.spec.bucket && s.prefix === cp.spec.prefix) return { live: j, plan };
    }
    return undefined;
  }

  private async removeFinalizer(cp: Checkpoint): Promise<ReconcileResult> {
    const finalizers = cp.metadata.finalizers ?? [];
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
      pending?: string | undefined;
      holdMs: number;
      grants?: readonly GrantRecord[] | undefined;
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

/**
 * The Checkpoint's status proves `grant` settled as of its last read-back: Bound, the record is exactly this one
 * grant with exactly its members (nothing left to revoke or to add), grantedMembers shows them all, and AccessGranted
 * is True/Granted for the current generation. Only drift made by someone else can differ: the periodic resync reads.
 */
export function settledGrant(cp: Checkpoint, grant: GrantRecord): boolean {
  const st = cp.status;
  if (st?.phase !== 'Bound' || st.grants?.length !== 1) return false;
  const g = st.grants[0] as GrantRecord;
  if (grantKey(g) !== grantKey(grant) || g.members.join('\n') !== grant.members.join('\n')) return false;
  if ((st.grantedMembers ?? []).join('\n') !== grant.members.join('\n') || grant.members.length === 0) return false;
  const c = findCondition(st.conditions, CheckpointConditions.AccessGranted);
  return c?.status === 'True' && c.reason === Reasons.Granted && c.observedGeneration === (cp.metadata.generation ?? 0);
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
