// BucketCondition changes are handed to the bucket's writer and the job is woken when its write lands (issue 13):
// no reconcile worker waits for a bucket's write slot. With ONE worker and a long write interval, a ManagedFolder job
// becomes Ready while a BucketCondition job still waits for its slot; and many BucketCondition jobs all end Ready
// with exactly their own grants, as the emulator judges them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/api/index.js';
import type { RunningControllerProcess } from '../../src/controller/run.js';
import { googleStorage, mintToken } from '../emulator/clients.js';
import { testKubeConfig, uniqueSuffix } from '../harness/kube.js';
import {
  apply,
  type Fixture,
  scenario as fixtureScenario,
  getCheckpoint,
  isReady,
  setupFixture,
  sparkApp,
  waitForCheckpoint,
  wiPrincipal,
  writeAs,
} from './controller-fixture.js';

const kc = testKubeConfig();
let fx: Fixture;
let ctrl: RunningControllerProcess;
const cleanups: (() => Promise<void>)[] = [];
/** Long enough that a parked worker would still be parked when the other job is done (no timing is asserted). */
const WRITE_INTERVAL_MS = 8000;

beforeAll(async () => {
  fx = await setupFixture(kc, `ckpt-${uniqueSuffix()}`);
  ctrl = await fx.startController({ concurrency: 1, bucketWriteIntervalMs: WRITE_INTERVAL_MS });
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await fx?.cleanup();
});

const condition = (cp: Checkpoint | undefined, type: string) => cp?.status?.conditions?.find((c) => c.type === type);

async function tidemarkBindings() {
  const admin = googleStorage(fx.emu, fx.emu.adminToken);
  const p = await admin.buckets.getIamPolicy({ bucket: fx.bucket, optionsRequestedPolicyVersion: 3 });
  return (p.data.bindings ?? []).filter((b) => b.condition?.title?.startsWith('tidemark:'));
}

describe('BucketCondition changes do not hold a reconcile worker', () => {
  it('with one worker, a ManagedFolder job becomes Ready while a BucketCondition change waits for its write slot', async () => {
    const bc = await fixtureScenario(fx, cleanups, { mode: 'BucketCondition', hold: '0s' });
    const mf = await fixtureScenario(fx, cleanups, { mode: 'ManagedFolder', hold: '0s' });
    // The first write of the bucket's policy: the next one may only happen WRITE_INTERVAL_MS later.
    await apply(kc, sparkApp(bc.ns, 'first'));
    await waitForCheckpoint(kc, bc.ns, 'first', isReady, 'Ready');
    await apply(kc, sparkApp(bc.ns, 'waiting'));
    const queued = await waitForCheckpoint(
      kc,
      bc.ns,
      'waiting',
      (c) => condition(c, 'AccessGranted')?.message?.includes('Queued for the next write') ?? false,
      'queued for the bucket policy write (status says so)',
    );
    expect(condition(queued, 'Ready')).toMatchObject({ status: 'False', reason: 'GrantPending' });
    // Its intent is recorded before the write (least privilege: a crash now loses no grant).
    expect(queued.status?.grants?.map((g) => g.members)).toEqual([[wiPrincipal(bc.ns, 'spark')]]);

    await apply(kc, sparkApp(mf.ns, 'folder-job'));
    await waitForCheckpoint(kc, mf.ns, 'folder-job', isReady, 'Ready');
    // The one worker was free: the BucketCondition change is still waiting for its slot.
    expect(isReady((await getCheckpoint(kc, bc.ns, 'waiting')) as Checkpoint)).toBe(false);

    // ... and is then woken: Ready, with the grant read back and the record narrowed to it.
    const done = await waitForCheckpoint(kc, bc.ns, 'waiting', isReady, 'Ready', 60_000);
    expect(done.status?.grantedMembers).toEqual([wiPrincipal(bc.ns, 'spark')]);
    expect(condition(done, 'AccessGranted')).toMatchObject({ status: 'True', reason: 'Granted' });
    const token = await mintToken(fx.emu, wiPrincipal(bc.ns, 'spark'));
    expect(await writeAs(fx, token, `${done.spec.prefix}q/commits/0`)).toBe(200);
  });

  it('N BucketCondition jobs created at once all end Ready with exactly their own grants', async () => {
    const n = 12;
    const sas = Array.from({ length: n }, (_, i) => ({ name: `sa-${i}` }));
    const s = await fixtureScenario(fx, cleanups, { mode: 'BucketCondition', hold: '0s' }, sas);
    await Promise.all(sas.map((sa, i) => apply(kc, sparkApp(s.ns, `job-${i}`, { sa: sa.name }))));
    const cps = await Promise.all(
      sas.map((_, i) => waitForCheckpoint(kc, s.ns, `job-${i}`, isReady, 'Ready', 120_000)),
    );
    const ours = (await tidemarkBindings()).filter((b) => b.condition?.expression?.includes(`/${s.ns}/`));
    expect(ours).toHaveLength(n);
    for (const [i, cp] of cps.entries()) {
      const member = wiPrincipal(s.ns, `sa-${i}`);
      expect(cp.status?.grants?.map((g) => g.members)).toEqual([[member]]);
      expect(ours.filter((b) => b.members?.includes(member)).map((b) => b.members)).toEqual([[member]]);
      const token = await mintToken(fx.emu, member);
      expect(await writeAs(fx, token, `${cp.spec.prefix}q/commits/0`)).toBe(200);
      const other = cps[(i + 1) % n] as Checkpoint;
      expect(await writeAs(fx, token, `${other.spec.prefix}q/commits/0`)).toBe(403);
    }
  });
});
