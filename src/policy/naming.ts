// Where a job's checkpoint lives: the prefix `<rootPrefix>/<namespace>/<job>/`, the Checkpoint's name and its
// `gs://` URI; and who may hold a Checkpoint name.
//
// Names are validated, never rewritten: Kubernetes names (DNS-1123) are already safe object-name segments, and
// rewriting would risk two jobs landing on one prefix. Because namespace and job segments contain no '/', and
// every prefix ends with '/', the prefixes of two different (namespace, job) pairs under one root are never a
// prefix of one another. The one collision left is by kind: SparkApplication `foo` and ScheduledSparkApplication
// `foo` in one namespace map to the same Checkpoint and prefix; `decideBinding` lets the first holder keep it.
import type { JobKind, LogicalJob } from './job.js';
import { dns1123LabelError, dns1123SubdomainError } from './names.js';
import { cmp } from './selector.js';

/**
 * The longest prefix (UTF-8 bytes) Tidemark hands out. GCS object names may be 1,024 bytes; the rest is left for
 * what Spark writes under the prefix (`<query>/state/<op>/<partition>/.<version>.delta.<uuid>.tmp` and similar).
 */
export const MAX_PREFIX_BYTES = 768;

const ROOT_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Why `root` is not a usable storage.rootPrefix, or undefined. */
export function rootPrefixError(root: string): string | undefined {
  if (typeof root !== 'string' || root.length === 0) return 'rootPrefix must not be empty';
  if (root.startsWith('/') || root.endsWith('/')) return `rootPrefix "${root}" must not start or end with "/"`;
  for (const seg of root.split('/')) {
    if (seg === '') return `rootPrefix "${root}" must not contain an empty segment ("//")`;
    if (seg === '.' || seg === '..') return `rootPrefix "${root}" must not contain "." or ".." segments`;
    if (!ROOT_SEGMENT.test(seg)) {
      return `rootPrefix "${root}" may only contain letters, digits, ".", "_", "-" and "/" (segment "${seg}")`;
    }
  }
  if (root === '.well-known/acme-challenge' || root.startsWith('.well-known/acme-challenge/')) {
    return 'rootPrefix must not be under .well-known/acme-challenge (Cloud Storage forbids those names)';
  }
  // Leave room for the namespace (63) and job (253) segments and three '/'.
  const max = MAX_PREFIX_BYTES - 63 - 253 - 3;
  if (Buffer.byteLength(root, 'utf8') > max) return `rootPrefix must be at most ${max} bytes`;
  return undefined;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const BUCKET_COMPONENT = /^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$/;

/** Why `bucket` is not a valid Cloud Storage bucket name, or undefined (Google's naming rules). */
export function bucketNameError(bucket: string): string | undefined {
  if (typeof bucket !== 'string' || bucket.length === 0) return 'bucket must not be empty';
  const max = bucket.includes('.') ? 222 : 63;
  if (bucket.length < 3 || bucket.length > max) return `bucket "${bucket}" must be 3 to ${max} characters long`;
  for (const comp of bucket.split('.')) {
    if (comp.length > 63) return `bucket "${bucket}": each "."-separated part must be at most 63 characters`;
    if (!BUCKET_COMPONENT.test(comp)) {
      return `bucket "${bucket}" may only contain lower-case letters, digits, "-", "_" and ".", each "."-separated part starting and ending with a letter or digit`;
    }
  }
  if (IPV4.test(bucket)) return `bucket "${bucket}" must not look like an IP address`;
  if (bucket.startsWith('goog') || bucket.includes('google')) {
    return `bucket "${bucket}" must not start with "goog" or contain "google"`;
  }
  return undefined;
}

export interface StorageLocation {
  bucket: string;
  /** `<rootPrefix>/<namespace>/<job>/` (always ends with '/'). */
  prefix: string;
  /** `gs://<bucket>/<prefix>`. */
  uri: string;
  /** The Checkpoint's name: the logical job's name (in the job's namespace). */
  checkpointName: string;
}

export type LocationResult = { ok: true; location: StorageLocation } | { ok: false; error: string };

/** The storage location of a logical job under a policy's bucket and root. */
export function jobLocation(
  storage: { bucket: string; rootPrefix: string },
  job: Pick<LogicalJob, 'namespace' | 'name'>,
): LocationResult {
  const bucketErr = bucketNameError(storage.bucket);
  if (bucketErr) return { ok: false, error: bucketErr };
  const rootErr = rootPrefixError(storage.rootPrefix);
  if (rootErr) return { ok: false, error: rootErr };
  const nsErr = dns1123LabelError(job.namespace);
  if (nsErr) return { ok: false, error: `namespace "${job.namespace}" ${nsErr}` };
  const jobErr = dns1123SubdomainError(job.name);
  if (jobErr) return { ok: false, error: `job name "${job.name}" ${jobErr}` };
  const prefix = `${storage.rootPrefix}/${job.namespace}/${job.name}/`;
  if (Buffer.byteLength(prefix, 'utf8') > MAX_PREFIX_BYTES) {
    return { ok: false, error: `prefix "${prefix}" is longer than ${MAX_PREFIX_BYTES} bytes` };
  }
  return {
    ok: true,
    location: { bucket: storage.bucket, prefix, uri: `gs://${storage.bucket}/${prefix}`, checkpointName: job.name },
  };
}

/** The `gs://` URI of a prefix. */
export function gsUri(bucket: string, prefix: string): string {
  return `gs://${bucket}/${prefix}`;
}

/**
 * The (namespace, job) a prefix stands for under `root`, if it is exactly `<root>/<namespace>/<job>/` with valid
 * names (used to find orphaned prefixes when listing a policy's root).
 */
export function parseJobPrefix(root: string, prefix: string): { namespace: string; name: string } | undefined {
  if (!prefix.startsWith(`${root}/`) || !prefix.endsWith('/')) return undefined;
  const rest = prefix.slice(root.length + 1, -1).split('/');
  if (rest.length !== 2) return undefined;
  const [namespace, name] = rest as [string, string];
  if (dns1123LabelError(namespace) || dns1123SubdomainError(name)) return undefined;
  return { namespace, name };
}

/**
 * The job prefixes found under `root` (e.g. listed with a delimiter, two levels deep) that have no Checkpoint:
 * orphans, to be recorded as Released so nothing is deleted without a full retention period. Prefixes that are
 * not `<root>/<namespace>/<job>/` with valid names are returned apart (never treated as jobs). Both sorted.
 */
export function findOrphanPrefixes(
  root: string,
  listed: Iterable<string>,
  hasCheckpoint: (namespace: string, name: string) => boolean,
): { orphans: { namespace: string; name: string; prefix: string }[]; unrecognised: string[] } {
  const orphans: { namespace: string; name: string; prefix: string }[] = [];
  const unrecognised: string[] = [];
  for (const prefix of new Set(listed)) {
    const job = parseJobPrefix(root, prefix);
    if (!job) unrecognised.push(prefix);
    else if (!hasCheckpoint(job.namespace, job.name)) orphans.push({ ...job, prefix });
  }
  orphans.sort((a, b) => cmp(a.prefix, b.prefix));
  unrecognised.sort(cmp);
  return { orphans, unrecognised };
}

/** The parts of an existing Checkpoint that decide who may bind it. */
export interface ExistingCheckpoint {
  jobRef: { kind: JobKind; name: string };
  policyName: string;
  bucket: string;
  prefix: string;
  phase?: 'Bound' | 'Released' | 'Deleting' | undefined;
  /** Created by the resync for a prefix that had no Checkpoint: no job has held it yet, either kind may. */
  orphaned?: boolean | undefined;
}

export interface IncomingClaim {
  job: LogicalJob;
  policyName: string;
  bucket: string;
  prefix: string;
}

export type BindDecision =
  /** No Checkpoint exists: create one and bind it. */
  | { kind: 'Bind' }
  /**
   * The Checkpoint is this job's (or an unclaimed orphan at the same location): bind it again. `adoptOrphan`: it
   * was an orphan — set its jobRef.kind to the job's kind and drop the orphan mark; `policyChanged`: update
   * spec.policyName (same bucket and prefix).
   */
  | { kind: 'Rebind'; adoptOrphan: boolean; policyChanged: boolean }
  /** The name is held by a job of the other kind: it keeps it; report a conflict on the incoming job. */
  | { kind: 'NameConflict'; holder: { kind: JobKind; name: string } }
  /** Its data is being deleted: no job may bind it until the deletion completes (then Bind anew). */
  | { kind: 'Fenced' }
  /** The Checkpoint is this job's but its (immutable) location differs from what the selected policy gives. */
  | { kind: 'LocationMismatch'; existingUri: string; desiredUri: string };

/** Whether the incoming job may bind the Checkpoint that carries its name (first holder keeps it). */
export function decideBinding(existing: ExistingCheckpoint | undefined, incoming: IncomingClaim): BindDecision {
  if (existing === undefined) return { kind: 'Bind' };
  if (existing.phase === 'Deleting') return { kind: 'Fenced' };
  const sameHolder = existing.jobRef.kind === incoming.job.kind && existing.jobRef.name === incoming.job.name;
  const adoptable = existing.orphaned === true && existing.phase !== 'Bound';
  if (!sameHolder && !(adoptable && existing.jobRef.name === incoming.job.name)) {
    return { kind: 'NameConflict', holder: { kind: existing.jobRef.kind, name: existing.jobRef.name } };
  }
  if (existing.bucket !== incoming.bucket || existing.prefix !== incoming.prefix) {
    return {
      kind: 'LocationMismatch',
      existingUri: gsUri(existing.bucket, existing.prefix),
      desiredUri: gsUri(incoming.bucket, incoming.prefix),
    };
  }
  return {
    kind: 'Rebind',
    adoptOrphan: existing.orphaned === true,
    policyChanged: existing.policyName !== incoming.policyName,
  };
}
