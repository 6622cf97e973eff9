// BucketCondition mode: one conditional binding per job in the bucket's IAM policy (condition: the job's prefix,
// see condition.ts), merged IAMPartialPolicy-style so that nothing Tidemark did not apply is ever touched. All
// jobs on one bucket go through that bucket's BucketWriter, which coalesces their changes into as few
// read-modify-writes as Google's one-write-per-second-per-bucket limit allows. The reconciler hands its changes over
// with submit() and is woken when they land (queued-changes.ts), so no worker waits for a bucket's write slot.

import type { Gcs } from '../gcs/client.js';
import { cmp } from '../policy/selector.js';
import type { AccessBackend, GrantObservation, GrantRequest, QueuedApply } from './backend.js';
import { BucketWriter, type BucketWriterOptions, type WriterOutcome } from './bucket-writer.js';
import { type IamCondition, jobCondition } from './condition.js';
import { checkRequest } from './managed-folder-backend.js';
import { type BindingSpec, membersFor } from './merge.js';
import { QueuedChanges } from './queued-changes.js';

export interface BucketConditionBackendOptions extends Omit<BucketWriterOptions, 'bucket' | 'gcs'> {
  gcs: Gcs;
  /** Called with the job (`namespace/name`) whose submitted change was answered; default: nobody is woken. */
  wake?: ((job: { namespace: string; name: string }) => void) | undefined;
}

export class BucketConditionBackend implements AccessBackend {
  readonly mode = 'BucketCondition' as const;
  private readonly writers = new Map<string, BucketWriter>();
  private readonly queued: QueuedChanges<WriterOutcome>;

  constructor(private readonly opts: BucketConditionBackendOptions) {
    // Validate the options now rather than at the first job.
    new BucketWriter({ ...opts, bucket: 'validate-options' });
    const jobOf = (key: string) => key.slice(0, key.indexOf(' '));
    this.queued = new QueuedChanges({
      wake: (key) => {
        const job = jobOf(key);
        const slash = job.indexOf('/');
        opts.wake?.({ namespace: job.slice(0, slash), name: job.slice(slash + 1) });
      },
      groupOf: jobOf,
    });
  }

  /** Reads the bucket policy (one in-flight read per bucket, shared by concurrent observers). */
  async observe(req: GrantRequest): Promise<GrantObservation> {
    checkRequest(req);
    const condition = conditionOf(req);
    const policy = await this.writer(req.bucket).read();
    return { members: membersFor(policy, req.role, condition), prefixReady: true };
  }

  /**
   * Makes the job's binding hold exactly `members`, removing only members in `applied`; resolves once a read-back
   * shows it. Rejects with AccessError for problems the user must fix (IamPolicyLimit for this job alone).
   */
  async apply(req: GrantRequest): Promise<GrantObservation> {
    const { job, desired, applied } = change(req);
    const { previous: _, ...obs } = await this.writer(req.bucket).submit(job, desired, applied);
    return obs;
  }

  /**
   * Hands the change to the bucket's writer and returns at once (Pending); the job is woken when the write has
   * been read back or has failed, and the same request then answers Applied (or throws the write's error).
   */
  submit(req: GrantRequest): QueuedApply {
    const { job, desired, applied } = change(req);
    const writer = this.writer(req.bucket);
    const signature = JSON.stringify([req.bucket, desired, applied.members]);
    const taken = this.queued.take(job, signature, () => writer.submit(job, desired, applied));
    if (taken.kind === 'Answered') {
      const { previous, ...observation } = taken.value;
      return { kind: 'Applied', observation, previous };
    }
    const waiting = writer.queued;
    return {
      kind: 'Pending',
      message: `Queued for the next write of the IAM policy of bucket gs://${req.bucket} (at most one per ${writer.intervalMs} ms${waiting > 1 ? `; ${waiting} changes waiting` : ''}).`,
    };
  }

  /** Whether a change of the job is handed over and not answered yet (its answer will wake the job). */
  awaitingWake(job: { namespace: string; name: string }): boolean {
    return this.queued.awaiting(`${job.namespace}/${job.name}`);
  }

  /** Changes handed over by submit() and not answered yet (metric tidemark_access_changes_pending). */
  get pending(): number {
    return this.queued.pending;
  }

  /** The bucket's writer (created on first use). */
  writer(bucket: string): BucketWriter {
    let w = this.writers.get(bucket);
    if (!w) {
      w = new BucketWriter({ ...this.opts, bucket });
      this.writers.set(bucket, w);
    }
    return w;
  }
}

function change(req: GrantRequest): { job: string; desired: BindingSpec; applied: BindingSpec } {
  checkRequest(req);
  const condition = conditionOf(req);
  return {
    // One key per job AND binding: a migration's new grant and the old one it revokes are two changes, never one
    // superseding the other.
    job: `${req.job.namespace}/${req.job.name} (${req.role} if ${condition.expression})`,
    desired: { role: req.role, condition, members: [...new Set(req.members)].sort(cmp) },
    applied: { role: req.role, condition, members: [...new Set(req.applied)].sort(cmp) },
  };
}

function conditionOf(req: GrantRequest): IamCondition {
  return jobCondition(req.bucket, req.prefix, req.job);
}
