// IAM policies: parsing and validating a setIamPolicy body the way Google does (versions 1 and 3, conditions,
// etags, limits), the stored form, and the policy store keyed by resource with the history the propagation delay
// needs.
import { CONDITION_LIMITS, type CompiledCondition, ConditionError, compileCondition } from './conditions.js';
import { memberError } from './members.js';

export interface Condition {
  title: string;
  description?: string;
  expression: string;
}

export interface Binding {
  role: string;
  members: string[];
  condition?: Condition;
}

/** Where a policy lives; decides which roles may be granted there and the error shapes. */
export type PolicyKind = 'project' | 'bucket' | 'managedFolder' | 'serviceAccount';

export interface StoredBinding extends Binding {
  compiled?: CompiledCondition;
}

export interface StoredPolicy {
  version: 1 | 3;
  etag: string;
  bindings: StoredBinding[];
}

/** A refused write: `status` 400, 412 (storage) or 409 (Resource Manager / IAM, ABORTED). */
export class PolicyWriteError extends Error {
  constructor(
    readonly status: 400 | 409 | 412,
    message: string,
  ) {
    super(message);
    this.name = 'PolicyWriteError';
  }
}

export const POLICY_LIMITS = { principalsPerPolicy: 1500, bindingsPerRoleAndPrincipal: 20 };

let etagCounter = 0;

/** A new etag, never repeated within one process: base64 of a protobuf varint field, like Google's `CAE=`. */
export function nextEtag(): string {
  etagCounter++;
  const bytes = [0x08];
  let n = etagCounter;
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes).toString('base64');
}

export function hasConditions(p: { bindings: readonly Binding[] }): boolean {
  return p.bindings.some((b) => b.condition !== undefined);
}

export interface ParsedPolicy {
  version: number;
  etag: string | undefined;
  bindings: Binding[];
}

function bad(message: string): PolicyWriteError {
  return new PolicyWriteError(400, message);
}

/** Parses and validates the policy in a setIamPolicy body; throws PolicyWriteError(400) on bad input. */
export function parsePolicy(raw: unknown, roleExists: (role: string) => boolean, kind: PolicyKind): ParsedPolicy {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('The policy must be a JSON object.');
  const p = raw as Record<string, unknown>;
  const version = p.version === undefined ? 1 : p.version;
  if (typeof version !== 'number' || ![0, 1, 3].includes(version)) {
    throw bad(`Invalid policy version ${JSON.stringify(p.version)}: valid versions are 0, 1 and 3.`);
  }
  if (p.etag !== undefined && typeof p.etag !== 'string') throw bad('The policy etag must be a string.');
  const rawBindings = p.bindings ?? [];
  if (!Array.isArray(rawBindings)) throw bad('The policy bindings must be an array.');
  // Google merges bindings with the same role and condition and drops members repeated within them.
  const merged = new Map<string, Binding>();
  for (const [i, rb] of rawBindings.entries()) {
    if (typeof rb !== 'object' || rb === null) throw bad(`bindings[${i}] must be an object.`);
    const b = rb as Record<string, unknown>;
    if (typeof b.role !== 'string' || b.role === '') throw bad(`bindings[${i}].role is required.`);
    const role = b.role;
    if (!roleExists(role)) throw bad(`Role ${role} is not supported for this resource.`);
    if (!roleAllowedOn(role, kind)) throw bad(`Role ${role} is not supported for this resource.`);
    const members = b.members ?? [];
    if (!Array.isArray(members) || members.some((m) => typeof m !== 'string')) {
      throw bad(`bindings[${i}].members must be an array of strings.`);
    }
    for (const m of members as string[]) {
      const err = memberError(m);
      if (err) throw bad(err);
    }
    let condition: Condition | undefined;
    if (b.condition !== undefined && b.condition !== null) condition = parseCondition(b.condition, i);
    const key = `${role}\n${condition ? JSON.stringify([condition.expression, condition.title, condition.description ?? '']) : ''}`;
    const existing = merged.get(key);
    const all = [...(existing?.members ?? []), ...(members as string[])];
    merged.set(key, { role, members: [...new Set(all)], ...(condition ? { condition } : {}) });
  }
  const bindings = [...merged.values()].filter((b) => b.members.length > 0);
  const principals = bindings.reduce((n, b) => n + b.members.length, 0);
  if (principals > POLICY_LIMITS.principalsPerPolicy) {
    throw bad(
      `The policy has ${principals} principals; a policy may have at most ${POLICY_LIMITS.principalsPerPolicy}.`,
    );
  }
  const perRoleMember = new Map<string, number>();
  for (const b of bindings) {
    for (const m of b.members) {
      const k = `${b.role}\n${m}`;
      const n = (perRoleMember.get(k) ?? 0) + 1;
      perRoleMember.set(k, n);
      if (n > POLICY_LIMITS.bindingsPerRoleAndPrincipal) {
        throw bad(
          `The policy has more than ${POLICY_LIMITS.bindingsPerRoleAndPrincipal} bindings with role ${b.role} ` +
            `and principal ${m}.`,
        );
      }
    }
  }
  return { version, etag: p.etag as string | undefined, bindings };
}

function parseCondition(raw: unknown, i: number): Condition {
  if (typeof raw !== 'object' || raw === null) throw bad(`bindings[${i}].condition must be an object.`);
  const c = raw as Record<string, unknown>;
  if (typeof c.expression !== 'string' || c.expression.trim() === '') {
    throw bad(`bindings[${i}].condition.expression is required.`);
  }
  if (typeof c.title !== 'string' || c.title.trim() === '') throw bad(`bindings[${i}].condition.title is required.`);
  if (c.title.length > CONDITION_LIMITS.titleChars) {
    throw bad(`bindings[${i}].condition.title is longer than ${CONDITION_LIMITS.titleChars} characters.`);
  }
  if (c.description !== undefined && typeof c.description !== 'string') {
    throw bad(`bindings[${i}].condition.description must be a string.`);
  }
  if (typeof c.description === 'string' && c.description.length > CONDITION_LIMITS.descriptionChars) {
    throw bad(`bindings[${i}].condition.description is longer than ${CONDITION_LIMITS.descriptionChars} characters.`);
  }
  try {
    compileCondition(c.expression);
  } catch (err) {
    if (err instanceof ConditionError) {
      throw bad(`Condition "${c.title}" has an invalid expression: ${err.message}`);
    }
    throw err;
  }
  return {
    title: c.title,
    ...(typeof c.description === 'string' && c.description !== '' ? { description: c.description } : {}),
    expression: c.expression,
  };
}

const BASIC_ROLES = new Set(['roles/owner', 'roles/editor', 'roles/viewer']);

/** Google grants basic roles only on projects, storage roles on buckets and folders, IAM roles on accounts. */
export function roleAllowedOn(role: string, kind: PolicyKind): boolean {
  if (kind === 'project') return true;
  if (BASIC_ROLES.has(role)) return false;
  if (role.startsWith('projects/')) return true; // custom roles: any permission they hold may apply
  if (kind === 'serviceAccount') return role.startsWith('roles/iam.');
  return role.startsWith('roles/storage.');
}

export interface WriteOptions {
  kind: PolicyKind;
  /** Bucket (or the folder's bucket) has uniform bucket-level access; conditions need it. Ignored for others. */
  uniformBucketLevelAccess?: boolean;
}

/**
 * The policy that results from a setIamPolicy of `incoming` over `current`, or a PolicyWriteError:
 * stale etag → 412 (storage) / 409 ABORTED (others); conditions need version 3 (and uniform bucket-level access
 * on buckets); with an etag, a write over a policy that has conditions must be version 3. Without an etag the
 * policy is overwritten blindly (that is how conditions get lost on Google).
 */
export function applyWrite(
  current: StoredPolicy | undefined,
  incoming: ParsedPolicy,
  opts: WriteOptions,
): StoredPolicy {
  if (incoming.etag !== undefined && current !== undefined && incoming.etag !== current.etag) {
    if (opts.kind === 'bucket' || opts.kind === 'managedFolder') {
      throw new PolicyWriteError(412, 'Precondition Failed');
    }
    throw new PolicyWriteError(
      409,
      'There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff. ' +
        `The request's ETag '${incoming.etag}' did not match the current policy's ETag '${current.etag}'.`,
    );
  }
  const conditional = hasConditions(incoming);
  // Google checks this before the policy version: a v1 conditional policy on such a bucket is 412, not 400.
  if (conditional && (opts.kind === 'bucket' || opts.kind === 'managedFolder') && !opts.uniformBucketLevelAccess) {
    throw new PolicyWriteError(
      412,
      'Uniform bucket-level access must be enabled on the bucket to set a policy with IAM conditions.',
    );
  }
  if (conditional && incoming.version < 3) {
    throw bad(
      'The policy has conditions, which require policy version 3: set "version": 3 in the policy (and read it ' +
        'with optionsRequestedPolicyVersion=3).',
    );
  }
  if (incoming.etag !== undefined && current !== undefined && hasConditions(current) && incoming.version < 3) {
    throw bad(
      'The existing policy has conditions: a write that sends its etag must use policy version 3, or it would ' +
        'drop them. Read the policy with optionsRequestedPolicyVersion=3 and write it back with "version": 3.',
    );
  }
  return {
    version: conditional ? 3 : 1,
    etag: nextEtag(),
    bindings: incoming.bindings.map(storedBinding),
  };
}

function storedBinding(b: Binding): StoredBinding {
  return {
    role: b.role,
    members: [...b.members],
    ...(b.condition ? { condition: { ...b.condition }, compiled: compileCondition(b.condition.expression) } : {}),
  };
}

/** A policy that exists from the start (a new bucket's default bindings). */
export function initialPolicy(bindings: Binding[]): StoredPolicy {
  return { version: 1, etag: nextEtag(), bindings: bindings.map(storedBinding) };
}

/** The version to answer a getIamPolicy with; throws PolicyWriteError(400) when the request cannot see it. */
export function readVersion(policy: StoredPolicy, requested: string | null | undefined): 1 | 3 {
  let want = 1;
  if (requested !== null && requested !== undefined && requested !== '') {
    const n = Number(requested);
    if (![0, 1, 3].includes(n)) {
      throw bad(`Invalid requested policy version ${requested}: valid versions are 0, 1 and 3.`);
    }
    want = n;
  }
  if (hasConditions(policy) && want < 3) {
    throw bad(
      'The policy has conditions, which cannot be returned in policy version 1: request version 3 ' +
        '(optionsRequestedPolicyVersion=3).',
    );
  }
  return hasConditions(policy) ? 3 : 1;
}

/** JSON bindings as Google returns them (no internal fields; empty lists omitted by the caller). */
export function publicBindings(policy: StoredPolicy): Binding[] {
  return policy.bindings.map((b) => ({
    role: b.role,
    members: [...b.members],
    ...(b.condition ? { condition: { ...b.condition } } : {}),
  }));
}

/** One version of a resource's policy: written at `at` (epoch ms); `policy` undefined once the resource is gone. */
interface PolicyVersion {
  at: number;
  policy: StoredPolicy | undefined;
}

/**
 * Policies by resource key (`project`, `b/B`, `b/B/f/F`, `sa/EMAIL`), with their recent history for the IAM
 * propagation delay. Reads (`get`, getIamPolicy) see the latest write at once; enforcement (`effective`) sees the
 * version that was current `delay` ms ago, so a grant takes effect and a revoke takes away access only once the
 * delay has passed (on Google both take up to minutes). History is kept back to the version in force at
 * `now - delay`, which from then on counts as in force since ever: raising the delay later applies to changes
 * made after that, it does not make a long-standing policy disappear.
 */
export class PolicyStore {
  private readonly history = new Map<string, PolicyVersion[]>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly delay: () => number = () => 0,
  ) {}

  /** The latest version (what getIamPolicy answers), or undefined. */
  get(key: string): StoredPolicy | undefined {
    const versions = this.history.get(key);
    return versions?.[versions.length - 1]?.policy;
  }

  /**
   * The latest version, or a new one from `initial` that is stored from now on. A resource seen for the first time
   * (a new bucket's default policy) has had it forever; one that was removed gets it from now on.
   */
  getOrCreate(key: string, initial: () => StoredPolicy = () => initialPolicy([])): StoredPolicy {
    const current = this.get(key);
    if (current) return current;
    const created = initial();
    if (this.history.has(key)) this.record(key, created);
    else this.history.set(key, [{ at: Number.NEGATIVE_INFINITY, policy: created }]);
    return created;
  }

  /** A write: the new latest version, enforced once the delay has passed. */
  set(key: string, policy: StoredPolicy): void {
    this.record(key, policy);
  }

  /** The resource is gone (a deleted managed folder): its grants still apply until the delay has passed. */
  remove(key: string): void {
    if (this.get(key) !== undefined) this.record(key, undefined);
  }

  /** The version enforced now: the latest one written at least `delay` ms ago. */
  effective(key: string): StoredPolicy | undefined {
    const versions = this.prune(key);
    const cutoff = this.cutoff();
    for (let i = versions.length - 1; i >= 0; i--) {
      const v = versions[i] as PolicyVersion;
      if (v.at <= cutoff) return v.policy;
    }
    return undefined;
  }

  /** Forgets the policy at `key` and every policy whose key starts with `key + '/'`, history included (at once). */
  deleteTree(key: string): void {
    for (const k of [...this.history.keys()]) {
      if (k === key || k.startsWith(`${key}/`)) this.history.delete(k);
    }
  }

  /** The latest version of every resource that has one. */
  entries(): [string, StoredPolicy][] {
    const out: [string, StoredPolicy][] = [];
    for (const key of this.history.keys()) {
      const p = this.get(key);
      if (p) out.push([key, p]);
    }
    return out;
  }

  clear(): void {
    this.history.clear();
  }

  private cutoff(): number {
    return this.now() - Math.max(0, this.delay());
  }

  private record(key: string, policy: StoredPolicy | undefined): void {
    const versions = this.history.get(key) ?? [];
    versions.push({ at: this.now(), policy });
    this.history.set(key, versions);
    this.prune(key);
  }

  /** Drops the versions older than the one in force at the cutoff, which then counts as in force since ever. */
  private prune(key: string): PolicyVersion[] {
    const versions = this.history.get(key);
    if (!versions) return [];
    const cutoff = this.cutoff();
    for (let i = versions.length - 1; i >= 0; i--) {
      const v = versions[i] as PolicyVersion;
      if (v.at > cutoff) continue;
      v.at = Number.NEGATIVE_INFINITY;
      if (i > 0) versions.splice(0, i);
      break;
    }
    return versions;
  }
}
