// Issue 15 item 3: controller crashes. `kill -9` of the controller in the middle of provisioning, of a bucket-policy
// write (BucketCondition mode) and of a GC run (`tidemark gc` as a process, and the controller's own scheduled GC),
// at random points, repeated; then a restart. It resumes: every live job ends Ready with exactly its grant, every gone one revoked, the GC finishes
// where it stopped (status.deletion), nothing outside the stale prefixes is touched, no Checkpoint stays Deleting.
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apply, waitFor } from '../harness/kube.js';
import { isLong, recordFigures } from './figures.js';
import { type Stack, startStack } from './stack.js';
import {
  checkpoints,
  createJob,
  deleteJob,
  type Expectation,
  makeScope,
  pool,
  type Scope,
  waitConverged,
} from './world.js';

const ROUNDS = isLong() ? 12 : 3;
const GC_KILLS = isLong() ? 4 : 1;
/** Kills of the controller during its own scheduled GC, and objects per seeded prefix. */
const CONTROLLER_GC_KILLS = isLong() ? 5 : 2;
const SEEDED = isLong() ? 400 : 150;
/** A schedule that does not fire during a test (29 February), until the test switches to every minute. */
const NEVER = '0 0 29 2 *';
const DAY = 86_400_000;

describe('reliability: controller crashes', () => {
  let stack: Stack;
  let kills = 0;
  let jobs = 0;
  const started = Date.now();
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    recordFigures({
      test: 'crashes',
      faultsInjected: kills,
      jobs,
      wallMs: Date.now() - started,
    });
    await stack?.stop();
  });

  const controllerMember = () => `serviceAccount:${stack.controllerServiceAccount}`;
  const calls = async (op: string): Promise<number> => {
    const c = await stack.admin<{ byOpAndMember: Record<string, Record<string, number>> }>(
      'GET',
      '/_emulator/counters',
    );
    return c.byOpAndMember[op]?.[controllerMember()] ?? 0;
  };
  const randomMs = (max: number) => Math.floor(Math.random() * max);

  it('kill -9 during provisioning and during bucket-policy writes, repeated; the restarted controller converges', async () => {
    let ctrl = await stack.startController();
    const scopes: Scope[] = [await makeScope(stack, 'ManagedFolder'), await makeScope(stack, 'BucketCondition')];
    const live = new Map<string, Set<string>>(scopes.map((s) => [s.policyName, new Set<string>()]));
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const midWrite = round % 2 === 1;
      // Every other round: the controller's bucket-policy writes take 1.5 s, and the kill lands while one is in flight
      // (the emulator counts a call when it arrives; the write is applied after the process is gone).
      await stack.setEmulatorConfig({
        faults: midWrite
          ? [{ op: 'storage.buckets.setIamPolicy', rate: 1, kind: 'slow', delayMs: 1500, member: controllerMember() }]
          : [],
      });
      // Kill a controller that acts: the restarted one first waits out the dead one's lease.
      await waitFor('the controller to lead', () => ctrl.leading(), { timeoutMs: 60_000, intervalMs: 200 });
      const writesBefore = await calls('storage.buckets.setIamPolicy');
      const fresh = Array.from({ length: 6 }, () => ({ scope: scopes[n % 2] as Scope, name: `job-${n++}` }));
      await pool(fresh, 6, async ({ scope, name }) => {
        await createJob(stack, scope, name);
        live.get(scope.policyName)?.add(name);
        jobs++;
      });
      // Some earlier jobs go away in the same round.
      const older = [...(live.get(scopes[round % 2]?.policyName ?? '') ?? [])].slice(0, 2);
      for (const name of older) {
        await deleteJob(stack, scopes[round % 2] as Scope, name);
        live.get(scopes[round % 2]?.policyName ?? '')?.delete(name);
      }
      if (midWrite) {
        await waitFor(
          'a bucket-policy write in flight',
          async () => (await calls('storage.buckets.setIamPolicy')) > writesBefore,
          {
            timeoutMs: 60_000,
            intervalMs: 20,
          },
        );
        await new Promise((r) => setTimeout(r, randomMs(1000)));
      } else {
        await new Promise((r) => setTimeout(r, randomMs(2500)));
      }
      await ctrl.kill9();
      kills++;
      ctrl = await stack.startController({ replica: 'r0' });
    }
    await stack.setEmulatorConfig({ faults: [] });
    const e: Expectation = { scopes, live };
    await waitConverged(stack, e, 180_000);
  });

  it('kill -9 of `tidemark gc` in the middle of a run; the next run finishes it and touches nothing else', async () => {
    if (stack.controllers().length === 0) await stack.startController();
    const scope = await makeScope(stack, 'ManagedFolder', {
      retention: { afterRelease: '2s' },
      gc: { schedule: '0 3 * * *', dryRun: false, maxDeletesPerRun: 100 },
    });
    const staleJobs = ['old-0', 'old-1', 'old-2', 'old-3'];
    // 'old-00' is live, and its prefix starts with the characters of the stale 'old-0/' but for the slash.
    const liveJobs = ['keep-0', 'old-00'];
    for (const j of [...staleJobs, ...liveJobs]) await createJob(stack, scope, j);
    jobs += staleJobs.length + liveJobs.length;
    await waitConverged(
      stack,
      { scopes: [scope], live: new Map([[scope.policyName, new Set([...staleJobs, ...liveJobs])]]) },
      120_000,
    );
    const objects = 30;
    for (const j of [...staleJobs, ...liveJobs]) await writeObjects(stack, scope.prefix(j), objects);
    await writeObjects(stack, `${scope.root}-sibling/x/`, 5); // outside the root: never touched
    for (const j of staleJobs) await deleteJob(stack, scope, j);
    await waitConverged(stack, { scopes: [scope], live: new Map([[scope.policyName, new Set(liveJobs)]]) }, 120_000);
    // Released and revoked; wait (not assert) for retention (2 s) and the propagation hold (1 s) to pass.
    await waitFor(
      'the stale Checkpoints to be Released with no grant',
      async () => {
        const cps = (await checkpoints(stack, scope.ns)).filter((c) => staleJobs.includes(c.metadata?.name ?? ''));
        return (
          cps.length === staleJobs.length &&
          cps.every((c) => c.status?.phase === 'Released' && !c.status?.grants?.length)
        );
      },
      { timeoutMs: 60_000 },
    );
    await new Promise((r) => setTimeout(r, 3_500));

    // Deletes are slow, so that a run is long enough to be killed in its middle.
    await stack.setEmulatorConfig({
      faults: [{ op: 'storage.objects.delete', rate: 1, kind: 'slow', delayMs: 60, member: controllerMember() }],
    });
    let killed = 0;
    for (let i = 0; i < GC_KILLS; i++) {
      const before = await calls('storage.objects.delete');
      const gc = await startGcWhenFree(stack, scope.policyName);
      const finished = await Promise.race([
        waitFor('GC to delete something', async () => (await calls('storage.objects.delete')) > before + 5, {
          timeoutMs: 60_000,
          intervalMs: 20,
        }).then(() => false),
        gc.exited.then(() => true),
      ]);
      if (finished) break;
      await new Promise((r) => setTimeout(r, randomMs(1500)));
      await gc.kill('SIGKILL');
      killed++; // counted in this test's own figures, not in the file's
    }
    expect(killed).toBeGreaterThan(0);
    const deleting = (await checkpoints(stack, scope.ns)).filter((c) => c.status?.phase === 'Deleting');
    // The next run (once the dead run's GC Lease has expired) resumes and finishes.
    await stack.setEmulatorConfig({ faults: [] });
    for (;;) {
      const gc = await startGcWhenFree(stack, scope.policyName);
      const { code } = await gc.exited;
      if (code === 0) break;
      if (!/already running/.test(gc.logTail())) throw new Error(`tidemark gc failed:\n${gc.logTail()}`);
      await new Promise((r) => setTimeout(r, 2_000));
    }
    await waitFor(
      'the stale Checkpoints to be gone (none left Deleting)',
      async () => {
        const names = (await checkpoints(stack, scope.ns)).map((c) => c.metadata?.name ?? '');
        return staleJobs.every((j) => !names.includes(j));
      },
      { timeoutMs: 60_000 },
    );
    for (const j of staleJobs) expect(await countObjects(stack, scope.prefix(j)), j).toBe(0);
    for (const j of liveJobs) expect(await countObjects(stack, scope.prefix(j)), j).toBe(objects);
    expect(await countObjects(stack, `${scope.root}-sibling/`)).toBe(5);
    recordFigures({
      test: 'crashes-gc',
      faultsInjected: killed,
      notes: { deletingAfterKill: deleting.length },
    });
  });

  it(`kill -9 of the controller during its own scheduled GC, at random points (${CONTROLLER_GC_KILLS} times); the restarted one finishes it and touches nothing else`, async () => {
    const started = Date.now();
    if (stack.controllers().length === 0) await stack.startController();
    const gc = { dryRun: false, maxDeletesPerRun: 100 };
    const scope = await makeScope(stack, 'ManagedFolder', {
      retention: { afterRelease: '2s' },
      gc: { ...gc, schedule: NEVER },
    });
    const staleJobs = ['old-0', 'old-1', 'old-2', 'old-3', 'old-4', 'old-5'];
    // Live: 'old-00' shares the characters of the stale 'old-0/' but for the slash. Retained: released, annotated.
    const liveJobs = ['keep-0', 'old-00'];
    const retainedJobs = ['kept-0'];
    const allJobs = [...staleJobs, ...liveJobs, ...retainedJobs];
    for (const j of allJobs) await createJob(stack, scope, j);
    jobs += allJobs.length;
    await waitConverged(stack, { scopes: [scope], live: new Map([[scope.policyName, new Set(allJobs)]]) }, 120_000);
    // Seeded straight into the store: every job's prefix, two prefixes of a namespace that never existed here
    // (stale: no record, last written 30 days ago), and a sibling of the root (never touched).
    const gone = [`${scope.root}/gone-${scope.ns}/job-a/`, `${scope.root}/gone-${scope.ns}/job-b/`];
    const seed = (prefix: string, n: number, at?: number) =>
      stack.emu.seedObjects(
        stack.bucket,
        Array.from({ length: n }, (_, i) => `${prefix}q1/state/${String(i).padStart(5, '0')}.delta`),
        Buffer.from('x'),
        at,
      );
    for (const j of allJobs) seed(scope.prefix(j), SEEDED);
    for (const p of gone) seed(p, SEEDED, Date.now() - 30 * DAY);
    seed(`${scope.root}-sibling/x/`, 5);
    for (const j of retainedJobs) await annotateCheckpoint(stack, scope.ns, j, { 'tidemark.dev/retain': 'true' });
    for (const j of [...staleJobs, ...retainedJobs]) await deleteJob(stack, scope, j);
    await waitConverged(stack, { scopes: [scope], live: new Map([[scope.policyName, new Set(liveJobs)]]) }, 120_000);
    await waitFor(
      'the released Checkpoints to be Released with no grant',
      async () => {
        const released = [...staleJobs, ...retainedJobs];
        const cps = (await checkpoints(stack, scope.ns)).filter((c) => released.includes(c.metadata?.name ?? ''));
        return (
          cps.length === released.length &&
          cps.every((c) => c.status?.phase === 'Released' && !c.status?.grants?.length)
        );
      },
      { timeoutMs: 60_000 },
    );
    const stalePrefixes = [...staleJobs.map((j) => scope.prefix(j)), ...gone];
    const isStale = (name: string) => stalePrefixes.some((p) => name.startsWith(p));
    const seeded = [
      ...(await listObjects(stack, `${scope.root}/`)),
      ...(await listObjects(stack, `${scope.root}-sibling/`)),
    ];
    const staleObjects = seeded.filter(isStale).length;

    // Deletes are slow (each batch part 20 ms), so that a run lasts long enough to be killed in its middle; the
    // controller's own schedule (every minute) runs it.
    await stack.setEmulatorConfig({
      faults: [{ op: 'storage.objects.delete', rate: 1, kind: 'slow', delayMs: 20, member: controllerMember() }],
    });
    const since = (await stack.requests()).lastSeq;
    const log = requestCounter(stack, since);
    await apply(stack.kc, {
      ...scope.pol,
      spec: { ...(scope.pol as { spec: object }).spec, gc: { ...gc, schedule: '* * * * *' } },
    } as KubernetesObject);
    const killedAt: number[] = [];
    for (let i = 0; i < CONTROLLER_GC_KILLS; i++) {
      // k random deletes into the run (or into the run that resumes it), leaving some for the next kills (the
      // killed process's batches in flight land meanwhile: counted before choosing).
      await log.poll();
      const left = staleObjects - log.deletes;
      const target = log.deletes + 1 + randomMs(Math.floor(left / (CONTROLLER_GC_KILLS - i + 1)));
      await waitFor('the controller GC to delete objects', async () => (await log.poll()).deletes >= target, {
        // The next minute's run, or the restarted leader's resume once the dead one's leases expired.
        timeoutMs: 150_000,
        intervalMs: 50,
      });
      for (const c of stack.controllers()) await c.kill9();
      killedAt.push(log.deletes);
      await stack.startController();
    }
    await stack.setEmulatorConfig({ faults: [] });
    const deletingAfterKills = (await checkpoints(stack, scope.ns)).filter(
      (c) => c.status?.phase === 'Deleting',
    ).length;
    await waitFor(
      'every stale prefix to be gone, its Checkpoint too (none left Deleting)',
      async () => {
        const names = new Set((await checkpoints(stack, scope.ns)).map((c) => c.metadata?.name ?? ''));
        if (staleJobs.some((j) => names.has(j))) return false;
        for (const p of stalePrefixes) if ((await listObjects(stack, p)).length > 0) return false;
        return true;
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    // Exactly the stale prefixes' objects went: every object of a live or retained job and the sibling's is there.
    const now = [
      ...(await listObjects(stack, `${scope.root}/`)),
      ...(await listObjects(stack, `${scope.root}-sibling/`)),
    ];
    expect(now.sort()).toEqual(seeded.filter((n) => !isStale(n)).sort());
    const cps = await checkpoints(stack, scope.ns);
    expect(cps.filter((c) => c.status?.phase === 'Deleting').map((c) => c.metadata?.name)).toEqual([]);
    expect(cps.map((c) => c.metadata?.name ?? '').sort()).toEqual([...liveJobs, ...retainedJobs].sort());
    // Nothing outside the stale prefixes was touched: every delete the request log shows, by anyone, is under one.
    await log.poll();
    expect(log.dropped).toBe(0);
    expect(log.outside(isStale)).toEqual([]);
    recordFigures({
      test: 'crashes-controller-gc',
      faultsInjected: killedAt.length,
      wallMs: Date.now() - started,
      notes: {
        staleObjects,
        deletesWhenKilled: killedAt.join('/'),
        deletingAfterKills,
        deleteCalls: log.deletes,
      },
    });
  });
});

async function startGcWhenFree(stack: Stack, policy: string) {
  return stack.startGcProcess(policy);
}

async function writeObjects(stack: Stack, prefix: string, count: number): Promise<void> {
  await pool(
    Array.from({ length: count }, (_, i) => i),
    10,
    async (i) => {
      const name = encodeURIComponent(`${prefix}q1/state/${String(i).padStart(4, '0')}.delta`);
      const res = await fetch(`${stack.emu.url}/upload/storage/v1/b/${stack.bucket}/o?uploadType=media&name=${name}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.emu.adminToken}` },
        body: 'x',
      });
      if (!res.ok) throw new Error(`upload ${name}: ${res.status} ${await res.text()}`);
    },
  );
}

async function countObjects(stack: Stack, prefix: string): Promise<number> {
  return (await listObjects(stack, prefix)).length;
}

/** The names of the objects under `prefix`, read as the emulator's admin. */
async function listObjects(stack: Stack, prefix: string): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const q = new URLSearchParams({ prefix, maxResults: '1000', fields: 'items(name),nextPageToken' });
    if (token) q.set('pageToken', token);
    const page = await stack.admin<{ items?: { name: string }[]; nextPageToken?: string }>(
      'GET',
      `/storage/v1/b/${stack.bucket}/o?${q}`,
    );
    for (const o of page.items ?? []) names.push(o.name);
    token = page.nextPageToken;
  } while (token);
  return names;
}

async function annotateCheckpoint(stack: Stack, ns: string, name: string, annotations: Record<string, string>) {
  await KubernetesObjectApi.makeApiClient(stack.kc).patch(
    { apiVersion: 'tidemark.dev/v1alpha1', kind: 'Checkpoint', metadata: { name, namespace: ns, annotations } },
    undefined,
    undefined,
    undefined,
    undefined,
    PatchStrategy.MergePatch,
  );
}

/**
 * The emulator's request log from `since` on, read a page at a time: how many object deletes were answered, and
 * every object or managed folder delete (by anyone) whose name fails a test.
 */
function requestCounter(stack: Stack, since: number) {
  let seq = since;
  const deleted: string[] = [];
  const c = {
    deletes: 0,
    dropped: 0,
    async poll() {
      const r = await stack.requests(seq);
      for (const e of r.entries) {
        if (e.op !== 'storage.objects.delete' && e.op !== 'storage.managedFolders.delete') continue;
        deleted.push(e.name ?? '(no name)');
        if (e.op === 'storage.objects.delete' && e.status >= 200 && e.status < 300) c.deletes++;
      }
      c.dropped = r.dropped;
      seq = r.lastSeq;
      return c;
    },
    outside: (inside: (name: string) => boolean) => deleted.filter((n) => !inside(n)),
  };
  return c;
}
