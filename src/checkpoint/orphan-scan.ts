// Finds what exists in GCS under a policy's root that no Checkpoint records: job prefixes holding objects,
// managed folders (ManagedFolder mode) and Tidemark's own conditional bindings (BucketCondition mode). Each becomes
// an orphan candidate that the job's reconcile turns into a Released Checkpoint (reason Orphaned): nothing is ever
// deleted without a full retention period on record, and stray grants are revoked. Nothing under another policy's
// deeper root is ever listed into or adopted (policy/overlap.ts); the manager does not scan shadowed policies.
import type { storage_v1 } from '@googleapis/storage';
import type { AccessMode } from '../access/backend.js';
import { tidemarkBindings } from '../access/merge.js';
import type { EffectivePolicy } from '../policy/effective.js';
import { findOrphanPrefixes, gsUri } from '../policy/naming.js';
import type { OrphanCandidate } from './reconciler.js';

export interface OrphanScanResult {
  candidates: { namespace: string; name: string; candidate: OrphanCandidate }[];
  /** Prefixes under the root that are not `<root>/<namespace>/<job>/` (reported, never touched). */
  unrecognised: string[];
  /** GCS calls made. */
  calls: number;
}

export interface ScanOptions {
  /**
   * The other policy whose deeper root claims a prefix (PolicySet.rootOwnerOf): such prefixes are never listed
   * into, never adopted and never reported (issue 8 item 3). Without it nothing is excluded.
   */
  rootOwnerOf?: (prefix: string) => string | undefined;
}

/**
 * Lists `<root>/<namespace>/<job>/` prefixes under a policy root in two delimiter-listing levels, never descending
 * into a prefix that `skip` says belongs to another policy.
 */
async function listJobPrefixes(
  storage: storage_v1.Storage,
  bucket: string,
  root: string,
  count: () => void,
  skip: (prefix: string) => boolean,
): Promise<string[]> {
  const level = async (prefix: string): Promise<string[]> => {
    const out: string[] = [];
    let pageToken: string | undefined;
    do {
      count();
      const res = await storage.objects.list({
        bucket,
        prefix,
        delimiter: '/',
        maxResults: 1000,
        fields: 'prefixes,nextPageToken',
        ...(pageToken ? { pageToken } : {}),
      });
      out.push(...(res.data.prefixes ?? []));
      pageToken = res.data.nextPageToken ?? undefined;
    } while (pageToken);
    return out;
  };
  const namespaces = await level(`${root}/`);
  const jobs: string[] = [];
  for (const ns of namespaces) if (!skip(ns)) jobs.push(...(await level(ns)));
  return jobs;
}

async function listManagedFolders(
  storage: storage_v1.Storage,
  bucket: string,
  root: string,
  count: () => void,
): Promise<string[]> {
  const out: string[] = [];
  let pageToken: string | undefined;
  do {
    count();
    const res = await storage.managedFolders.list({ bucket, prefix: `${root}/`, ...(pageToken ? { pageToken } : {}) });
    for (const f of res.data.items ?? []) if (f.name) out.push(f.name);
    pageToken = res.data.nextPageToken ?? undefined;
  } while (pageToken);
  return out;
}

export async function scanPolicyRoot(
  storage: storage_v1.Storage,
  policy: EffectivePolicy,
  hasCheckpoint: (namespace: string, name: string) => boolean,
  opts: ScanOptions = {},
): Promise<OrphanScanResult> {
  let calls = 0;
  const count = () => {
    calls++;
  };
  const { bucket, rootPrefix: root } = policy;
  const foreign = (prefix: string) => opts.rootOwnerOf?.(prefix) !== undefined;
  const found = new Set(await listJobPrefixes(storage, bucket, root, count, foreign));
  if (policy.mode === 'ManagedFolder') {
    for (const f of await listManagedFolders(storage, bucket, root, count)) found.add(f);
  } else {
    count();
    const res = await storage.buckets.getIamPolicy({ bucket, optionsRequestedPolicyVersion: 3 });
    // A binding's own prefix, and only under this root: a binding of another root is another policy's.
    for (const b of tidemarkBindings(res.data as Parameters<typeof tidemarkBindings>[0], bucket)) {
      if (b.prefix.startsWith(`${root}/`)) found.add(b.prefix);
    }
  }
  for (const prefix of found) if (foreign(prefix)) found.delete(prefix);
  const { orphans, unrecognised } = findOrphanPrefixes(root, found, hasCheckpoint);
  const mode: AccessMode = policy.mode;
  return {
    candidates: orphans.map((o) => ({
      namespace: o.namespace,
      name: o.name,
      candidate: {
        policyName: policy.name,
        bucket,
        prefix: o.prefix,
        uri: gsUri(bucket, o.prefix),
        mode,
        role: policy.role,
      },
    })),
    unrecognised,
    calls,
  };
}
