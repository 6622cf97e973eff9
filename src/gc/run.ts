// One garbage-collection run of one policy, the same code for the controller's schedule and for `tidemark gc`:
// take the policy's GC Lease, read everything fresh from the API server (no cache), scan the root (usage on every
// Checkpoint), plan, then for each planned prefix: fence (phase Deleting), confirm no grant (the record and GCS),
// re-check for a live claim, delete streaming with progress on the record, delete the managed folder, check the
// prefix is empty, and only then drop the record (the finalizer goes last). Reports: policy status.lastGC, Events,
// metrics. A dry run does everything up to the plan and reports exactly what the same plan would delete.

import type { AccessBackend, AccessMode, GrantRequest } from '../access/backend.js';
import {
  API_VERSION,
  type Checkpoint,
  CheckpointDefaults,
  type CheckpointPolicy,
  CheckpointPolicyResource,
  type CheckpointStatus,
  FINALIZER,
  PolicyDefaults,
} from '../api/index.js';
import { checkpointRef } from '../checkpoint/refs.js';
import { deriveCheckpointStatus, rfc3339 } from '../checkpoint/status.js';
import type { EventSink, ObjectRef } from '../checkpoint/world.js';
import { type Gcs, gcsMessage } from '../gcs/client.js';
import type { Logger } from '../kube/log.js';
import { Resources } from '../kube/resources.js';
import { isConflict, isNotFound, type KubeList, type KubeObject, type KubeRest } from '../kube/rest.js';
import { parseDuration } from '../policy/duration.js';
import { resolvePolicy } from '../policy/effective.js';
import { logicalJobOf, type SparkApplicationLike } from '../policy/job.js';
import { overlappingPolicies, ROOT_OVERLAP } from '../policy/overlap.js';
import { deletePrefix, GcError } from './deleter.js';
import { acquireGcLease, type HeldGcLease } from './lease.js';
import type { GcMetrics } from './metrics.js';
import { type GcPlan, type KeepReason, type PlannedDeletion, type PrefixUsage, planGc } from './plan.js';
import { checkpointFacts, grantsRemain, isRetained, recordedPlaces } from './record.js';
import { scanFolders, scanRoot } from './scan.js';

const defaultHold = parseDuration(PolicyDefaults.access.propagationHold);
/** The propagation hold waited after a revoke when the policy is gone: the CRD's default. */
const DEFAULT_HOLD_MS = defaultHold.ok ? defaultHold.ms : 60_000;

/** Why a Deleting Checkpoint is not finished, for its DeletionBlocked Event. */
const BLOCKING = new Map<KeepReason, string>([
  ['OtherPolicyRoot', "another CheckpointPolicy's root overlaps its prefix (its data may be there)"],
  ['OtherRecord', "another Checkpoint's recorded place overlaps its prefix"],
  ['PrefixMismatch', 'its recorded prefix is not <root>/<namespace>/<name>/, so it is not acted on'],
]);

export interface GcRunDeps {
  rest: KubeRest;
  gcs: Gcs;
  backend: (mode: AccessMode) => AccessBackend;
  events: EventSink;
  logger: Logger;
  metrics?: GcMetrics | undefined;
  leaseNamespace: string;
  identity: string;
  leaseDurationMs?: number | undefined;
  /** Batches in flight per prefix (default 4). */
  concurrency?: number | undefined;
  now?: () => Date;
  /** Progress lines (the CLI prints them). */
  progress?: (line: string) => void;
  /** Aborted when the caller stops (e.g. leadership lost): the run stops between pages. */
  signal?: AbortSignal | undefined;
  /** For tests: called right before the objects of a prefix are deleted (after fence and checks). */
  beforeDelete?: (d: PlannedDeletion) => Promise<void>;
}

export interface GcRunOptions {
  /** Overrides the policy's gc.dryRun when set. */
  dryRun?: boolean | undefined;
}

export interface GcReport {
  policy: string;
  dryRun: boolean;
  startTime: Date;
  completionTime: Date;
  plan: GcPlan;
  checkpointsDeleted: number;
  objectsDeleted: number;
  bytesReclaimed: number;
  errors: { prefix: string; reason: string; message: string }[];
  softDeleteRetentionSeconds?: number | undefined;
  message: string;
}

export type GcRunResult =
  | { kind: 'Done'; report: GcReport }
  | { kind: 'Busy'; holder: string; freeAt: Date }
  | { kind: 'Skipped'; reason: string; message: string };

type Obj<T> = T & KubeObject;

const SPARK_APP = Resources.SparkApplication;
const SCHEDULED = Resources.ScheduledSparkApplication;

function policyRef(p: CheckpointPolicy): ObjectRef {
  return {
    apiVersion: API_VERSION,
    kind: CheckpointPolicyResource.kind,
    name: p.metadata.name ?? '',
    uid: p.metadata.uid,
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Runs GC for one policy once, holding its Lease for the whole run. */
export async function runPolicyGc(deps: GcRunDeps, policyName: string, opts: GcRunOptions = {}): Promise<GcRunResult> {
  const acquired = await acquireGcLease({
    rest: deps.rest,
    namespace: deps.leaseNamespace,
    policy: policyName,
    identity: deps.identity,
    durationMs: deps.leaseDurationMs,
  });
  if (!acquired.ok) return { kind: 'Busy', holder: acquired.holder, freeAt: acquired.freeAt };
  const lease = acquired.lease;
  try {
    return await new Run(deps, policyName, opts, lease).run();
  } finally {
    await lease.release().catch((err) => deps.logger.warn({ err }, 'releasing the GC lease failed'));
  }
}

class Run {
  private readonly now: () => Date;
  private readonly log: Logger;

  constructor(
    private readonly deps: GcRunDeps,
    private readonly policyName: string,
    private readonly opts: GcRunOptions,
    private readonly lease: HeldGcLease,
  ) {
    this.now = deps.now ?? (() => new Date());
    this.log = deps.logger.child({ gc: policyName });
  }

  private say(line: string): void {
    this.deps.progress?.(line);
    this.log.info(line);
  }

  async run(): Promise<GcRunResult> {
    const { rest } = this.deps;
    const started = performance.now();
    const startTime = this.now();
    const all = await rest.request<KubeList<Obj<CheckpointPolicy>>>(
      'GET',
      '/apis/tidemark.dev/v1alpha1/checkpointpolicies',
    );
    const policy = all.items.find((x) => x.metadata.name === this.policyName);
    /** The policy as the object of the run's Events (by name alone when it is gone). */
    const eventsRef = policy ? policyRef(policy) : this.policyRefOf();
    // Whether this policy collects at all: it exists, is valid, and src/policy/overlap.ts does not shadow it (a
    // shadowed policy acts on nothing, as for provisioning). Otherwise only its Checkpoints already Deleting are
    // finished, from their own record (plan.ts).
    let stop: { reason: string; message: string } | undefined;
    const resolved = policy ? resolvePolicy(policy) : undefined;
    if (!policy || !resolved) {
      stop = { reason: 'PolicyNotFound', message: `CheckpointPolicy "${this.policyName}" not found` };
    } else if (!resolved.ok) {
      stop = {
        reason: 'InvalidSpec',
        message: `CheckpointPolicy "${this.policyName}" is invalid: ${resolved.errors.join('; ')}`,
      };
    } else {
      const winner = overlappingPolicies(all.items).get(this.policyName);
      if (winner !== undefined) {
        stop = {
          reason: ROOT_OVERLAP,
          message: `the root gs://${resolved.policy.bucket}/${resolved.policy.rootPrefix}/ overlaps the root of CheckpointPolicy "${winner}", which is older; GC does not run for it`,
        };
      }
    }
    const p =
      resolved?.ok === true
        ? resolved.policy
        : {
            name: this.policyName,
            bucket: '',
            rootPrefix: '',
            mode: CheckpointDefaults.access.mode as AccessMode,
            role: CheckpointDefaults.access.role,
            retentionMs: Number.POSITIVE_INFINITY,
            propagationHoldMs: DEFAULT_HOLD_MS,
            gc: { dryRun: false, maxDeletesPerRun: PolicyDefaults.gc.maxDeletesPerRun },
          };
    const dryRun = this.opts.dryRun ?? p.gc.dryRun;

    // Facts, read fresh.
    const [everyCheckpoint, namespaces, live] = await Promise.all([
      this.listCheckpoints(),
      rest.request<KubeList<KubeObject>>('GET', '/api/v1/namespaces'),
      this.liveJobs(),
    ]);
    const checkpoints = everyCheckpoint.filter((c) => c.spec?.policyName === this.policyName);
    if (stop && !checkpoints.some((c) => c.status?.phase === 'Deleting')) {
      return { kind: 'Skipped', ...stop };
    }
    if (stop) this.say(`${stop.message}; finishing its Checkpoints already being deleted, from their record`);
    const nsSet = new Set(namespaces.items.map((n) => n.metadata?.name ?? ''));
    let usage = new Map<string, PrefixUsage>();
    let folders = new Map<string, { updatedMs: number }>();
    let softDelete: number | undefined;
    if (!stop) {
      softDelete = await this.softDeleteSeconds(p.bucket);
      this.say(`scanning gs://${p.bucket}/${p.rootPrefix}/ ...`);
      usage = (await scanRoot(this.deps.gcs, p.bucket, p.rootPrefix)).prefixes;
      folders = await scanFolders(this.deps.gcs, p.bucket, p.rootPrefix);
      await this.recordUsage(checkpoints, usage, startTime);
    }

    const plan = planGc({
      now: startTime.getTime(),
      policy: {
        name: p.name,
        bucket: p.bucket,
        rootPrefix: p.rootPrefix,
        retentionMs: p.retentionMs,
        propagationHoldMs: p.propagationHoldMs,
        maxDeletesPerRun: p.gc.maxDeletesPerRun,
      },
      checkpoints: checkpoints.map(checkpointFacts),
      liveJob: (ns, name) => live.has(`${ns}/${name}`),
      namespaceExists: (ns) => nsSet.has(ns),
      usage,
      folders,
      policies: all.items,
      records: everyCheckpoint.flatMap(recordedPlaces),
      resumeOnly: stop !== undefined,
    });
    const byKey = new Map(checkpoints.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c]));
    for (const k of plan.kept) {
      const cp = byKey.get(`${k.namespace}/${k.name}`);
      if (cp?.status?.phase !== 'Deleting' || !BLOCKING.has(k.reason)) continue;
      this.deps.events.event(
        checkpointRef(cp),
        'Warning',
        'DeletionBlocked',
        `${cp.spec.uri} stays Deleting: ${BLOCKING.get(k.reason)}; the GC finishes it once that is no longer so.`,
      );
    }
    this.say(
      `${dryRun ? 'dry run: would delete' : 'deleting'} ${plan.deletions.length} prefix(es), ${plan.objects} object(s), ${formatBytes(plan.bytes)}; keeping ${plan.kept.length}`,
    );
    for (const d of plan.deletions) {
      this.say(
        `  ${dryRun ? 'would delete' : 'delete'} gs://${d.bucket}/${d.prefix} (${d.objects} objects, ${formatBytes(d.bytes)}${d.resume ? ', resuming' : ''}${d.fromRecord ? ' from its record' : ''}${d.kind === 'NoRecord' ? ', namespace gone' : ''})`,
      );
    }

    const report: GcReport = {
      policy: p.name,
      dryRun,
      startTime,
      completionTime: startTime,
      plan,
      checkpointsDeleted: 0,
      objectsDeleted: 0,
      bytesReclaimed: 0,
      errors: [],
      softDeleteRetentionSeconds: softDelete,
      message: '',
    };
    if (policy && !stop) await this.writeLastGC(policy, report, false);

    if (dryRun) {
      for (const d of plan.deletions) {
        report.checkpointsDeleted++;
        report.objectsDeleted += d.objects;
        report.bytesReclaimed += d.bytes;
        const cp = byKey.get(`${d.namespace}/${d.name}`);
        if (cp) {
          this.deps.events.event(
            checkpointRef(cp),
            'Normal',
            'WouldDelete',
            `Dry run: gs://${d.bucket}/${d.prefix} (${d.objects} objects, ${formatBytes(d.bytes)}) would be deleted.`,
          );
        }
      }
    } else {
      for (const d of plan.deletions) {
        const stop = this.lease.signal.aborted
          ? this.lease.signal
          : this.deps.signal?.aborted
            ? this.deps.signal
            : undefined;
        if (stop) {
          report.errors.push({ prefix: d.prefix, reason: 'Aborted', message: String(stop.reason) });
          break;
        }
        try {
          const done =
            d.kind === 'Checkpoint'
              ? await this.deleteCheckpoint(eventsRef, d, byKey.get(`${d.namespace}/${d.name}`))
              : await this.deleteNoRecord(p, d);
          if (done) {
            report.checkpointsDeleted++;
            report.objectsDeleted += done.objectsDeleted;
            report.bytesReclaimed += done.bytesDeleted;
            this.deps.metrics?.deleted(p.name, done.objectsDeleted, done.bytesDeleted);
          }
        } catch (err) {
          const reason = err instanceof GcError ? err.reason : 'DeleteFailed';
          const message = err instanceof Error ? err.message : String(err);
          report.errors.push({ prefix: d.prefix, reason, message });
          this.log.error({ err, prefix: d.prefix }, 'deleting a prefix failed');
          this.say(`  error: gs://${d.bucket}/${d.prefix}: ${message}`);
          const cp = byKey.get(`${d.namespace}/${d.name}`);
          this.deps.events.event(
            cp ? checkpointRef(cp) : eventsRef,
            'Warning',
            'GarbageCollectionFailed',
            `gs://${d.bucket}/${d.prefix}: ${message}`,
          );
          // A missing permission fails every prefix alike: stop here.
          if (reason === 'PermissionDenied') break;
        }
      }
    }

    report.completionTime = this.now();
    const verb = dryRun ? 'would delete' : 'deleted';
    const soft =
      softDelete && softDelete > 0
        ? ` The bucket keeps deleted objects for ${Math.round(softDelete / 86400)} day(s) (soft delete): they stay restorable and billed that long.`
        : '';
    const listed = plan.deletions
      .slice(0, 10)
      .map((d) => d.prefix)
      .join(', ');
    report.message =
      `${dryRun ? 'Dry run: ' : ''}${verb} ${report.checkpointsDeleted} checkpoint(s), ${report.objectsDeleted} object(s), ${formatBytes(report.bytesReclaimed)}` +
      (plan.deletions.length > 0 ? ` (${listed}${plan.deletions.length > 10 ? ', ...' : ''})` : '') +
      `; ${plan.kept.length} kept.` +
      (report.errors.length > 0 ? ` ${report.errors.length} error(s): ${report.errors[0]?.message}` : '') +
      soft;
    if (policy && !stop) await this.writeLastGC(policy, report, true);
    this.deps.events.event(
      eventsRef,
      report.errors.length > 0 ? 'Warning' : 'Normal',
      dryRun ? 'GarbageCollectionDryRun' : 'GarbageCollected',
      report.message,
    );
    this.deps.metrics?.run(
      p.name,
      dryRun,
      report.errors.length > 0 ? 'error' : 'ok',
      (performance.now() - started) / 1000,
    );
    this.say(report.message);
    return { kind: 'Done', report };
  }

  /** Every Checkpoint in the cluster: this policy's are planned, all of them are records no deletion may touch. */
  private async listCheckpoints(): Promise<Obj<Checkpoint>[]> {
    const list = await this.deps.rest.request<KubeList<Obj<Checkpoint>>>(
      'GET',
      '/apis/tidemark.dev/v1alpha1/checkpoints',
    );
    return list.items;
  }

  /** The policy as an Event's object when it is gone (the Event still names it). */
  private policyRefOf(): ObjectRef {
    return { apiVersion: API_VERSION, kind: CheckpointPolicyResource.kind, name: this.policyName };
  }

  /** `namespace/name` of every logical job that exists now (not being deleted). */
  private async liveJobs(): Promise<Set<string>> {
    const out = new Set<string>();
    const [apps, scheduled] = await Promise.all([
      this.deps.rest.request<KubeList<Obj<SparkApplicationLike>>>(
        'GET',
        '/apis/sparkoperator.k8s.io/v1beta2/sparkapplications',
      ),
      this.deps.rest.request<KubeList<KubeObject>>(
        'GET',
        '/apis/sparkoperator.k8s.io/v1beta2/scheduledsparkapplications',
      ),
    ]);
    for (const a of apps.items) {
      if (a.metadata.deletionTimestamp) continue;
      const r = logicalJobOf(a);
      // A run that cannot be resolved still keeps the checkpoint of its own name.
      out.add(r.kind === 'Job' ? `${r.job.namespace}/${r.job.name}` : `${a.metadata.namespace}/${a.metadata.name}`);
      const sched = a.metadata.labels?.['sparkoperator.k8s.io/scheduled-app-name'];
      if (sched) out.add(`${a.metadata.namespace}/${sched}`);
    }
    for (const s of scheduled.items) {
      if (!s.metadata?.deletionTimestamp) out.add(`${s.metadata?.namespace}/${s.metadata?.name}`);
    }
    return out;
  }

  /** Whether a live job claims `namespace/name` now, and since when (creationTimestamp). */
  private async liveClaim(namespace: string, name: string): Promise<Date | undefined> {
    let earliest: Date | undefined;
    for (const rt of [SPARK_APP, SCHEDULED]) {
      try {
        const o = await this.deps.rest.get<KubeObject>(rt, name, namespace);
        if (o.metadata?.deletionTimestamp) continue;
        const t = new Date(String(o.metadata?.creationTimestamp ?? 0));
        if (!earliest || t < earliest) earliest = t;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return earliest;
  }

  private async softDeleteSeconds(bucket: string): Promise<number | undefined> {
    try {
      const res = await this.deps.gcs.storage.buckets.get({ bucket, fields: 'softDeletePolicy' });
      const s = Number(res.data.softDeletePolicy?.retentionDurationSeconds ?? 0);
      return s > 0 ? s : undefined;
    } catch (err) {
      this.log.warn({ err: gcsMessage(err) }, 'could not read the bucket soft-delete policy');
      return undefined;
    }
  }

  /** Writes each Checkpoint's usage and lastWriteTime when they changed (merge patch of /status). */
  private async recordUsage(
    checkpoints: Obj<Checkpoint>[],
    usage: Map<string, { objects: number; bytes: number; lastWriteMs?: number | undefined }>,
    at: Date,
  ): Promise<void> {
    for (const cp of checkpoints) {
      const u = usage.get(cp.spec.prefix) ?? { objects: 0, bytes: 0 };
      const lastWriteTime = u.lastWriteMs !== undefined ? rfc3339(new Date(u.lastWriteMs)) : undefined;
      const prev = cp.status?.usage;
      const unchanged =
        prev?.objects === u.objects &&
        prev?.bytes === u.bytes &&
        (lastWriteTime === undefined || lastWriteTime === cp.status?.lastWriteTime);
      if (unchanged) continue;
      try {
        await this.deps.rest.mergePatch(
          Resources.Checkpoint,
          cp.metadata.name ?? '',
          cp.metadata.namespace,
          {
            status: {
              usage: { objects: u.objects, bytes: u.bytes, scanTime: rfc3339(at) },
              ...(lastWriteTime !== undefined ? { lastWriteTime } : {}),
            },
          },
          'status',
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  private async writeLastGC(policy: Obj<CheckpointPolicy>, r: GcReport, done: boolean): Promise<void> {
    const lastGC = {
      startTime: rfc3339(r.startTime),
      completionTime: done ? rfc3339(r.completionTime) : null,
      dryRun: r.dryRun,
      checkpointsDeleted: r.checkpointsDeleted,
      objectsDeleted: r.objectsDeleted,
      bytesReclaimed: r.bytesReclaimed,
      errors: r.errors.length,
      softDeleteRetentionSeconds: r.softDeleteRetentionSeconds ?? null,
      message: done ? r.message : `Running since ${rfc3339(r.startTime)}.`,
    };
    await this.deps.rest.mergePatch(
      Resources.CheckpointPolicy,
      policy.metadata.name ?? '',
      undefined,
      { status: { lastGC } },
      'status',
    );
  }

  /** What to observe for a Checkpoint's prefix; `applied` is what to remove when something is found. */
  private grantQuery(cp: Checkpoint): GrantRequest {
    const job = { namespace: cp.metadata.namespace ?? '', name: cp.metadata.name ?? '' };
    const role = cp.spec.access?.role ?? CheckpointDefaults.access.role;
    return { bucket: cp.spec.bucket, prefix: cp.spec.prefix, role, members: [], applied: [], job };
  }

  private async getCheckpoint(ns: string, name: string): Promise<Obj<Checkpoint> | undefined> {
    try {
      return await this.deps.rest.get<Obj<Checkpoint>>(Resources.Checkpoint, name, ns);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async deleteCheckpoint(
    policy: ObjectRef,
    d: PlannedDeletion,
    planned: Obj<Checkpoint> | undefined,
  ): Promise<{ objectsDeleted: number; bytesDeleted: number } | undefined> {
    const { rest } = this.deps;
    let cp = await this.getCheckpoint(d.namespace, d.name);
    if (!cp || !planned || cp.metadata.uid !== planned.metadata.uid || cp.spec.prefix !== d.prefix) {
      this.say(`  skip ${d.prefix}: its Checkpoint changed since the plan`);
      return undefined;
    }
    const mode = cp.spec.access?.mode ?? CheckpointDefaults.access.mode;

    // 1. Fence (a fresh read, a conditional write: a reconciler that bound it meanwhile makes this 409).
    if (cp.status?.phase !== 'Deleting') {
      if (cp.status?.phase !== 'Released' || isRetained(cp) || grantsRemain(cp)) {
        this.say(`  skip ${d.prefix}: no longer stale (phase ${cp.status?.phase})`);
        return undefined;
      }
      const before = cp.status;
      const fenced = this.fencedStatus(cp);
      try {
        cp = await rest.replace<Obj<Checkpoint>>(Resources.Checkpoint, { ...cp, status: fenced }, 'status');
      } catch (err) {
        if (isConflict(err)) {
          this.say(`  skip ${d.prefix}: its Checkpoint changed while fencing; the next run looks again`);
          return undefined;
        }
        throw err;
      }
      this.deps.events.event(
        checkpointRef(cp),
        'Normal',
        'Deleting',
        `Retention passed: fenced for deletion of ${cp.spec.uri}; no job may bind it until the data is gone.`,
      );
      // 2. A job that existed before the fence came back in time: give the checkpoint back untouched.
      const claimedSince = await this.liveClaim(d.namespace, d.name);
      const fencedAt = Date.parse(fenced.deletion?.startTime ?? '');
      if (claimedSince && claimedSince.getTime() < fencedAt + 1000) {
        await rest.replace<Obj<Checkpoint>>(
          Resources.Checkpoint,
          { ...cp, status: before as CheckpointStatus },
          'status',
        );
        this.say(`  skip ${d.prefix}: a job of that name exists again; unfenced`);
        return undefined;
      }
    }

    // 3. No grant on record, none in GCS (a managed folder found there is read too, whatever the mode).
    if (grantsRemain(cp)) throw new GcError('Aborted', `a grant is still on record for ${cp.spec.uri}; not deleting`);
    const revoked = await this.revokeFound(this.grantQuery(cp), mode, d.folder, true);
    if (revoked > 0) {
      // The propagation hold starts again from this revoke (plan.ts waits it out before resuming).
      await rest.mergePatch(
        Resources.Checkpoint,
        d.name,
        d.namespace,
        { status: { revokedAt: rfc3339(this.now()) } },
        'status',
      );
      throw new GcError(
        'Aborted',
        `${revoked} member(s) still held access to ${cp.spec.uri}; revoked now, the deletion continues in a later run (after the propagation hold)`,
      );
    }

    await this.deps.beforeDelete?.(d);
    const base = {
      objectsDeleted: cp.status?.deletion?.objectsDeleted ?? 0,
      bytesDeleted: cp.status?.deletion?.bytesDeleted ?? 0,
    };
    const ns = d.namespace;
    const name = d.name;
    const uid = cp.metadata.uid;
    const progress = await deletePrefix({
      gcs: this.deps.gcs,
      bucket: d.bucket,
      root: d.root,
      prefix: d.prefix,
      deleteManagedFolder: mode === 'ManagedFolder' || d.folder,
      concurrency: this.deps.concurrency,
      beforePage: async () => {
        if (this.lease.signal.aborted) throw new GcError('Aborted', String(this.lease.signal.reason));
        if (this.deps.signal?.aborted) throw new GcError('Aborted', String(this.deps.signal.reason));
        const now = await this.getCheckpoint(ns, name);
        if (!now || now.metadata.uid !== uid || now.status?.phase !== 'Deleting') {
          throw new GcError('Aborted', `the Checkpoint ${ns}/${name} is no longer fenced; stopped`);
        }
        if (isRetained(now)) throw new GcError('Aborted', `the Checkpoint ${ns}/${name} was annotated retain; stopped`);
      },
      onProgress: async (pr) => {
        this.say(`  ${d.prefix}: ${base.objectsDeleted + pr.objectsDeleted} objects deleted`);
        await rest.mergePatch(
          Resources.Checkpoint,
          name,
          ns,
          {
            status: {
              deletion: {
                objectsDeleted: base.objectsDeleted + pr.objectsDeleted,
                bytesDeleted: base.bytesDeleted + pr.bytesDeleted,
              },
            },
          },
          'status',
        );
      },
    });

    // 4. The prefix is empty: drop the record, the finalizer last.
    try {
      await rest.delete(Resources.Checkpoint, name, ns);
      const gone = await this.getCheckpoint(ns, name);
      if (gone && gone.metadata.uid === uid) {
        await rest.mergePatch(Resources.Checkpoint, name, ns, {
          metadata: {
            finalizers: (gone.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
            resourceVersion: gone.metadata.resourceVersion,
          },
        });
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const total = {
      objectsDeleted: base.objectsDeleted + progress.objectsDeleted,
      bytesDeleted: base.bytesDeleted + progress.bytesDeleted,
    };
    this.deps.events.event(
      policy,
      'Normal',
      'CheckpointDeleted',
      `Deleted ${cp.spec.uri} (${ns}/${name}): ${total.objectsDeleted} objects, ${formatBytes(total.bytesDeleted)}.`,
    );
    return total;
  }

  /**
   * Members that still hold access at the prefix, read from GCS through the mode's backend (and the managed
   * folder's, when a folder is there in another mode); with `revoke`, each found is removed at once. The count.
   */
  private async revokeFound(req: GrantRequest, mode: AccessMode, folder: boolean, revoke: boolean): Promise<number> {
    const modes: AccessMode[] = folder && mode !== 'ManagedFolder' ? [mode, 'ManagedFolder'] : [mode];
    let found = 0;
    for (const m of modes) {
      const obs = await this.deps.backend(m).observe(req);
      if (obs.members.length === 0) continue;
      found += obs.members.length;
      if (revoke) await this.deps.backend(m).apply({ ...req, applied: obs.members });
    }
    return found;
  }

  private fencedStatus(cp: Checkpoint): CheckpointStatus {
    const now = this.now();
    const derived = deriveCheckpointStatus({
      generation: cp.metadata.generation ?? 0,
      previous: cp.status,
      claim: { kind: 'Deleting' },
      desiredMembers: [],
      observedMembers: [],
      holdMs: 0,
      now,
    });
    return { ...derived.status, deletion: { startTime: rfc3339(now), objectsDeleted: 0, bytesDeleted: 0 } };
  }

  private async deleteNoRecord(
    p: { bucket: string; rootPrefix: string; mode: AccessMode; role: string },
    d: PlannedDeletion,
  ): Promise<{ objectsDeleted: number; bytesDeleted: number } | undefined> {
    const nsGone = async () => {
      try {
        await this.deps.rest.get(Resources.Namespace, d.namespace);
        return false;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    };
    if (!(await nsGone())) {
      this.say(`  skip ${d.prefix}: namespace ${d.namespace} exists again`);
      return undefined;
    }
    const req: GrantRequest = {
      bucket: d.bucket,
      prefix: d.prefix,
      role: p.role,
      members: [],
      applied: [],
      job: { namespace: d.namespace, name: d.name },
    };
    const found = await this.revokeFound(req, p.mode, d.folder, false);
    if (found > 0) {
      throw new GcError(
        'Aborted',
        `gs://${d.bucket}/${d.prefix} still grants access to ${found} member(s); the resync revokes them first`,
      );
    }
    await this.deps.beforeDelete?.(d);
    const progress = await deletePrefix({
      gcs: this.deps.gcs,
      bucket: d.bucket,
      root: d.root,
      prefix: d.prefix,
      deleteManagedFolder: p.mode === 'ManagedFolder' || d.folder,
      concurrency: this.deps.concurrency,
      beforePage: async () => {
        if (!(await nsGone())) throw new GcError('Aborted', `namespace ${d.namespace} exists again; stopped`);
      },
    });
    return progress;
  }
}
