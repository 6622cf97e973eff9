// CheckpointPolicy CREATE/UPDATE: what the CRD's CEL cannot check because it needs the other policies and the
// namespaces. Pure.
// - A new policy whose root overlaps another policy's on the same bucket (equal, or one a path-prefix of the other)
//   is denied: of two overlapping policies the later one would be shadowed (it provisions nothing). On UPDATE the
//   bucket and root are immutable, so an overlap there is old news: a warning, never a denial (that would stop an
//   admin from fixing anything else on a shadowed policy). The controller's RootOverlap refusal stays the safety
//   net for policies applied while the webhook is down (tidemark-validating fails open).
// - Every problem policy/effective.ts finds (what the controller would report as InvalidSpec) is denied.
// - Namespaces both this and another policy select are a warning: a job there matching both jobSelectors gets a
//   PolicyConflict and nothing until one annotation picks a policy.
import type { CheckpointPolicy } from '../api/index.js';
import { resolvePolicy } from '../policy/effective.js';
import { rootsOverlap } from '../policy/overlap.js';
import { cmp, compileSelector, type Labels } from '../policy/selector.js';
import { allow, type Decision, deny, isObject } from './review.js';

/** The other policies whose roots overlap `policy`'s (the rule is src/policy/overlap.ts's, the one place it lives). */
function rootOverlaps(policy: CheckpointPolicy, others: readonly CheckpointPolicy[]): string[] {
  const root = (p: CheckpointPolicy) => ({
    bucket: p.spec?.storage?.bucket ?? '',
    rootPrefix: p.spec?.storage?.rootPrefix ?? '',
  });
  return others
    .filter((o) => rootsOverlap(root(policy), root(o)))
    .map((o) => o.metadata.name ?? '')
    .sort(cmp);
}

export interface PolicyValidationFacts {
  operation: 'CREATE' | 'UPDATE';
  object: unknown;
  /** Every other CheckpointPolicy (this one excluded). */
  others: readonly CheckpointPolicy[];
  /** Every namespace's name and labels. */
  namespaces: readonly { name: string; labels: Labels }[];
}

const SHOW = 5;

export function validatePolicy(f: PolicyValidationFacts): Decision {
  if (!isObject(f.object) || !isObject(f.object.metadata) || !isObject(f.object.spec)) {
    return deny(400, 'the request carries no CheckpointPolicy with metadata and spec');
  }
  const policy = f.object as unknown as CheckpointPolicy;
  const name = policy.metadata.name ?? '';
  const others = f.others.filter((p) => p.metadata.name !== name);
  const resolved = resolvePolicy(policy);
  if (!resolved.ok) return deny(400, `CheckpointPolicy "${name}" is invalid: ${resolved.errors.join('; ')}.`);

  const warnings: string[] = [];
  const overlaps = rootOverlaps(policy, others);
  if (overlaps.length > 0) {
    const where = `gs://${resolved.policy.bucket}/${resolved.policy.rootPrefix}/`;
    const text = `the root ${where} overlaps the root of CheckpointPolicy ${overlaps.map((n) => `"${n}"`).join(', ')} on the same bucket (one is equal to or inside the other), so jobs of one could reach the other's prefixes.`;
    if (f.operation === 'CREATE') {
      return deny(403, `CheckpointPolicy "${name}": ${text} Choose a root beside it, e.g. a sibling folder.`);
    }
    warnings.push(`CheckpointPolicy "${name}" provisions nothing (RootOverlap): ${text}`);
  }

  const mine = compileSelector(resolved.policy.namespaceSelector);
  if (mine.ok) {
    for (const other of [...others].sort((a, b) => cmp(a.metadata.name ?? '', b.metadata.name ?? ''))) {
      const theirs = compileSelector(other.spec?.namespaceSelector);
      if (!theirs.ok || !other.spec?.namespaceSelector) continue;
      const both = f.namespaces
        .filter((n) => mine.selector.matches(n.labels) && theirs.selector.matches(n.labels))
        .map((n) => n.name)
        .sort(cmp);
      if (both.length === 0) continue;
      const shown = both.slice(0, SHOW).join(', ') + (both.length > SHOW ? ` and ${both.length - SHOW} more` : '');
      warnings.push(
        `CheckpointPolicy "${other.metadata.name}" also selects namespace(s) ${shown}: a job there that both jobSelectors match gets no checkpoint until its tidemark.dev/policy annotation names one.`,
      );
    }
  }
  return allow([], warnings);
}
