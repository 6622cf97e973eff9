// BucketCondition mode: one conditional binding per job in the bucket's IAM policy (condition: the job's prefix,
// see condition.ts), merged IAMPartialPolicy-style so that nothing Tidemark did not apply is ever touched. All
// jobs on one bucket go through that bucket's BucketWriter, which coalesces their changes into as few
// read-modify-writes as Google's one-write-per-second-per-bucket limit allows.

import type { Gcs } from '../gcs/client.js';
import { cmp } from '../policy/selector.js';
import type { AccessBackend, GrantObservation, GrantRequest } from './backend.js';
import { BucketWriter, type BucketWriterOptions } from './bucket-writer.js';
import { type IamCondition, jobCondition } from './condition.js';
import { checkRequest } from './managed-folder-backend.js';
import { membersFor } from './merge.js';

export interface BucketConditionBackendOptions extends Omit<BucketWriterOptions, 'bucket' | 'gcs'> {
  gcs: Gcs;
}

export class BucketConditionBackend implements AccessBackend {
  readonly mode = 'BucketCondition' as const;
  private readonly writers = new Map<string, BucketWriter>();

  constructor(private readonly opts: BucketConditionBackendOptions) {
    // Validate the options now rather than at the first job.
    new BucketWriter({ ...opts, bucket: 'validate-options' });
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
    checkRequest(req);
    const condition = conditionOf(req);
    const desired = { role: req.role, condition, members: [...new Set(req.members)].sort(cmp) };
    const applied = { role: req.role, condition, members: [...new Set(req.applied)].sort(cmp) };
    return this.writer(req.bucket).submit(`${req.job.namespace}/${req.job.name}`, desired, applied);
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

function conditionOf(req: GrantRequest): IamCondition {
  return jobCondition(req.bucket, req.prefix, req.job);
}
