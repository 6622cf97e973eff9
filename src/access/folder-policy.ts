// ManagedFolder mode: each job's prefix is a managed folder whose IAM policy is exactly Tidemark's one binding
// `{role, members}` (Tidemark owns the folder, so its policy is authoritative, unlike the shared bucket policy).
import { cmp } from '../policy/selector.js';
import type { IamPolicy } from './merge.js';

/** The managed folder for a job prefix: the prefix itself (managed folder names end with '/'). */
export function managedFolderName(prefix: string): string {
  if (!prefix.endsWith('/') || prefix.length < 2 || prefix.startsWith('/')) {
    throw new Error(`managed folder: prefix ${JSON.stringify(prefix)} must be non-empty, relative, and end with "/"`);
  }
  return prefix;
}

/**
 * The folder policy to write: one unconditional binding with the members (deduplicated, sorted), or no bindings
 * to revoke. Always version 3: a folder policy that holds a conditional binding (someone else's) can only be
 * replaced by a version 3 write; a version 1 write is refused with 400 and would wedge grants and revocation. `etag` is the one read, sent back so a concurrent writer gets a 412 instead of being overwritten.
 */
export function desiredFolderPolicy(role: string, members: readonly string[], etag?: string): IamPolicy {
  if (typeof role !== 'string' || role === '') throw new Error('managed folder policy: role must be non-empty');
  const unique = [...new Set(members)].sort(cmp);
  if (unique.some((m) => typeof m !== 'string' || m === '')) {
    throw new Error('managed folder policy: members must be non-empty strings');
  }
  const policy: IamPolicy = { version: 3, bindings: unique.length > 0 ? [{ role, members: unique }] : [] };
  if (etag !== undefined) policy.etag = etag;
  return policy;
}

export interface FolderPolicyComparison {
  /** The read-back policy grants exactly `role` to exactly `members`, and nothing else. */
  matches: boolean;
  /** Desired members the policy does not grant `role` to (unconditionally). */
  missing: string[];
  /** Members holding `role` that are not desired. */
  extra: string[];
  /** Bindings of other roles, or conditional ones, that should not be there (described). */
  unexpected: string[];
}

/** Compares a read-back folder policy with what Tidemark wants there. */
export function compareFolderPolicy(
  actual: IamPolicy | null | undefined,
  role: string,
  members: readonly string[],
): FolderPolicyComparison {
  const want = new Set(members);
  const have = new Set<string>();
  const unexpected: string[] = [];
  for (const b of actual?.bindings ?? []) {
    const ms = b.members ?? [];
    if (ms.length === 0) continue;
    if (b.role === role && !b.condition) {
      for (const m of ms) have.add(m);
    } else {
      const what = b.condition ? `${b.role} if "${b.condition.title}"` : b.role;
      unexpected.push(`${what}: ${[...ms].sort(cmp).join(', ')}`);
    }
  }
  const missing = [...want].filter((m) => !have.has(m)).sort(cmp);
  const extra = [...have].filter((m) => !want.has(m)).sort(cmp);
  unexpected.sort(cmp);
  return { matches: missing.length === 0 && extra.length === 0 && unexpected.length === 0, missing, extra, unexpected };
}
