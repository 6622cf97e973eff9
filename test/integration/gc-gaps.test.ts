// The GC's known gaps, end to end on the real API server and the emulator, the controller as its own service
// account: a Deleting Checkpoint whose policy is deleted, empty managed folders of deleted namespaces,
// BucketCondition mode, overlapping roots decided by src/policy/overlap.ts, and a hand-made Checkpoint naming a
// neighbour's prefix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resources } from '../../src/kube/resources.js';
import { KubeRest } from '../../src/kube/rest.js';
import { adminFetch } from '../emulator/clients.js';
import { testKubeConfig, uniqueSuffix, waitFor } from '../harness/kube.js';
import { apply, deleteObject, type Fixture, getCheckpoint, setupFixture, wiPrincipal } from './controller-fixture.js';
import {
  bucketIam,
  countObjects,
  folderExists,
  gcDeps,
  gcPolicy,
  gcScenario,
  releasedJobs,
  runGc,
  runGcWhenFree,
  staleAt,
} from './gc-support.js';

const kc = testKubeConfig();
const rest = new KubeRest(kc);
let fx: Fixture;
const cleanups: (() => Promise<void>)[] = [];
const ROLE = 'roles/storage.objectUser';

beforeAll(async () => {
  fx = await setupFixture(kc, `gcg-${uniqueSuffix()}`);
  await fx.startController();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await fx?.cleanup();
});

const scenario = (o: Parameters<typeof gcScenario>[3] = {}) => gcScenario(kc, fx, cleanups, o);

async function createFolder(prefix: string): Promise<string> {
  const res = await adminFetch(fx.emu, `/storage/v1/b/${fx.bucket}/managedFolders`, {
    method: 'POST',
    body: JSON.stringify({ name: prefix }),
  });
  if (!res.ok) throw new Error(`create folder ${prefix}: ${res.status} ${await res.text()}`);
  const f = (await res.json()) as { updateTime: string };
  return f.updateTime;
}

describe('a Checkpoint left Deleting', () => {
  it('whose policy was deleted is finished by the controller from its record (its own identity); the neighbour stays', async () => {
    const s = await scenario({ retention: '1h' });
    const rel = await releasedJobs(kc, fx, s, { a: 250, b: 7 }, ['a']);
    const at = await staleAt(fx, rel.a);
    // A run that stops after the fence (as a crash would), half the objects already gone.
    const crashed = await runGc(
      gcDeps(fx, {
        now: () => new Date(at),
        beforeDelete: async () => {
          for (let i = 0; i < 125; i++) {
            const name = encodeURIComponent(`${s.prefix('a')}q1/state/${String(i).padStart(6, '0')}.delta`);
            await adminFetch(fx.emu, `/storage/v1/b/${fx.bucket}/o/${name}`, { method: 'DELETE' });
          }
          throw new Error('crash');
        },
      }),
      s.policyName,
    );
    expect(crashed.report.errors).toHaveLength(1);
    expect((await getCheckpoint(kc, s.ns, 'a'))?.status?.phase).toBe('Deleting');

    await rest.delete(Resources.CheckpointPolicy, s.policyName);
    // Nothing else runs GC here: the controller sees the policy go and finishes the deletion itself.
    await waitFor(
      'the Deleting Checkpoint finished',
      async () => ((await getCheckpoint(kc, s.ns, 'a')) ? undefined : true),
      {
        timeoutMs: 60_000,
      },
    );
    expect(await countObjects(fx, s.prefix('a'))).toBe(0);
    expect(await folderExists(fx, s.prefix('a'))).toBe(false);
    expect(await countObjects(fx, s.prefix('b'))).toBe(7);
  }, 120_000);

  it('whose policy was re-created with another root is finished from its record by the next run', async () => {
    const s = await scenario({ retention: '1h' });
    const rel = await releasedJobs(kc, fx, s, { a: 30 }, ['a']);
    const at = await staleAt(fx, rel.a);
    await runGc(
      gcDeps(fx, {
        now: () => new Date(at),
        beforeDelete: async () => {
          throw new Error('crash');
        },
      }),
      s.policyName,
    );
    expect((await getCheckpoint(kc, s.ns, 'a'))?.status?.phase).toBe('Deleting');
    // rootPrefix is immutable: delete and re-create under another root, then run that policy's GC.
    await rest.delete(Resources.CheckpointPolicy, s.policyName);
    await waitFor('policy gone', async () => {
      try {
        await rest.get(Resources.CheckpointPolicy, s.policyName);
        return undefined;
      } catch {
        return true;
      }
    });
    await apply(
      kc,
      gcPolicy(s.policyName, {
        bucket: fx.bucket,
        root: `${s.root}-moved`,
        selectNamespace: { 'tidemark-test-gc': s.tag },
        retention: '1h',
      }),
    );
    // The controller may have finished it already while the policy was gone; either way one run finishes it.
    await runGcWhenFree(gcDeps(fx, { now: () => new Date(at) }), s.policyName);
    expect(await getCheckpoint(kc, s.ns, 'a')).toBeUndefined();
    expect(await countObjects(fx, s.prefix('a'))).toBe(0);
  }, 120_000);
});

describe('empty managed folders of deleted namespaces', () => {
  it.each(['ManagedFolder', 'BucketCondition'] as const)(
    '(%s policy) go a retention period after the folder last changed; one still granting access stays; a live one stays',
    async (mode) => {
      const s = await scenario({ retention: '1h', mode });
      await releasedJobs(kc, fx, s, { live: 3 }, []);
      const gone = `gone-${uniqueSuffix()}`;
      const empty = `${s.root}/${gone}/job/`;
      const granted = `${s.root}/${gone}/granted/`;
      const updated = Date.parse(await createFolder(empty));
      await createFolder(granted);
      const iam = await adminFetch(
        fx.emu,
        `/storage/v1/b/${fx.bucket}/managedFolders/${encodeURIComponent(granted.slice(0, -1))}/iam`,
        {
          method: 'PUT',
          body: JSON.stringify({ bindings: [{ role: ROLE, members: [wiPrincipal(gone, 'spark')] }] }),
        },
      );
      expect(iam.ok, await iam.text()).toBe(true);
      const early = await runGc(gcDeps(fx, { now: () => new Date(updated + 3_600_000 - 1000) }), s.policyName);
      expect(early.report.plan.kept.find((k) => k.prefix === empty)?.reason).toBe('RecentWrite');
      expect(await folderExists(fx, empty)).toBe(true);

      const run = await runGc(gcDeps(fx, { now: () => new Date(updated + 3_600_000 + 5000) }), s.policyName);
      expect(run.report.plan.deletions.map((d) => [d.prefix, d.kind, d.folder]).sort()).toEqual(
        [
          [empty, 'NoRecord', true],
          [granted, 'NoRecord', true],
        ].sort(),
      );
      expect(await folderExists(fx, empty)).toBe(false);
      // Access remains through the folder: kept, and said so.
      expect(await folderExists(fx, granted)).toBe(true);
      expect(run.report.errors.map((e) => e.prefix)).toEqual([granted]);
      expect(run.report.errors[0]?.message).toContain('still grants access');
      expect(await folderExists(fx, s.prefix('live'))).toBe(mode === 'ManagedFolder');
      expect(await countObjects(fx, s.prefix('live'))).toBe(3);
    },
    90_000,
  );
});

describe('BucketCondition mode', () => {
  it('deletes a stale prefix only after the revoke is confirmed by reading the bucket policy; the Bound neighbour and its binding stay', async () => {
    const s = await scenario({ retention: '1h', mode: 'BucketCondition' });
    const rel = await releasedJobs(kc, fx, s, { stale: 40, live: 12 }, ['stale']);
    const mentions = (prefix: string) => (b: { condition?: { expression?: string } }) =>
      (b.condition?.expression ?? '').includes(prefix);
    const before = await bucketIam(fx);
    expect(before.bindings?.filter(mentions(s.prefix('stale')))).toEqual([]);
    const liveBinding = before.bindings?.filter(mentions(s.prefix('live')));
    expect(liveBinding).toHaveLength(1);

    // A grant for the stale prefix is back in the bucket policy (a leftover): the run revokes it and deletes nothing.
    const deps = (now: number) => gcDeps(fx, { now: () => new Date(now) });
    const at = await staleAt(fx, rel.stale);
    await deps(at)
      .backend('BucketCondition')
      .apply({
        bucket: fx.bucket,
        prefix: s.prefix('stale'),
        role: ROLE,
        members: [wiPrincipal(s.ns, 'spark')],
        applied: [],
        job: { namespace: s.ns, name: 'stale' },
      });
    expect((await bucketIam(fx)).bindings?.filter(mentions(s.prefix('stale')))).toHaveLength(1);
    const first = await runGc(deps(at), s.policyName);
    expect(first.report.errors[0]?.message).toContain('revoked now');
    expect((await bucketIam(fx)).bindings?.filter(mentions(s.prefix('stale')))).toEqual([]);
    expect(await countObjects(fx, s.prefix('stale'))).toBe(40);
    // Within the propagation hold (1s) after that revoke: still nothing.
    const held = await runGc(deps(at + 500), s.policyName);
    expect(held.report.plan.kept.find((k) => k.name === 'stale')?.reason).toBe('PropagationHold');
    expect(await countObjects(fx, s.prefix('stale'))).toBe(40);

    const run = await runGc(deps(at + 2000), s.policyName);
    expect(run.report.errors).toEqual([]);
    expect(run.report.objectsDeleted).toBe(40);
    expect(await countObjects(fx, s.prefix('stale'))).toBe(0);
    expect(await getCheckpoint(kc, s.ns, 'stale')).toBeUndefined();
    // The neighbour: its objects, its condition binding, its Checkpoint.
    expect(await countObjects(fx, s.prefix('live'))).toBe(12);
    expect((await bucketIam(fx)).bindings?.filter(mentions(s.prefix('live')))).toEqual(liveBinding);
    expect((await getCheckpoint(kc, s.ns, 'live'))?.status?.phase).toBe('Bound');
  }, 120_000);
});

describe('overlapping roots (src/policy/overlap.ts)', () => {
  it('the older policy collects even inside a later policy root; the later, shadowed one does not run', async () => {
    const s = await scenario({ retention: '1h', rootSuffix: '/inner' });
    const rel = await releasedJobs(kc, fx, s, { a: 6 }, ['a']);
    const at = await staleAt(fx, rel.a);
    const outer = gcPolicy(`gco-${s.tag}`, {
      bucket: fx.bucket,
      root: s.root.replace(/\/inner$/, ''),
      selectNamespace: { 'tidemark-test-gc-none': s.tag },
    });
    await apply(kc, outer);
    cleanups.push(() => deleteObject(kc, outer));
    const shadowed = await runGcWhenFree(gcDeps(fx, { now: () => new Date(at) }), `gco-${s.tag}`);
    expect(shadowed).toMatchObject({ kind: 'Skipped', reason: 'RootOverlap' });
    const run = await runGc(gcDeps(fx, { now: () => new Date(at) }), s.policyName);
    expect(run.report.plan.deletions.map((d) => d.name)).toEqual(['a']);
    expect(await countObjects(fx, s.prefix('a'))).toBe(0);
  }, 90_000);
});

describe('the place is derived, never taken from the spec', () => {
  it('a hand-made Released Checkpoint naming a live neighbour’s prefix in its namespace deletes nothing', async () => {
    const s = await scenario({ retention: '1h' });
    await releasedJobs(kc, fx, s, { victim: 20 }, []);
    const victim = await getCheckpoint(kc, s.ns, 'victim');
    if (!victim) throw new Error('no victim Checkpoint');
    await apply(kc, {
      apiVersion: 'tidemark.dev/v1alpha1',
      kind: 'Checkpoint',
      metadata: { name: 'evil', namespace: s.ns },
      spec: { ...victim.spec, jobRef: { ...victim.spec.jobRef, name: 'evil' } },
    } as never);
    const evil = await waitFor('evil released', async () => {
      const c = await getCheckpoint(kc, s.ns, 'evil');
      return c?.status?.phase === 'Released' ? c : undefined;
    });
    const at = Math.max(await staleAt(fx, evil), Date.now() + 2 * 3_600_000);
    const run = await runGc(gcDeps(fx, { now: () => new Date(at) }), s.policyName);
    expect(run.report.plan.deletions).toEqual([]);
    expect(run.report.plan.kept.find((k) => k.name === 'evil')?.reason).toBe('PrefixMismatch');
    expect(await countObjects(fx, s.prefix('victim'))).toBe(20);
  }, 90_000);
});
