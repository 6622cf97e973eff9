// Overlapping policy roots: the one place this is decided (the controller's plan and policy status, the orphan scan,
// admission and `tidemark plan` all call it).
//
// Two policies overlap when they name the same bucket and one root is equal to, or a path-prefix of, the other
// (`a` and `a/b` overlap; `a` and `ab` do not). Nested roots let a job of one policy reach another policy's jobs
// (`ckpt/team-b/x/` is job `x` of namespace `team-b` under root `ckpt`, and also holds every job of namespace `x`
// under root `ckpt/team-b`); equal roots make both claim the same prefixes.
//
// - Of two overlapping policies the later one (creationTimestamp, then name; a policy not created yet, as seen by
//   admission, is later than every stored one) is shadowed: it provisions nothing and is not Ready (RootOverlap).
//   The rule is pairwise, so a policy overlapping any earlier policy is shadowed, even if that one is shadowed too:
//   deleting a policy never turns a policy that provisions into one that doesn't by surprise, only the reverse.
// - No policy acts on a prefix under another policy's deeper root (rootOwnerOf): the earlier `ckpt` provisions
//   and adopts nothing at `ckpt/team-b/...` while a policy with root `ckpt/team-b` exists, shadowed or not.
// Only policies whose bucket and root are valid take part (an invalid policy provisions nothing anyway).
import { bucketNameError, rootPrefixError } from './naming.js';
import { cmp } from './selector.js';

/** The condition and Event reason of everything refused because of an overlap. */
export const ROOT_OVERLAP = 'RootOverlap';

/** What overlap needs of a CheckpointPolicy (structurally compatible with the API type). */
export interface OverlapCandidate {
  metadata: { name?: string | undefined; creationTimestamp?: string | Date | undefined };
  spec?: { storage?: { bucket?: string | undefined; rootPrefix?: string | undefined } | undefined } | undefined;
}

export interface Root {
  bucket: string;
  rootPrefix: string;
}

/** Whether two roots share a bucket and one is equal to, or a path-prefix of, the other. */
export function rootsOverlap(a: Root, b: Root): boolean {
  if (a.bucket !== b.bucket) return false;
  const x = `${a.rootPrefix}/`;
  const y = `${b.rootPrefix}/`;
  return x.startsWith(y) || y.startsWith(x);
}

interface Entry extends Root {
  name: string;
  created: number;
}

function entries(policies: readonly OverlapCandidate[]): Entry[] {
  const out: Entry[] = [];
  for (const p of policies) {
    const name = p.metadata.name ?? '';
    const bucket = p.spec?.storage?.bucket;
    const rootPrefix = p.spec?.storage?.rootPrefix;
    if (name === '' || typeof bucket !== 'string' || typeof rootPrefix !== 'string') continue;
    if (bucketNameError(bucket) !== undefined || rootPrefixError(rootPrefix) !== undefined) continue;
    const t = p.metadata.creationTimestamp;
    const ms = t === undefined ? Number.NaN : new Date(t).getTime();
    out.push({ name, bucket, rootPrefix, created: Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms });
  }
  return out.sort((a, b) => (a.created !== b.created ? (a.created < b.created ? -1 : 1) : cmp(a.name, b.name)));
}

/**
 * Every shadowed policy, mapped to the policy that shadows it: the earliest policy (creationTimestamp, then name)
 * whose root overlaps its own.
 */
export function overlappingPolicies(policies: readonly OverlapCandidate[]): Map<string, string> {
  const sorted = entries(policies);
  const shadowed = new Map<string, string>();
  for (let i = 0; i < sorted.length; i++) {
    const later = sorted[i] as Entry;
    for (let j = 0; j < i; j++) {
      const earlier = sorted[j] as Entry;
      if (rootsOverlap(earlier, later)) {
        shadowed.set(later.name, earlier.name);
        break;
      }
    }
  }
  return shadowed;
}

/**
 * The other policy whose deeper root claims `prefix` (a job prefix `<root>/<ns>/<job>/` of policy `policyName` on
 * `bucket`): the prefix lies under that root, or contains it. Undefined when the prefix is the policy's own.
 * Equal roots are not "deeper": of those, overlappingPolicies decides which one acts.
 */
export function rootOwnerOf(
  policies: readonly OverlapCandidate[],
  policyName: string,
  bucket: string,
  prefix: string,
): string | undefined {
  const all = entries(policies);
  const own = all.find((e) => e.name === policyName);
  const ownDepth = own ? own.rootPrefix.length : 0;
  for (const e of all) {
    if (e.name === policyName || e.bucket !== bucket || e.rootPrefix.length <= ownDepth) continue;
    const root = `${e.rootPrefix}/`;
    if (prefix.startsWith(root) || root.startsWith(prefix)) return e.name;
  }
  return undefined;
}

function rootUri(p: OverlapCandidate): string {
  return `gs://${p.spec?.storage?.bucket ?? ''}/${p.spec?.storage?.rootPrefix ?? ''}/`;
}

/** The Ready message of a shadowed policy (and the Event sentence of a job it selects). */
export function shadowedMessage(shadowed: OverlapCandidate, winner: OverlapCandidate): string {
  return `The root ${rootUri(shadowed)} overlaps the root ${rootUri(winner)} of CheckpointPolicy "${winner.metadata.name ?? ''}", which is older; this policy provisions nothing until its root is moved to a path of its own (or the other policy is deleted).`;
}

/** The message for a job whose prefix lies under (or contains) another policy's deeper root. */
export function foreignRootMessage(policyName: string, uri: string, owner: OverlapCandidate): string {
  return `gs://${uri.replace(/^gs:\/\//, '')} is under (or contains) the root ${rootUri(owner)} of CheckpointPolicy "${owner.metadata.name ?? ''}"; CheckpointPolicy "${policyName}" provisions nothing there while both exist.`;
}
