// Which GCS failures are problems a user must fix (AccessError, surfaced as a condition) and which are transient
// (propagated as they are; the caller retries with backoff).
import { gcsMessage, httpStatus } from '../gcs/client.js';
import { AccessError } from './backend.js';

export const AccessReasons = {
  /** The controller's own identity lacks a permission on the bucket or folder: fix the controller's IAM. */
  ControllerForbidden: 'ControllerForbidden',
  BucketNotFound: 'BucketNotFound',
  /** IAM conditions and managed folders both need uniform bucket-level access on the bucket. */
  UniformAccessRequired: 'UniformAccessRequired',
  /** The job's change would break one of Google's limits on a bucket policy (see limits.ts). */
  IamPolicyLimit: 'IamPolicyLimit',
} as const;

const UNIFORM = /uniform bucket-level access/i;

/**
 * The AccessError for a failed call on `bucket`, or undefined when the failure is not one a user must fix.
 * `what` says what needed uniform bucket-level access (for the message).
 */
export function accessErrorFor(err: unknown, bucket: string, what: string): AccessError | undefined {
  if (err instanceof AccessError) return err;
  const status = httpStatus(err);
  const message = gcsMessage(err);
  if (status === 403) return new AccessError(AccessReasons.ControllerForbidden, message);
  if (status === 404) {
    return new AccessError(AccessReasons.BucketNotFound, `Bucket gs://${bucket} does not exist (${message}).`);
  }
  // Google answers a conditional policy on a bucket without it with 412 (older emulators said 400).
  if ((status === 400 || status === 412) && UNIFORM.test(message)) {
    return new AccessError(
      AccessReasons.UniformAccessRequired,
      `${what} needs uniform bucket-level access on gs://${bucket}; enable it on the bucket (${message}).`,
    );
  }
  return undefined;
}

/** Rethrows `err` as an AccessError when it is one (see accessErrorFor), else as it is. */
export function rethrowAccess(err: unknown, bucket: string, what: string): never {
  throw accessErrorFor(err, bucket, what) ?? err;
}
