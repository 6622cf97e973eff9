// What the reliability tests do to the world and how they judge it: policies and jobs in the suite's own cluster,
// and a judge that reads GCS as the emulator's admin (the bucket policy and every managed folder's policy, both
// access modes) and compares it with the jobs that are alive. The judge never trusts Tidemark's own status.
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubernetesObjectApi } from '@kubernetes/client-node';
import { TITLE_PREFIX } from '../../src/access/condition.js';
import type { Checkpoint } from '../../src/api/index.js';
import { apply, uniqueSuffix, waitFor } from '../harness/kube.js';
import { isReady, namespaceWithSa, policy, sparkApp, wiPrincipal } from '../integration/controller-fixture.js';
import type { Stack } from './stack.js';

export const ROLE = 'roles/storage.objectUser';
export type Mode = 'ManagedFolder' | 'BucketCondition';

export interface Scope {
  mode: Mode;
  ns: string;
  policyName: string;
  root: string;
  prefix(job: string): string;
  /** The members a live job's grant must hold: the principal of its own KSA (see createJob). */
  members(job: string): string[];
}

/** A namespace and a policy of `mode` selecting it, under a fresh root. Each job brings its own KSA (createJob). */
export async function makeScope(
  stack: Stack,
  mode: Mode,
  extra: Record<string, unknown> = {},
): Promise<Scope & { pol: KubernetesObject }> {
  const tag = uniqueSuffix();
  const ns = await namespaceWithSa(stack.kc, { 'tidemark-reliability': tag });
  const policyName = `rel-${mode === 'ManagedFolder' ? 'mf' : 'bc'}-${tag}`;
  const root = `checkpoints/${tag}`;
  const base = policy(policyName, {
    bucket: stack.bucket,
    root,
    selectNamespace: { 'tidemark-reliability': tag },
    mode,
    hold: '1s',
  }) as KubernetesObject & { spec: Record<string, unknown> };
  const pol = { ...base, spec: { ...base.spec, ...extra } } as KubernetesObject;
  await apply(stack.kc, pol);
  return {
    mode,
    ns: ns.name,
    policyName,
    root,
    pol,
    prefix: (job) => `${root}/${ns.name}/${job}/`,
    members: (job) => [wiPrincipal(ns.name, job)],
  };
}

/**
 * Creates a SparkApplication that runs as its own KSA (named like the job), as design §3 advises for BucketCondition:
 * Google allows one principal a role under at most 20 conditions, so jobs sharing one KSA would stop at the 21st
 * (the controller rightly refuses it with IamPolicyLimit; these suites keep far more jobs alive than that).
 */
export async function createJob(stack: Stack, scope: Scope, name: string): Promise<void> {
  await apply(stack.kc, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: scope.ns } });
  await apply(stack.kc, sparkApp(scope.ns, name, { sa: name }));
}

export async function deleteJob(stack: Stack, scope: Scope, name: string): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(stack.kc);
  await client.delete(sparkApp(scope.ns, name)).catch((err: { code?: number }) => {
    if (err.code !== 404) throw err;
  });
}

export async function checkpoints(stack: Stack, ns: string): Promise<Checkpoint[]> {
  const client = KubernetesObjectApi.makeApiClient(stack.kc);
  const list = await client.list('tidemark.dev/v1alpha1', 'Checkpoint', ns);
  return list.items as unknown as Checkpoint[];
}

// ---- reading GCS as the admin ------------------------------------------------------------------------------

export interface Binding {
  role: string;
  members: string[];
  condition?: { title?: string; expression: string; description?: string };
}

export async function bucketBindings(stack: Stack): Promise<Binding[]> {
  const p = await stack.admin<{ bindings?: Binding[] }>(
    'GET',
    `/storage/v1/b/${stack.bucket}/iam?optionsRequestedPolicyVersion=3`,
  );
  return p.bindings ?? [];
}

/** Every managed folder of the bucket with the members of each role in its policy. */
export async function folderPolicies(stack: Stack): Promise<Map<string, Binding[]>> {
  const out = new Map<string, Binding[]>();
  let token: string | undefined;
  do {
    const q = new URLSearchParams({ maxResults: '1000' });
    if (token) q.set('pageToken', token);
    const page = await stack.admin<{ items?: { name: string }[]; nextPageToken?: string }>(
      'GET',
      `/storage/v1/b/${stack.bucket}/managedFolders?${q}`,
    );
    for (const f of page.items ?? []) {
      const p = await stack.admin<{ bindings?: Binding[] }>(
        'GET',
        `/storage/v1/b/${stack.bucket}/managedFolders/${encodeURIComponent(f.name)}/iam`,
      );
      out.set(f.name, p.bindings ?? []);
    }
    token = page.nextPageToken;
  } while (token);
  return out;
}

const sorted = (xs: readonly string[]) => [...xs].sort().join(',');
const bindingKey = (b: Binding) => `${b.role}|${b.condition?.expression ?? ''}`;

/** A foreign binding as another tool wrote it, and whether it must still be there. */
export interface ForeignBinding {
  role: string;
  member: string;
  condition?: { title: string; expression: string };
}

export interface Expectation {
  scopes: Scope[];
  /** Per scope (policyName), the jobs that are alive. */
  live: Map<string, ReadonlySet<string>>;
  /** Foreign bindings that were written and never removed by their writer: each must still be there. */
  foreign?: readonly ForeignBinding[];
}

/**
 * What is wrong with GCS against the expectation: every live job has exactly its grant (right members, one binding
 * or one folder policy), no grant is left for a job that is gone, no binding is duplicated, every foreign binding is
 * still there. Empty when all holds.
 */
export async function judgeAccess(stack: Stack, e: Expectation): Promise<string[]> {
  const problems: string[] = [];
  const bindings = await bucketBindings(stack);
  const folders = await folderPolicies(stack);
  // 0 duplicate bindings: one binding per (role, condition).
  const seen = new Map<string, number>();
  for (const b of bindings) seen.set(bindingKey(b), (seen.get(bindingKey(b)) ?? 0) + 1);
  for (const [k, n] of seen) if (n > 1) problems.push(`duplicate binding ${k} (${n} times)`);
  // 0 foreign bindings lost.
  for (const f of e.foreign ?? []) {
    const there = bindings.some(
      (b) =>
        b.role === f.role &&
        (b.condition?.expression ?? '') === (f.condition?.expression ?? '') &&
        b.members.includes(f.member),
    );
    if (!there) problems.push(`foreign binding lost: ${f.role} ${f.member} ${f.condition?.title ?? ''}`);
  }
  // Tidemark's bindings for the namespaces of these scopes (other tests' scopes on the same bucket are theirs).
  const mine = (title: string) => e.scopes.some((s) => title.startsWith(`${TITLE_PREFIX}${s.ns}/`));
  const tidemark = bindings.filter((b) => b.condition?.title?.startsWith(TITLE_PREFIX) && mine(b.condition.title));
  const claimed = new Set<Binding>();
  for (const scope of e.scopes) {
    const live = e.live.get(scope.policyName) ?? new Set<string>();
    if (scope.mode === 'BucketCondition') {
      for (const job of live) {
        const want = sorted(scope.members(job));
        const mine = tidemark.filter((b) => b.condition?.title === `${TITLE_PREFIX}${scope.ns}/${job}`);
        mine.forEach((b) => claimed.add(b));
        if (mine.length !== 1) problems.push(`${scope.ns}/${job}: ${mine.length} bindings, want 1`);
        else if (mine[0]?.role !== ROLE || sorted(mine[0].members) !== want) {
          problems.push(`${scope.ns}/${job}: binding ${JSON.stringify(mine[0])}, want ${ROLE} for ${want}`);
        }
      }
    } else {
      for (const [name, policy] of folders) {
        if (!name.startsWith(`${scope.root}/`)) continue;
        const job = name.slice(`${scope.root}/${scope.ns}/`.length).replace(/\/$/, '');
        const members = policy.filter((b) => b.role === ROLE).flatMap((b) => b.members);
        const other = policy.filter((b) => b.role !== ROLE && b.members.length > 0);
        if (other.length > 0) problems.push(`folder ${name}: unexpected roles ${JSON.stringify(other)}`);
        if (!live.has(job) && members.length > 0) problems.push(`folder ${name}: grant for gone job: ${members}`);
        const want = sorted(scope.members(job));
        if (live.has(job) && sorted(members) !== want)
          problems.push(`folder ${name}: members ${members}, want ${want}`);
      }
      for (const job of live) {
        if (!folders.has(scope.prefix(job)))
          problems.push(`${scope.ns}/${job}: no managed folder ${scope.prefix(job)}`);
      }
    }
  }
  // 0 grants for gone jobs (bucket policy): every Tidemark binding belongs to a live job of a BucketCondition scope.
  for (const b of tidemark) if (!claimed.has(b)) problems.push(`grant for a gone job: ${b.condition?.title}`);
  return problems;
}

/** What is not yet as it should be in Kubernetes: every live job's Checkpoint Ready. */
export async function judgeReady(stack: Stack, e: Expectation): Promise<string[]> {
  const problems: string[] = [];
  for (const scope of e.scopes) {
    const live = e.live.get(scope.policyName) ?? new Set<string>();
    const cps = new Map((await checkpoints(stack, scope.ns)).map((c) => [c.metadata?.name ?? '', c]));
    for (const job of live) {
      const cp = cps.get(job);
      if (!cp) problems.push(`${scope.ns}/${job}: no Checkpoint`);
      else if (!isReady(cp)) problems.push(`${scope.ns}/${job}: Checkpoint not Ready (${describeStatus(cp)})`);
    }
  }
  return problems;
}

/** Phase, generation and conditions of a Checkpoint, for a judge's message. */
function describeStatus(cp: Checkpoint): string {
  const st = cp.status;
  const conds = (st?.conditions ?? []).map(
    (c) => `${c.type}=${c.status} ${c.reason} gen ${c.observedGeneration}: ${c.message}`,
  );
  return `phase ${st?.phase ?? '-'}, generation ${cp.metadata?.generation}, grants ${JSON.stringify(st?.grants ?? [])}; ${conds.join('; ')}`;
}

/** Waits until both judges find nothing wrong; on timeout throws with what was still wrong. */
export async function waitConverged(stack: Stack, e: Expectation, timeoutMs: number): Promise<void> {
  let last: string[] = [];
  try {
    await waitFor(
      'the controller to converge',
      async () => {
        last = [...(await judgeReady(stack, e)), ...(await judgeAccess(stack, e))];
        return last.length === 0;
      },
      { timeoutMs, intervalMs: 1000 },
    );
  } catch {
    throw new Error(`not converged after ${timeoutMs} ms: ${last.length} problems:\n${last.slice(0, 30).join('\n')}`);
  }
}

/** Runs `n` async tasks with at most `width` at once. */
export async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}
