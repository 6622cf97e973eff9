// Google's limits on one allow policy, and a merge that keeps within them by refusing only the jobs whose changes
// would break them (the controller marks just those with a condition instead of failing the whole write).
//
// The limits (IAM "Quotas and limits", and the Policy.bindings reference):
// - 1,500 principals per policy, counting EVERY appearance of a principal in every binding (not deduplicated: a
//   member in 50 bindings uses 50). Google notes IAM "might allow fewer" with conditions or long identifiers.
// - 250 domains and Google groups per policy: a group counts once however often it appears, a domain counts at
//   every appearance. Tidemark never adds groups or domains, so only foreign bindings move this one.
// - 20 role bindings with the same role and the same principal but different condition expressions (counted here
//   over conditional bindings only; an unconditional binding has no condition expression).
// A change is refused only when it makes a measure exceed its limit AND exceed what the policy read had: a policy
// that is already over a limit (it should not happen: Google refuses such writes) still takes changes that do not
// make it worse, revocations in particular.
import { cmp } from '../policy/selector.js';
import { bindingKey, type IamPolicy, type JobChange, type MergeResult, mergeJobBindings } from './merge.js';

export interface IamLimits {
  principalsPerPolicy: number;
  groupsAndDomainsPerPolicy: number;
  conditionsPerRoleAndMember: number;
}

export const IAM_LIMITS: IamLimits = {
  principalsPerPolicy: 1500,
  groupsAndDomainsPerPolicy: 250,
  conditionsPerRoleAndMember: 20,
};

export interface PolicyUsage {
  /** Every appearance of every member in every binding. */
  principals: number;
  /** Unique groups plus every appearance of a domain. */
  groupsAndDomains: number;
  /** For each `role\nmember`, the number of distinct condition expressions it holds the role under. */
  conditionsPerRoleAndMember: Map<string, number>;
}

export function policyUsage(policy: IamPolicy): PolicyUsage {
  let principals = 0;
  let domains = 0;
  const groups = new Set<string>();
  const conds = new Map<string, Set<string>>();
  for (const b of policy.bindings ?? []) {
    const members = b.members ?? [];
    principals += members.length;
    for (const m of members) {
      if (m.startsWith('group:')) groups.add(m);
      else if (m.startsWith('domain:')) domains++;
      const expr = b.condition?.expression;
      if (expr !== undefined) {
        const k = `${b.role}\n${m}`;
        let s = conds.get(k);
        if (!s) {
          s = new Set();
          conds.set(k, s);
        }
        s.add(expr);
      }
    }
  }
  const conditionsPerRoleAndMember = new Map<string, number>();
  for (const [k, s] of conds) conditionsPerRoleAndMember.set(k, s.size);
  return { principals, groupsAndDomains: groups.size + domains, conditionsPerRoleAndMember };
}

export type LimitName = 'PrincipalLimit' | 'GroupAndDomainLimit' | 'ConditionalBindingLimit';

export interface LimitViolation {
  limit: LimitName;
  message: string;
}

/** Every limit `policy` exceeds (sorted: principals, groups/domains, then per role and member). */
export function limitViolations(policy: IamPolicy, limits: IamLimits = IAM_LIMITS): LimitViolation[] {
  return violationsAgainst(policyUsage(policy), undefined, limits);
}

/** Limits exceeded by `after` that `before` (if given) did not exceed as much. */
function violationsAgainst(after: PolicyUsage, before: PolicyUsage | undefined, limits: IamLimits): LimitViolation[] {
  const out: LimitViolation[] = [];
  if (after.principals > limits.principalsPerPolicy && (!before || after.principals > before.principals)) {
    out.push({
      limit: 'PrincipalLimit',
      message: `the bucket policy would hold ${after.principals} principals (every appearance in every binding counts), over Google's limit of ${limits.principalsPerPolicy}; use access.mode ManagedFolder or another bucket`,
    });
  }
  if (
    after.groupsAndDomains > limits.groupsAndDomainsPerPolicy &&
    (!before || after.groupsAndDomains > before.groupsAndDomains)
  ) {
    out.push({
      limit: 'GroupAndDomainLimit',
      message: `the bucket policy would hold ${after.groupsAndDomains} groups and domains, over Google's limit of ${limits.groupsAndDomainsPerPolicy}`,
    });
  }
  const over = [...after.conditionsPerRoleAndMember]
    .filter(
      ([k, n]) =>
        n > limits.conditionsPerRoleAndMember && (!before || n > (before.conditionsPerRoleAndMember.get(k) ?? 0)),
    )
    .sort((x, y) => cmp(x[0], y[0]));
  for (const [k, n] of over) {
    const [role, member] = k.split('\n') as [string, string];
    out.push({
      limit: 'ConditionalBindingLimit',
      message: `${member} would hold ${role} under ${n} different conditions, over Google's limit of ${limits.conditionsPerRoleAndMember} per role and principal; give these jobs their own service accounts or use access.mode ManagedFolder`,
    });
  }
  return out;
}

export interface RejectedChange {
  job: string;
  limit: LimitName;
  message: string;
}

export interface LimitedMergeResult extends MergeResult {
  /** Jobs whose changes are in `policy`, sorted. */
  accepted: string[];
  /** Jobs whose changes were left out because they would break a limit, sorted by job. */
  rejected: RejectedChange[];
}

function addsNothing(ch: JobChange): boolean {
  const d = ch.desired;
  if (!d || d.members.length === 0) return true;
  const a = ch.applied;
  if (!a || a.role !== d.role || a.condition?.expression !== d.condition?.expression) return false;
  if (a.condition?.title !== d.condition?.title) return false;
  const have = new Set(a.members);
  return d.members.every((m) => have.has(m));
}

/**
 * mergeJobBindings, keeping within Google's limits: when the whole batch would break a limit, changes are taken
 * one by one (revocations and shrinking grants first, then by job key) and a change that would make a limit
 * worse is refused. Deterministic for a given set of changes, whatever their order.
 */
export function mergeWithinLimits(
  policy: IamPolicy,
  changes: readonly JobChange[],
  limits: IamLimits = IAM_LIMITS,
): LimitedMergeResult {
  const before = policyUsage(policy);
  const all = mergeJobBindings(policy, changes);
  const jobs = (list: readonly JobChange[]) => [...new Set(list.map((c) => c.job))].sort(cmp);
  if (violationsAgainst(policyUsage(all.policy), before, limits).length === 0) {
    return { ...all, accepted: jobs(changes), rejected: [] };
  }

  const ordered = [...changes].sort((x, y) => Number(addsNothing(y)) - Number(addsNothing(x)) || cmp(x.job, y.job));
  // One by one, on running counts (a full merge per job would be quadratic in the policy size).
  const tracker = new UsageTracker(policy);
  const accepted: JobChange[] = [];
  const rejected: RejectedChange[] = [];
  for (const ch of ordered) {
    const undo = tracker.apply(ch);
    // Against the policy as it was read: the same rule as for the whole batch.
    const v = violationsAgainst(tracker.usage(undo.touched), before, limits)[0];
    if (v) {
      tracker.revert(undo);
      rejected.push({ job: ch.job, limit: v.limit, message: v.message });
      continue;
    }
    accepted.push(ch);
  }
  let final = mergeJobBindings(policy, accepted);
  const leftover = violationsAgainst(policyUsage(final.policy), before, limits)[0];
  if (leftover) {
    // The batch merge can keep a member that one-by-one merging removed (an addition wins over another job's
    // removal); if that tips a limit, refuse every accepted change that adds anything.
    const keep = accepted.filter(addsNothing);
    for (const ch of accepted) {
      if (!addsNothing(ch)) rejected.push({ job: ch.job, limit: leftover.limit, message: leftover.message });
    }
    accepted.length = 0;
    accepted.push(...keep);
    final = mergeJobBindings(policy, accepted);
  }
  rejected.sort((x, y) => cmp(x.job, y.job));
  return { ...final, accepted: jobs(accepted), rejected };
}

type Op = { add: true; key: string; member: string } | { add: false; key: string; member: string; count: number };

interface KeyState {
  role: string;
  expression: string | undefined;
  members: Map<string, number>;
}

/** Running usage counts of a policy under single-job changes, with undo. */
class UsageTracker {
  private readonly keys = new Map<string, KeyState>();
  private principals = 0;
  private domains = 0;
  private readonly groups = new Map<string, number>();
  /** `role\nmember` → condition expression → number of keys with that expression holding the member. */
  private readonly conds = new Map<string, Map<string, number>>();

  constructor(policy: IamPolicy) {
    for (const b of policy.bindings ?? []) {
      const key = bindingKey(b.role, b.condition);
      for (const m of b.members ?? []) this.addAppearance(key, b.role, b.condition?.expression, m);
    }
  }

  private state(key: string, role: string, expression: string | undefined): KeyState {
    let st = this.keys.get(key);
    if (!st) {
      st = { role, expression, members: new Map() };
      this.keys.set(key, st);
    }
    return st;
  }

  private addAppearance(key: string, role: string, expression: string | undefined, m: string, times = 1): void {
    const st = this.state(key, role, expression);
    const had = st.members.get(m) ?? 0;
    st.members.set(m, had + times);
    this.principals += times;
    if (m.startsWith('group:')) this.groups.set(m, (this.groups.get(m) ?? 0) + times);
    else if (m.startsWith('domain:')) this.domains += times;
    if (had === 0 && expression !== undefined) {
      const rm = `${role}\n${m}`;
      let per = this.conds.get(rm);
      if (!per) {
        per = new Map();
        this.conds.set(rm, per);
      }
      per.set(expression, (per.get(expression) ?? 0) + 1);
    }
  }

  private removeAll(key: string, m: string): number {
    const st = this.keys.get(key);
    const n = st?.members.get(m) ?? 0;
    if (!st || n === 0) return 0;
    st.members.delete(m);
    this.principals -= n;
    if (m.startsWith('group:')) {
      const left = (this.groups.get(m) ?? 0) - n;
      if (left > 0) this.groups.set(m, left);
      else this.groups.delete(m);
    } else if (m.startsWith('domain:')) this.domains -= n;
    if (st.expression !== undefined) {
      const per = this.conds.get(`${st.role}\n${m}`);
      const left = (per?.get(st.expression) ?? 0) - 1;
      if (per && left > 0) per.set(st.expression, left);
      else per?.delete(st.expression);
    }
    return n;
  }

  /** Applies one job's change as mergeJobBindings would; returns how to undo it and the (role, member)s touched. */
  apply(ch: JobChange): { ops: Op[]; touched: Set<string> } {
    const ops: Op[] = [];
    const touched = new Set<string>();
    const desired = ch.desired && ch.desired.members.length > 0 ? ch.desired : undefined;
    const dKey = desired ? bindingKey(desired.role, desired.condition) : undefined;
    if (ch.applied && ch.applied.members.length > 0) {
      const aKey = bindingKey(ch.applied.role, ch.applied.condition);
      const keep = aKey === dKey && desired ? new Set(desired.members) : new Set<string>();
      for (const m of new Set(ch.applied.members)) {
        if (keep.has(m)) continue;
        const count = this.removeAll(aKey, m);
        if (count > 0) ops.push({ add: false, key: aKey, member: m, count });
      }
    }
    if (desired && dKey) {
      for (const m of new Set(desired.members)) {
        if ((this.keys.get(dKey)?.members.get(m) ?? 0) > 0) continue;
        this.addAppearance(dKey, desired.role, desired.condition?.expression, m);
        ops.push({ add: true, key: dKey, member: m });
        if (desired.condition) touched.add(`${desired.role}\n${m}`);
      }
    }
    return { ops, touched };
  }

  revert(undo: { ops: Op[] }): void {
    for (const op of [...undo.ops].reverse()) {
      if (op.add) this.removeAll(op.key, op.member);
      else {
        const st = this.keys.get(op.key) as KeyState;
        this.addAppearance(op.key, st.role, st.expression, op.member, op.count);
      }
    }
  }

  /** The usage now; conditions only for the given (role, member)s (the only ones a change can have raised). */
  usage(touched: ReadonlySet<string>): PolicyUsage {
    const conditionsPerRoleAndMember = new Map<string, number>();
    for (const rm of touched) conditionsPerRoleAndMember.set(rm, this.conds.get(rm)?.size ?? 0);
    return {
      principals: this.principals,
      groupsAndDomains: this.groups.size + this.domains,
      conditionsPerRoleAndMember,
    };
  }
}
