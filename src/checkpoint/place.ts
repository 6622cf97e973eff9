// Where the controller may act for a Checkpoint: `<root>/<namespace>/<name>/` of a policy that covers the
// Checkpoint's own namespace, derived from policy + namespace + name — never taken from the Checkpoint's spec. The
// spec's bucket and prefix are only compared with it: a Checkpoint whose spec names any other place (e.g. made by
// hand in namespace `evil` naming another namespace's prefix) gets PrefixMismatch and nothing in GCS is touched
// for its spec. Pure.
import type { Checkpoint } from '../api/index.js';
import type { EffectivePolicy } from '../policy/effective.js';
import { jobLocation } from '../policy/naming.js';
import type { PolicySet } from '../policy/plan.js';
import type { Labels } from '../policy/selector.js';
import { matchSelector } from '../policy/selector.js';

export type PlaceCheck =
  | { ok: true; policy: EffectivePolicy; bucket: string; prefix: string }
  | { ok: false; message: string };

/** The valid policies whose namespaceSelector selects the namespace (labels undefined: the namespace is gone). */
export function policiesCovering(
  set: PolicySet,
  policyNames: readonly string[],
  namespaceLabels: Labels | undefined,
): EffectivePolicy[] {
  if (namespaceLabels === undefined) return [];
  const out: EffectivePolicy[] = [];
  for (const name of policyNames) {
    const r = set.get(name);
    if (!r?.ok) continue;
    const m = matchSelector(r.policy.namespaceSelector, namespaceLabels);
    if (m.ok && m.matches) out.push(r.policy);
  }
  return out;
}

/** Checks the Checkpoint's spec place against the places the covering policies derive for its namespace and name. */
export function checkPlace(cp: Checkpoint, covering: readonly EffectivePolicy[]): PlaceCheck {
  const namespace = cp.metadata.namespace ?? '';
  const name = cp.metadata.name ?? '';
  const derived: string[] = [];
  // The policy the spec names first, then any other covering policy.
  const ordered = [...covering].sort(
    (a, b) => Number(b.name === cp.spec.policyName) - Number(a.name === cp.spec.policyName),
  );
  for (const policy of ordered) {
    const loc = jobLocation(policy, { namespace, name });
    if (!loc.ok) continue;
    if (loc.location.bucket === cp.spec.bucket && loc.location.prefix === cp.spec.prefix) {
      return { ok: true, policy, bucket: loc.location.bucket, prefix: loc.location.prefix };
    }
    derived.push(loc.location.uri);
  }
  const spec = `gs://${cp.spec.bucket}/${cp.spec.prefix}`;
  return {
    ok: false,
    message:
      derived.length === 0
        ? `No CheckpointPolicy covering namespace ${namespace} places a job here; the spec's ${spec} is not acted on (nothing in GCS is touched for it).`
        : `The spec names ${spec}, but the policies covering namespace ${namespace} place job ${name} at ${derived.join(' or ')}; nothing in GCS is touched for the spec.`,
  };
}
