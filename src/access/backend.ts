// One interface over the two ways Tidemark grants a job access to its prefix (design §1 access.mode).
// Implementations: managed-folder-backend.ts (one managed folder per job, its own IAM policy) and
// bucket-condition-backend.ts (one conditional binding per job in the bucket policy, writes coalesced per bucket).

export type AccessMode = 'ManagedFolder' | 'BucketCondition';

/** What one job should be granted. */
export interface GrantRequest {
  bucket: string;
  /** The job's prefix, ending with '/'. */
  prefix: string;
  role: string;
  /** The IAM members that should hold `role` on the prefix; empty to revoke. */
  members: readonly string[];
  /** The members Tidemark recorded for this grant (Checkpoint status.grants): the only ones it may remove. */
  applied: readonly string[];
  /** The logical job, for titles and messages. */
  job: { namespace: string; name: string };
}

/** What is in place for a job, read from GCS. */
export interface GrantObservation {
  /** Members that currently hold the role on the prefix through Tidemark's binding or folder policy. */
  members: string[];
  /** ManagedFolder mode: whether the folder exists (BucketCondition: always true). */
  prefixReady: boolean;
  /**
   * ManagedFolder mode: bindings in the folder's policy other than Tidemark's one unconditional binding of the
   * role (other roles, conditional bindings), described. The folder is Tidemark's alone: apply removes them.
   */
  foreign?: string[] | undefined;
}

export interface AccessBackend {
  readonly mode: AccessMode;
  /** Reads what is in place now. */
  observe(req: GrantRequest): Promise<GrantObservation>;
  /**
   * Makes the grant exactly `members` (idempotent) and resolves once it has been read back from GCS.
   * ManagedFolder mode also creates the folder. Throws AccessError on a permanent problem.
   */
  apply(req: GrantRequest): Promise<GrantObservation>;
  /**
   * Optional, for backends whose writes wait for a slot (BucketCondition): hands the change over and returns at
   * once, without waiting for the write. `Pending`: the backend wakes the job (its `wake` hook) once the write has
   * landed and been read back, or has failed; the next submit of the same request then answers `Applied` with the
   * read-back, or throws the write's error (AccessError for problems the user must fix). A different request for
   * the same job supersedes the queued one.
   */
  submit?(req: GrantRequest): QueuedApply;
}

/** The answer of AccessBackend.submit. */
export type QueuedApply =
  | {
      kind: 'Applied';
      /** What the read-back after the write showed. */
      observation: GrantObservation;
      /** The members the grant held before the write (to tell what was added and removed). */
      previous: string[];
    }
  | {
      kind: 'Pending';
      /** For status: what the change waits for. */
      message: string;
    };

/** A problem the user must fix (surfaced as a condition and a Warning Event), not retried quickly. */
export class AccessError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'AccessError';
  }
}
