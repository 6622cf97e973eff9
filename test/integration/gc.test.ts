// Garbage collection end to end: the real API server, the emulator, the controller as its own service account
// (provisioning and releasing), and GC runs as that same identity with a chosen clock.
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/api/index.js';
import type { RunningControllerProcess } from '../../src/controller/run.js';
import { nextRun } from '../../src/gc/scheduler.js';
import { Resources } from '../../src/kube/resources.js';
import { KubeRest } from '../../src/kube/rest.js';
import { CONTROLLER_PERMISSIONS } from '../../src/playground/gcs-setup.js';
import { adminFetch, setConfig } from '../emulator/clients.js';
import { uniqueSuffix, waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  getCheckpoint,
  isReady,
  PROJECT,
  sparkApp,
  useControllerFixture,
  waitForCheckpoint,
} from './controller-fixture.js';
import {
  countObjects,
  folderExists,
  gcDeps,
  gcScenario,
  lastWrite,
  type RecordedEvent,
  released,
  releasedJobs,
  runGc,
  staleAt as staleAtOf,
  writeObjects,
} from './gc-support.js';

let fx: Fixture;
let ctrl: RunningControllerProcess;
const { kc, cleanups } = useControllerFixture({
  bucket: `gc-${uniqueSuffix()}`,
  ready: (f, c) => {
    [fx, ctrl] = [f, c as RunningControllerProcess];
  },
});
const H = 3_600_000;

const scenario = (o: Parameters<typeof gcScenario>[3] = {}) => gcScenario(kc, fx, cleanups, o);

const staleAt = (cp: Checkpoint | undefined, retentionMs = H) => staleAtOf(fx, cp, retentionMs);
const jobs = (s: Awaited<ReturnType<typeof scenario>>, all: Record<string, number>, gone: string[]) =>
  releasedJobs(kc, fx, s, all, gone);

describe('deleting released checkpoints', () => {
  it('deletes a released prefix of a few thousand objects exactly at retention, not a second before; a retained and a bound one stay', async () => {
    const s = await scenario({ retention: '1h' });
    const rel = await jobs(s, { gone: 2500, kept: 30, live: 40 }, ['gone', 'kept']);
    await new KubeRest(kc).mergePatch(Resources.Checkpoint, 'kept', s.ns, {
      metadata: { annotations: { 'tidemark.dev/retain': 'true' } },
    });
    const goneAt = await staleAt(rel.gone);
    const keptAt = await staleAt(rel.kept);
    const events: RecordedEvent[] = [];

    // One second short of retention: nothing goes.
    const early = await runGc(gcDeps(fx, { now: () => new Date(goneAt - 1000), recorded: events }), s.policyName);
    expect(early.report.plan.deletions).toEqual([]);
    expect(early.report.plan.kept.find((k) => k.name === 'gone')?.reason).toBe('RetentionNotPassed');
    expect(await countObjects(fx, s.prefix('gone'))).toBe(2500);
    // The scan put usage and the last write on every Checkpoint.
    const usage = await getCheckpoint(kc, s.ns, 'gone');
    expect(usage?.status?.usage).toMatchObject({ objects: 2500, bytes: 25_000 });
    expect(usage?.status?.lastWriteTime).toBeDefined();

    // Exactly at retention (and past the retained one's too): the released prefix goes, all of it.
    const at = Math.max(goneAt, keptAt);
    const run = await runGc(gcDeps(fx, { now: () => new Date(at), recorded: events }), s.policyName);
    expect(run.report.errors).toEqual([]);
    expect(run.report.plan.deletions.map((d) => d.name)).toEqual(['gone']);
    expect([run.report.checkpointsDeleted, run.report.objectsDeleted, run.report.bytesReclaimed]).toEqual([
      1, 2500, 25_000,
    ]);
    expect(await countObjects(fx, s.prefix('gone'))).toBe(0);
    expect(await folderExists(fx, s.prefix('gone'))).toBe(false);
    expect(await getCheckpoint(kc, s.ns, 'gone')).toBeUndefined();
    // Retained and bound: untouched.
    expect(await countObjects(fx, s.prefix('kept'))).toBe(30);
    expect(await countObjects(fx, s.prefix('live'))).toBe(40);
    expect((await getCheckpoint(kc, s.ns, 'live'))?.status?.phase).toBe('Bound');
    expect(run.report.plan.kept.map((k) => [k.name, k.reason]).sort()).toEqual([
      ['kept', 'Retained'],
      ['live', 'Bound'],
    ]);
    // Reported: policy status, Events, and the bucket's soft delete (the emulator's default 7 days).
    const pol = await waitFor('lastGC', async () => {
      const r = await adminPolicy(s.policyName);
      return r.status?.lastGC?.completionTime && r.status.lastGC.checkpointsDeleted === 1 ? r : undefined;
    });
    expect(pol.status?.lastGC).toMatchObject({
      dryRun: false,
      objectsDeleted: 2500,
      bytesReclaimed: 25_000,
      errors: 0,
    });
    expect(pol.status?.lastGC?.softDeleteRetentionSeconds).toBe(7 * 86400);
    expect(pol.status?.lastGC?.message).toContain('soft delete');
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['Deleting', 'CheckpointDeleted', 'GarbageCollected']),
    );

    // The job comes back: a fresh, empty checkpoint.
    await apply(kc, sparkApp(s.ns, 'gone'));
    const fresh = await waitForCheckpoint(kc, s.ns, 'gone', isReady, 'Ready again');
    expect(fresh.metadata.uid).not.toBe(rel.gone?.metadata.uid);
  }, 120_000);

  it('a dry run deletes nothing and reports exactly what the next real run deletes', async () => {
    const s = await scenario({ retention: '1h' });
    const rel = await jobs(s, { a: 120, b: 7, c: 3 }, ['a', 'b']);
    const at = Math.max(await staleAt(rel.a), await staleAt(rel.b));
    const deps = gcDeps(fx, { now: () => new Date(at) });
    const dry = await runGc(deps, s.policyName, true);
    expect(dry.report.dryRun).toBe(true);
    expect(await countObjects(fx, s.prefix('a'))).toBe(120);
    expect((await getCheckpoint(kc, s.ns, 'a'))?.status?.phase).toBe('Released');
    const real = await runGc(deps, s.policyName);
    expect(real.report.plan.deletions).toEqual(dry.report.plan.deletions);
    expect([real.report.checkpointsDeleted, real.report.objectsDeleted, real.report.bytesReclaimed]).toEqual([
      dry.report.checkpointsDeleted,
      dry.report.objectsDeleted,
      dry.report.bytesReclaimed,
    ]);
    expect([dry.report.checkpointsDeleted, dry.report.objectsDeleted]).toEqual([2, 127]);
    expect(await countObjects(fx, s.prefix('a'))).toBe(0);
    expect(await countObjects(fx, s.prefix('c'))).toBe(3);
  }, 90_000);

  it('a job that reappears during deletion waits (Event), never gets the half-deleted prefix, and gets a fresh one afterwards', async () => {
    const s = await scenario({ retention: '1h' });
    const rel = await jobs(s, { back: 300 }, ['back']);
    const at = await staleAt(rel.back);
    let phaseDuring: string | undefined;
    const deps = gcDeps(fx, {
      now: () => new Date(at),
      beforeDelete: async () => {
        await apply(kc, sparkApp(s.ns, 'back'));
        // The controller has seen the job and said why it waits.
        await waitFor('a Deleting event for the job', async () => {
          const ev = (await kc
            .makeApiClient((await import('@kubernetes/client-node')).CoreV1Api)
            .listNamespacedEvent({ namespace: s.ns })) as {
            items: { reason?: string; involvedObject?: { kind?: string } }[];
          };
          return ev.items.some((e) => e.reason === 'Deleting' && e.involvedObject?.kind === 'SparkApplication')
            ? true
            : undefined;
        });
        phaseDuring = (await getCheckpoint(kc, s.ns, 'back'))?.status?.phase;
      },
    });
    const run = await runGc(deps, s.policyName);
    expect(phaseDuring).toBe('Deleting');
    expect(run.report.checkpointsDeleted).toBe(1);
    const fresh = await waitForCheckpoint(kc, s.ns, 'back', isReady, 'fresh and Ready');
    expect(fresh.metadata.uid).not.toBe(rel.back?.metadata.uid);
    expect(await countObjects(fx, s.prefix('back'))).toBe(0);
  }, 90_000);

  it('a job that exists again when the run starts keeps its data', async () => {
    const s = await scenario({ retention: '1h' });
    const rel = await jobs(s, { early: 5 }, ['early']);
    const at = await staleAt(rel.early);
    await apply(kc, sparkApp(s.ns, 'early'));
    const run = await runGc(gcDeps(fx, { now: () => new Date(at) }), s.policyName);
    expect(run.report.checkpointsDeleted).toBe(0);
    expect(await countObjects(fx, s.prefix('early'))).toBe(5);
    await waitForCheckpoint(kc, s.ns, 'early', isReady, 'bound again');
  }, 60_000);

  it('an orphan is deleted only after a full retention on record', async () => {
    const s = await scenario({ retention: '1h' });
    await writeObjects(fx, s.prefix('lost'), 12);
    await ctrl.resyncNow();
    const cp = await waitForCheckpoint(kc, s.ns, 'lost', released, 'adopted as Released');
    expect(cp.status?.conditions?.find((c) => c.type === 'Bound')?.reason).toBe('Orphaned');
    const adopted = await staleAt(cp, 0);
    const early = await runGc(gcDeps(fx, { now: () => new Date(adopted + H - 1000) }), s.policyName);
    expect(early.report.checkpointsDeleted).toBe(0);
    expect(await countObjects(fx, s.prefix('lost'))).toBe(12);
    const run = await runGc(gcDeps(fx, { now: () => new Date(adopted + H) }), s.policyName);
    expect(run.report.checkpointsDeleted).toBe(1);
    expect(await countObjects(fx, s.prefix('lost'))).toBe(0);
  }, 60_000);

  it('a prefix of a deleted namespace goes once nothing under it was written for a retention period', async () => {
    const s = await scenario({ retention: '1h' });
    const gone = `gone-${uniqueSuffix()}`;
    const prefix = `${s.root}/${gone}/job/`;
    await writeObjects(fx, prefix, 9);
    const t = Date.now();
    const early = await runGc(gcDeps(fx, { now: () => new Date(t + H - 60_000) }), s.policyName);
    expect(early.report.checkpointsDeleted).toBe(0);
    expect(await countObjects(fx, prefix)).toBe(9);
    const run = await runGc(gcDeps(fx, { now: () => new Date(t + H + 60_000) }), s.policyName);
    expect(run.report.plan.deletions.map((d) => d.kind)).toEqual(['NoRecord']);
    expect(await countObjects(fx, prefix)).toBe(0);
  }, 60_000);
});

describe('scheduling', () => {
  it("the leader keeps each policy's nextGCTime (its cron schedule, in UTC)", async () => {
    const s = await scenario({ schedule: '17 5 * * *' });
    const pol = await waitFor('nextGCTime', async () => {
      const p = await adminPolicy(s.policyName);
      return p.status?.nextGCTime ? p : undefined;
    });
    expect(pol.status?.nextGCTime).toBe(nextRun('17 5 * * *', new Date())?.toISOString().replace('.000Z', 'Z'));
  });
});

describe('faults and permissions', () => {
  it('retries 429 and 503 from list and batch parts and still finishes', async () => {
    const s = await scenario({ retention: '1h' });
    const rel = await jobs(s, { flaky: 1200 }, ['flaky']);
    const at = await staleAt(rel.flaky);
    const member = `serviceAccount:tidemark-controller@${PROJECT}.iam.gserviceaccount.com`;
    await setConfig(fx.emu, {
      faults: [
        // Each object's delete fails 15% of the time; the deleter tries a part 8 times, so a run of 1,200 objects
        // gives up on one with odds 1,200 × 0.15^8 ≈ 3 in 10,000 (at 30% it was 1 in 12: CI hit it once).
        { op: 'storage.objects.delete', rate: 0.1, kind: 503, member },
        { op: 'storage.objects.delete', rate: 0.05, kind: 429, member },
        { op: 'storage.objects.list', rate: 0.2, kind: 429, member },
        { op: 'storage.batch', rate: 0.2, kind: 503 },
      ],
    });
    try {
      const run = await runGc(gcDeps(fx, { now: () => new Date(at) }), s.policyName);
      expect(run.report.errors, JSON.stringify(run.report.errors)).toEqual([]);
      expect(run.report.objectsDeleted).toBe(1200);
    } finally {
      await setConfig(fx.emu, { faults: [] });
    }
    expect(await countObjects(fx, s.prefix('flaky'))).toBe(0);
  }, 120_000);

  it.each([
    ['storage.objects.delete', 'delete objects'],
    ['storage.managedFolders.delete', 'delete managed folders'],
  ])(
    'without %s the run fails with a clear error and the checkpoint stays fenced',
    async (permission, what) => {
      const s = await scenario({ retention: '1h' });
      const rel = await jobs(s, { perm: 3 }, ['perm']);
      const at = await staleAt(rel.perm);
      await setRole(CONTROLLER_PERMISSIONS.filter((p) => p !== permission));
      try {
        const run = await runGc(gcDeps(fx, { now: () => new Date(at) }), s.policyName);
        expect(run.report.errors).toHaveLength(1);
        expect(run.report.errors[0]?.reason).toBe('PermissionDenied');
        expect(run.report.errors[0]?.message).toContain(`may not ${what}`);
        expect(run.report.errors[0]?.message, run.report.errors[0]?.message).toContain(permission);
        expect((await getCheckpoint(kc, s.ns, 'perm'))?.status?.phase).toBe('Deleting');
      } finally {
        await setRole([...CONTROLLER_PERMISSIONS]);
      }
      // With the permission back, the next run resumes and finishes.
      const again = await runGc(gcDeps(fx, { now: () => new Date(at) }), s.policyName);
      expect(again.report.plan.deletions[0]?.resume).toBe(true);
      expect(again.report.errors).toEqual([]);
      expect(await getCheckpoint(kc, s.ns, 'perm')).toBeUndefined();
    },
    90_000,
  );
});

async function setRole(permissions: string[]): Promise<void> {
  const res = await adminFetch(fx.emu, '/_emulator/roles/tidemarkController', {
    method: 'PUT',
    body: JSON.stringify({ title: 'Tidemark controller', includedPermissions: permissions }),
  });
  if (!res.ok) throw new Error(`role update: ${res.status} ${await res.text()}`);
}

async function adminPolicy(name: string) {
  const { KubernetesObjectApi } = await import('@kubernetes/client-node');
  const client = KubernetesObjectApi.makeApiClient(kc);
  return (await client.read({
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'CheckpointPolicy',
    metadata: { name },
  } as never)) as unknown as {
    status?: {
      nextGCTime?: string;
      lastGC?: Record<string, unknown> & {
        completionTime?: string;
        checkpointsDeleted?: number;
        softDeleteRetentionSeconds?: number;
        message?: string;
      };
    };
  };
}
