// One bucket's IAM policy, shared by every job of a BucketCondition policy on that bucket. All pending changes are
// COALESCED into one read-modify-write, because Google allows about one bucket-metadata write per second per
// bucket (design §3): a per-job read-modify-write loop would need 1,000 s for 1,000 jobs.
//
// - submit() queues a job's change, keyed by job: a newer change for the same job replaces the older one (both
//   callers are answered by the write that carries the newer one).
// - A round takes everything queued, reads the policy (version 3), merges all changes IAMPartialPolicy-style
//   (mergeWithinLimits: only Tidemark's own members move; jobs whose change would break a Google limit are refused
//   with AccessError('IamPolicyLimit') while the rest proceed), and writes it with the read etag, only if it
//   changed. 412/409 (someone wrote since our read) redoes the whole read-modify-write; 429 backs off and redoes
//   it. At most one write per `minWriteIntervalMs`, counted from the answer to the previous write attempt (the
//   server has then seen it), so our own writes never trip the limit; a foreign writer's may, hence the 429 path.
// - One read-back after the write answers every caller whose change it shows (members present; removed members
//   absent). A change that does not show (someone else undid it in between) goes round again, a few times at most.
// - read() is single-flight: concurrent readers share one in-flight getIamPolicy (observe for many jobs at once
//   costs one call). The writer joins an in-flight read only if it started after the writer's last write.
// - A writer built with a `signal` (the leadership term's) stops when it is aborted: nothing queued is written, every
//   waiting caller is rejected with the abort reason, and later submits are refused at once.
// - Callers that must not wait (the reconciler) go through QueuedChanges (queued-changes.ts), which turns submit()'s
//   answer into a wake-up of the job instead of a parked worker.
import type { storage_v1 } from '@googleapis/storage';
import { type Gcs, gcsCall, httpStatus, NO_RETRY } from '../gcs/client.js';
import { backoffMs, sleep } from '../gcs/retry.js';
import { cmp } from '../policy/selector.js';
import { AccessError, type GrantObservation } from './backend.js';
import { AccessReasons, rethrowAccess } from './gcs-errors.js';
import { IAM_LIMITS, type IamLimits, mergeWithinLimits } from './limits.js';
import { type BindingSpec, type IamPolicy, type JobChange, membersFor } from './merge.js';

export interface BucketWriterOptions {
  gcs: Gcs;
  bucket: string;
  /** Minimum time between two policy writes on this bucket. Default 1,000 ms (Google's limit). */
  minWriteIntervalMs?: number | undefined;
  /** How long a round waits after the first queued change for more to join it. Default 10 ms. */
  coalesceMs?: number | undefined;
  /** Read-modify-write attempts per round on 412/409. Default 8. */
  maxConflictAttempts?: number | undefined;
  /** Attempts per round on 429. Default 10. */
  maxRateLimitAttempts?: number | undefined;
  /** Rounds a change may take before it is reported as not sticking. Default 3. */
  maxRounds?: number | undefined;
  /** First backoff after a conflict or 429 (doubled per attempt, jittered, capped at 10 s). Default 100 ms. */
  backoffBaseMs?: number | undefined;
  limits?: IamLimits | undefined;
  now?: (() => number) | undefined;
  /** The leadership term: once aborted, nothing more is written and every waiting caller is rejected. */
  signal?: AbortSignal | undefined;
}

/** A change's answer: what the read-back shows for the job, and what the policy held for it before the round. */
export interface WriterOutcome extends GrantObservation {
  /** Members of the job's binding in the policy the round read before writing (for "granted to ..." messages). */
  previous: string[];
}

interface Waiter {
  resolve(obs: WriterOutcome): void;
  reject(err: unknown): void;
}

interface Pending {
  job: string;
  desired: BindingSpec;
  applied: BindingSpec;
  waiters: Waiter[];
  /** Rounds this change has been through without showing in the read-back. */
  rounds: number;
}

interface Read {
  startedAt: number;
  promise: Promise<IamPolicy>;
}

const WHAT = 'Access mode BucketCondition (IAM conditions)';

export class BucketWriter {
  readonly bucket: string;
  private readonly gcs: Gcs;
  private readonly interval: number;
  private readonly coalesceMs: number;
  private readonly maxConflictAttempts: number;
  private readonly maxRateLimitAttempts: number;
  private readonly maxRounds: number;
  private readonly backoffBaseMs: number;
  private readonly limits: IamLimits;
  private readonly now: () => number;
  private readonly signal: AbortSignal | undefined;

  private pending = new Map<string, Pending>();
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** When the last write attempt was answered (any status). */
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private inflight: Read | undefined;

  constructor(opts: BucketWriterOptions) {
    this.gcs = opts.gcs;
    this.bucket = opts.bucket;
    this.interval = opts.minWriteIntervalMs ?? 1000;
    this.coalesceMs = opts.coalesceMs ?? 10;
    this.maxConflictAttempts = opts.maxConflictAttempts ?? 8;
    this.maxRateLimitAttempts = opts.maxRateLimitAttempts ?? 10;
    this.maxRounds = opts.maxRounds ?? 3;
    this.backoffBaseMs = opts.backoffBaseMs ?? 100;
    this.limits = opts.limits ?? IAM_LIMITS;
    this.now = opts.now ?? Date.now;
    this.signal = opts.signal;
    this.signal?.addEventListener('abort', () => this.abandon(), { once: true });
    for (const [name, v, min] of [
      ['minWriteIntervalMs', this.interval, 0],
      ['coalesceMs', this.coalesceMs, 0],
      ['maxConflictAttempts', this.maxConflictAttempts, 1],
      ['maxRateLimitAttempts', this.maxRateLimitAttempts, 1],
      ['maxRounds', this.maxRounds, 1],
      ['backoffBaseMs', this.backoffBaseMs, 0],
    ] as const) {
      if (!Number.isFinite(v) || v < min) throw new Error(`BucketWriter: ${name} must be a number >= ${min}, got ${v}`);
    }
  }

  /** The minimum time between two policy writes, in milliseconds. */
  get intervalMs(): number {
    return this.interval;
  }

  /** Changes queued and not yet taken by a round (for tests and metrics). */
  get queued(): number {
    return this.pending.size;
  }

  /**
   * Queues a job's change; resolves with what the read-back shows for the job once a write carrying it (or a read
   * showing it already in place) has been seen. `desired` and `applied` must share role and condition.
   */
  submit(job: string, desired: BindingSpec, applied: BindingSpec): Promise<WriterOutcome> {
    return new Promise<WriterOutcome>((resolve, reject) => {
      if (this.signal?.aborted) {
        reject(this.stopped());
        return;
      }
      this.enqueue({ job, desired, applied, waiters: [{ resolve, reject }], rounds: 0 });
      this.schedule();
    });
  }

  /**
   * The bucket policy (version 3). Shares an in-flight read that started after `notBefore` (default: any).
   * Errors are AccessErrors when the user must fix something, else GCS's own.
   */
  read(notBefore = Number.NEGATIVE_INFINITY): Promise<IamPolicy> {
    const cur = this.inflight;
    if (cur && cur.startedAt > notBefore) return cur.promise;
    const startedAt = this.now();
    const promise = gcsCall(this.gcs, 'storage.buckets.getIamPolicy', () =>
      this.gcs.storage.buckets.getIamPolicy({ bucket: this.bucket, optionsRequestedPolicyVersion: 3 }, NO_RETRY),
    )
      .then((p) => p as IamPolicy)
      .catch((err) => rethrowAccess(err, this.bucket, WHAT))
      .finally(() => {
        if (this.inflight?.promise === promise) this.inflight = undefined;
      });
    this.inflight = { startedAt, promise };
    return promise;
  }

  private stopped(): Error {
    const r = this.signal?.reason;
    return r instanceof Error ? r : new Error(`gs://${this.bucket}: the bucket writer stopped (leadership ended)`);
  }

  /** The term ended: drop everything queued (never written by a fenced writer) and answer its callers. */
  private abandon(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const dropped = [...this.pending.values()];
    this.pending.clear();
    fail(dropped, this.stopped());
  }

  private enqueue(p: Pending): void {
    const old = this.pending.get(p.job);
    if (old) {
      // The newer change replaces the older; the older callers wait for the newer one's write. Members Tidemark
      // may remove are those either caller said it applied (under the same binding).
      const sameKey =
        old.applied.role === p.applied.role && old.applied.condition?.expression === p.applied.condition?.expression;
      const applied = sameKey
        ? { ...p.applied, members: [...new Set([...old.applied.members, ...p.applied.members])].sort(cmp) }
        : p.applied;
      p = { ...p, applied, waiters: [...old.waiters, ...p.waiters] };
    }
    this.pending.set(p.job, p);
  }

  /** Puts a change that did not show back in the queue, behind any newer change for the same job. */
  private requeue(p: Pending): void {
    const newer = this.pending.get(p.job);
    if (!newer) {
      this.pending.set(p.job, p);
      return;
    }
    // The newer change wins; the older callers wait for it, as in enqueue.
    this.pending.delete(p.job);
    this.enqueue(p);
    this.enqueue(newer);
  }

  private schedule(): void {
    if (this.signal?.aborted) return;
    if (this.running || this.timer || this.pending.size === 0) return;
    const delay = Math.max(this.coalesceMs, this.lastWriteAt + this.interval - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.round();
    }, delay);
  }

  private async round(): Promise<void> {
    this.running = true;
    const batch = [...this.pending.values()];
    this.pending.clear();
    try {
      await this.process(batch);
    } catch (err) {
      // Not expected (process answers its callers itself); never leave a caller hanging.
      for (const p of batch) for (const w of p.waiters) w.reject(err);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  private async process(batch: Pending[]): Promise<void> {
    let live = batch;
    let conflicts = 0;
    let limited = 0;
    let before: IamPolicy | undefined;
    for (;;) {
      const slot = this.lastWriteAt + this.interval - this.now();
      if (slot > 0) await sleep(slot);
      if (this.signal?.aborted) return fail(live, this.stopped());
      let policy: IamPolicy;
      try {
        policy = await this.read(this.lastWriteAt);
      } catch (err) {
        return fail(live, err);
      }
      before ??= policy;
      const merged = mergeWithinLimits(
        policy,
        live.map((p): JobChange => ({ job: p.job, desired: p.desired, applied: p.applied })),
        this.limits,
      );
      if (merged.rejected.length > 0) {
        const byJob = new Map(merged.rejected.map((r) => [r.job, r]));
        for (const p of live) {
          const r = byJob.get(p.job);
          if (r) for (const w of p.waiters) w.reject(new AccessError(AccessReasons.IamPolicyLimit, r.message));
        }
        live = live.filter((p) => !byJob.has(p.job));
      }
      if (live.length === 0) return;
      if (!merged.changed) return this.settle(live, policy, before);
      if (typeof policy.etag !== 'string' || policy.etag === '') {
        return fail(
          live,
          new Error(`gs://${this.bucket}: the bucket IAM policy came without an etag; not writing blind`),
        );
      }
      if (this.signal?.aborted) return fail(live, this.stopped());
      try {
        await this.write(merged.policy, policy.etag);
      } catch (err) {
        const status = httpStatus(err);
        if (status === 412 || status === 409) {
          if (++conflicts >= this.maxConflictAttempts) {
            return fail(
              live,
              new Error(
                `gs://${this.bucket}: the bucket IAM policy kept changing under us (${conflicts} conflicting writes); will retry later`,
              ),
            );
          }
          await sleep(backoffMs(conflicts, this.backoffBaseMs, 10_000));
          continue;
        }
        if (status === 429) {
          if (++limited >= this.maxRateLimitAttempts) {
            return fail(
              live,
              new Error(`gs://${this.bucket}: bucket policy writes still rate-limited (429) after ${limited} attempts`),
            );
          }
          await sleep(Math.max(this.interval, backoffMs(limited, this.backoffBaseMs * 4, 10_000)));
          continue;
        }
        return fail(live, err);
      }
      let back: IamPolicy;
      try {
        back = await this.read(this.lastWriteAt);
      } catch (err) {
        return fail(live, err);
      }
      return this.settle(live, back, before);
    }
  }

  private async write(policy: IamPolicy, etag: string): Promise<void> {
    const body: storage_v1.Schema$Policy = {
      version: 3,
      etag,
      bindings: (policy.bindings ?? []) as storage_v1.Schema$Policy['bindings'],
    };
    try {
      await gcsCall(this.gcs, 'storage.buckets.setIamPolicy', () =>
        this.gcs.storage.buckets.setIamPolicy({ bucket: this.bucket, requestBody: body }, NO_RETRY),
      );
    } catch (err) {
      // 412/409/429 stay as they are (a concurrent write, the rate limit), except Google's 412 for a conditional
      // policy on a bucket without uniform bucket-level access: that one is the user's to fix (an AccessError).
      rethrowAccess(err, this.bucket, WHAT);
    } finally {
      this.lastWriteAt = this.now();
    }
  }

  /** Answers every change the policy shows; the others go round again (a few times at most). */
  private settle(live: Pending[], policy: IamPolicy, before: IamPolicy): void {
    for (const p of live) {
      const members = membersFor(policy, p.desired.role, p.desired.condition);
      const have = new Set(members);
      const want = new Set(p.desired.members);
      const shows =
        p.desired.members.every((m) => have.has(m)) && p.applied.members.every((m) => want.has(m) || !have.has(m));
      if (shows) {
        const previous = membersFor(before, p.desired.role, p.desired.condition);
        for (const w of p.waiters) w.resolve({ members, prefixReady: true, previous });
      } else if (p.rounds + 1 >= this.maxRounds) {
        const err = new Error(
          `gs://${this.bucket}: the grant for ${p.job} did not show in the bucket policy after ${p.rounds + 1} writes (someone keeps changing it); will retry later`,
        );
        for (const w of p.waiters) w.reject(err);
      } else {
        this.requeue({ ...p, rounds: p.rounds + 1 });
      }
    }
  }
}

function fail(live: Pending[], err: unknown): void {
  for (const p of live) for (const w of p.waiters) w.reject(err);
}
