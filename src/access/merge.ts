// IAMPartialPolicy-style merge of many jobs' grants into one bucket policy (BucketCondition mode).
//
// Bindings are keyed on (role, condition expression, condition title); the description is not part of the key.
// For every job the caller gives what it wants now (`desired`) and what Tidemark applied for it last (`applied`,
// remembered per job in Checkpoint status). The merge
// - adds desired members that are missing (to the first binding with the key, or a new binding),
// - removes members Tidemark had applied and no longer wants,
// - never touches anything else: foreign bindings, and foreign members inside Tidemark's bindings, survive;
// - drops a binding only when a removal leaves it empty;
// - sets version 3 when any binding has a condition, and carries the etag (and every other field) through.
// All removals and additions are gathered first, and an addition wins over a removal of the same member from the
// same binding, so the result does not depend on the order of the jobs (coalescing N jobs' changes in any order
// gives one policy); merging the result again with the same changes changes nothing.
import { cmp } from '../policy/selector.js';
import { type IamCondition, parseTidemarkCondition, type TidemarkConditionRef } from './condition.js';

export interface IamBinding {
  role: string;
  members?: string[] | null | undefined;
  condition?: IamCondition | null | undefined;
  [field: string]: unknown;
}

export interface IamPolicy {
  version?: number | null | undefined;
  etag?: string | null | undefined;
  bindings?: IamBinding[] | null | undefined;
  [field: string]: unknown;
}

/** One binding's worth of a job's grant. */
export interface BindingSpec {
  role: string;
  condition?: IamCondition | undefined;
  members: readonly string[];
}

export interface JobChange {
  /** The job's key (for attribution in results). */
  job: string;
  /** What the job should hold now; undefined (or no members) to revoke. */
  desired?: BindingSpec | undefined;
  /** What Tidemark applied for the job last: the only members it may remove. */
  applied?: BindingSpec | undefined;
}

export interface MemberChange {
  role: string;
  /** The condition's title, if the binding has one. */
  title?: string;
  member: string;
}

export interface MergeResult {
  policy: IamPolicy;
  /** False when the policy is unchanged (skip the write). */
  changed: boolean;
  /** Members added, sorted by (role, title, member). */
  added: MemberChange[];
  /** Members removed, sorted by (role, title, member). */
  removed: MemberChange[];
}

/** The merge key of a binding: role, condition expression and title. */
export function bindingKey(role: string, condition: IamCondition | null | undefined): string {
  return JSON.stringify([role, condition?.expression ?? null, condition?.title ?? null]);
}

function checkSpec(spec: BindingSpec, where: string): void {
  if (typeof spec.role !== 'string' || spec.role === '') throw new Error(`${where}: role must be a non-empty string`);
  if (!Array.isArray(spec.members)) throw new Error(`${where}: members must be a list`);
  for (const m of spec.members) {
    if (typeof m !== 'string' || m === '') throw new Error(`${where}: members must be non-empty strings`);
  }
  const c = spec.condition;
  if (c !== undefined && (typeof c.title !== 'string' || typeof c.expression !== 'string' || c.expression === '')) {
    throw new Error(`${where}: condition needs a title and an expression`);
  }
}

interface KeyedAdd {
  role: string;
  condition: IamCondition | undefined;
  members: Set<string>;
}

function hasCondition(b: IamBinding): boolean {
  return b.condition !== null && b.condition !== undefined;
}

function changeOrder(a: MemberChange, b: MemberChange): number {
  return cmp(a.role, b.role) || cmp(a.title ?? '', b.title ?? '') || cmp(a.member, b.member);
}

/** Merges the jobs' changes into `policy` (which is not modified). */
export function mergeJobBindings(policy: IamPolicy, changes: readonly JobChange[]): MergeResult {
  const adds = new Map<string, KeyedAdd>();
  const removes = new Map<string, Set<string>>();

  for (const ch of changes) {
    const desired = ch.desired && ch.desired.members.length > 0 ? ch.desired : undefined;
    if (ch.desired) checkSpec(ch.desired, `job ${ch.job} desired`);
    if (ch.applied) checkSpec(ch.applied, `job ${ch.job} applied`);
    const dKey = desired ? bindingKey(desired.role, desired.condition) : undefined;
    if (desired && dKey) {
      let a = adds.get(dKey);
      if (!a) {
        a = { role: desired.role, condition: desired.condition, members: new Set() };
        adds.set(dKey, a);
      } else if (
        desired.condition &&
        a.condition &&
        cmp(desired.condition.description ?? '', a.condition.description ?? '') < 0
      ) {
        a.condition = desired.condition; // deterministic pick among equal keys with different descriptions
      }
      for (const m of desired.members) a.members.add(m);
    }
    if (ch.applied && ch.applied.members.length > 0) {
      const aKey = bindingKey(ch.applied.role, ch.applied.condition);
      const keep = aKey === dKey && desired ? new Set(desired.members) : new Set<string>();
      let r = removes.get(aKey);
      if (!r) {
        r = new Set();
        removes.set(aKey, r);
      }
      for (const m of ch.applied.members) if (!keep.has(m)) r.add(m);
    }
  }
  // An addition wins over a removal of the same member from the same binding.
  for (const [key, r] of removes) {
    const a = adds.get(key);
    if (a) for (const m of a.members) r.delete(m);
  }

  const added: MemberChange[] = [];
  const removed: MemberChange[] = [];
  const note = (list: MemberChange[], role: string, cond: IamCondition | null | undefined, member: string) =>
    list.push(cond ? { role, title: cond.title, member } : { role, member });

  const input = policy.bindings ?? [];
  const out: { binding: IamBinding; key: string; emptied: boolean }[] = input.map((b) => ({
    binding: { ...b, members: [...(b.members ?? [])] },
    key: bindingKey(b.role, b.condition),
    emptied: false,
  }));

  for (const o of out) {
    const r = removes.get(o.key);
    if (!r || r.size === 0) continue;
    const members = o.binding.members as string[];
    const kept = members.filter((m) => !r.has(m));
    if (kept.length === members.length) continue;
    for (const m of members) if (r.has(m)) note(removed, o.binding.role, o.binding.condition, m);
    o.binding.members = kept;
    o.emptied = kept.length === 0;
  }

  const created: { key: string; binding: IamBinding }[] = [];
  for (const [key, a] of adds) {
    const holders = out.filter((o) => o.key === key);
    const present = new Set(holders.flatMap((o) => o.binding.members as string[]));
    const missing = [...a.members].filter((m) => !present.has(m)).sort(cmp);
    if (missing.length === 0) continue;
    for (const m of missing) note(added, a.role, a.condition, m);
    const first = holders[0];
    if (first) {
      (first.binding.members as string[]).push(...missing);
      first.emptied = false;
    } else {
      const binding: IamBinding = { role: a.role, members: missing };
      if (a.condition) binding.condition = { ...a.condition };
      created.push({ key, binding });
    }
  }
  created.sort((x, y) => cmp(x.key, y.key));

  const bindings = [...out.filter((o) => !o.emptied).map((o) => o.binding), ...created.map((c) => c.binding)];
  const version = bindings.some(hasCondition) ? 3 : (policy.version ?? 1);
  const changed = added.length > 0 || removed.length > 0 || version !== (policy.version ?? 1);
  const result: IamPolicy = { ...policy, version, bindings };
  return { policy: result, changed, added: added.sort(changeOrder), removed: removed.sort(changeOrder) };
}

/** The members currently holding `role` under `condition` (all bindings with that key), sorted, unique. */
export function membersFor(policy: IamPolicy, role: string, condition: IamCondition | null | undefined): string[] {
  const key = bindingKey(role, condition);
  const members = new Set<string>();
  for (const b of policy.bindings ?? [])
    if (bindingKey(b.role, b.condition) === key) for (const m of b.members ?? []) members.add(m);
  return [...members].sort(cmp);
}

/** Whether two policies hold the same grants (bindings compared as sets of (key, member); etag/version ignored). */
export function sameGrants(a: IamPolicy, b: IamPolicy): boolean {
  const grants = (p: IamPolicy) => {
    const s = new Set<string>();
    for (const bd of p.bindings ?? [])
      for (const m of bd.members ?? []) s.add(`${bindingKey(bd.role, bd.condition)}\n${m}`);
    return s;
  };
  const ga = grants(a);
  const gb = grants(b);
  return ga.size === gb.size && [...ga].every((g) => gb.has(g));
}

export interface TidemarkBinding extends TidemarkConditionRef {
  role: string;
  condition: IamCondition;
  /** Sorted, unique. */
  members: string[];
}

/**
 * Tidemark's own bindings in a bucket policy (title prefix AND the exact expression Tidemark builds, on this
 * bucket), one per (role, job), sorted by (namespace, name, role). The resync uses them to find grants whose job
 * is gone or whose Checkpoint was lost; a binding edited by hand no longer parses and is left alone.
 */
export function tidemarkBindings(policy: IamPolicy, bucket: string): TidemarkBinding[] {
  const byKey = new Map<string, TidemarkBinding>();
  for (const b of policy.bindings ?? []) {
    const ref = parseTidemarkCondition(b.condition);
    if (!ref || ref.bucket !== bucket || !b.condition) continue;
    const key = bindingKey(b.role, b.condition);
    const have = byKey.get(key);
    const members = new Set([...(have?.members ?? []), ...(b.members ?? [])]);
    byKey.set(key, {
      ...ref,
      role: b.role,
      condition: have?.condition ?? b.condition,
      members: [...members].sort(cmp),
    });
  }
  return [...byKey.values()].sort(
    (x, y) => cmp(x.namespace, y.namespace) || cmp(x.name, y.name) || cmp(x.role, y.role),
  );
}
