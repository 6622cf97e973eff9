// MERGE(i8-policy): this whole file is a stand-in for `overlappingPolicies` in src/policy/overlap.ts, which i8-policy
// writes in parallel; its one call site is in ./report.ts. At merge, call that function there and delete this file.
//
// The rule (CONTRACTS.md, "Overlapping policies"): two policies overlap when they name the same bucket and one root
// equals, or is a path-prefix of, the other (`a` and `a/b` overlap, `a` and `ab` do not). Of two overlapping
// policies the later (creationTimestamp, then name) is shadowed and provisions nothing.

export interface RootedPolicy {
  name: string;
  bucket: string;
  rootPrefix: string;
  /** RFC 3339; absent for policies read from files (they order by name among themselves, after dated ones). */
  creationTimestamp?: string | undefined;
}

/** Shadowed policy name → the earlier policy whose root it overlaps. */
export function shadowedPolicies(policies: readonly RootedPolicy[]): Map<string, string> {
  const ordered = [...policies].sort(
    (a, b) => order(a.creationTimestamp, b.creationTimestamp) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const out = new Map<string, string>();
  ordered.forEach((p, i) => {
    const winner = ordered.slice(0, i).find((q) => q.bucket === p.bucket && nested(q.rootPrefix, p.rootPrefix));
    if (winner) out.set(p.name, winner.name);
  });
  return out;
}

function order(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return Date.parse(a) - Date.parse(b);
}

function nested(a: string, b: string): boolean {
  return `${a}/`.startsWith(`${b}/`) || `${b}/`.startsWith(`${a}/`);
}
