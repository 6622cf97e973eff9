// The controller end to end: real API server, the emulator, the controller running with its own identity.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { RunningControllerProcess } from '../../src/controller/run.js';
import { googleStorage, mintToken, statusOf, storageClient } from '../emulator/clients.js';
import { waitFor } from '../harness/kube.js';
import {
  apply,
  deleteAppAndSettle,
  deleteObject,
  type Fixture,
  getCheckpoint,
  isReady,
  scheduledApp,
  sparkApp,
  useControllerFixture,
  waitForCheckpoint,
  wiPrincipal,
} from './controller-fixture.js';

let fx: Fixture;
let ctrl: RunningControllerProcess;
const { kc, cleanups, scenario } = useControllerFixture({
  ready: (f, c) => {
    [fx, ctrl] = [f, c as RunningControllerProcess];
  },
});

async function canWrite(token: string, object: string): Promise<number> {
  try {
    await storageClient(fx.emu, token).bucket(fx.bucket).file(object).save('x', { resumable: false });
    return 200;
  } catch (err) {
    return statusOf(err) ?? 0;
  }
}

async function canList(token: string, prefix: string): Promise<number> {
  try {
    await googleStorage(fx.emu, token).objects.list({ bucket: fx.bucket, prefix });
    return 200;
  } catch (err) {
    return statusOf(err) ?? 0;
  }
}

describe('ManagedFolder mode with Workload Identity principals', () => {
  it('gives a selected SparkApplication a Checkpoint, a prefix and a grant that ends exactly at its prefix', async () => {
    const s = await scenario();
    await apply(kc, sparkApp(s.ns, 'ingest', { sa: 'spark', executorSa: 'spark-exec' }));
    await apply(kc, sparkApp(s.ns, 'ingest2', { sa: 'spark' }));
    const cp = await waitForCheckpoint(kc, s.ns, 'ingest', isReady, 'Ready');
    const prefix = `${s.root}/${s.ns}/ingest/`;
    expect(cp.spec.uri).toBe(`gs://${fx.bucket}/${prefix}`);
    expect(cp.spec.prefix).toBe(prefix);
    expect(cp.spec.jobRef).toEqual({ kind: 'SparkApplication', name: 'ingest' });
    expect([...(cp.spec.members ?? [])].sort()).toEqual(
      [wiPrincipal(s.ns, 'spark'), wiPrincipal(s.ns, 'spark-exec')].sort(),
    );
    expect(cp.status?.phase).toBe('Bound');
    expect(cp.metadata.finalizers).toContain('tidemark.dev/checkpoint-protection');
    await waitForCheckpoint(kc, s.ns, 'ingest2', isReady, 'Ready');

    const driver = await mintToken(fx.emu, wiPrincipal(s.ns, 'spark-exec'));
    expect(await canWrite(driver, `${prefix}q1/offsets/0`)).toBe(200);
    expect(await canList(driver, `${prefix}q1/`)).toBe(200);
    const [data] = await storageClient(fx.emu, driver).bucket(fx.bucket).file(`${prefix}q1/offsets/0`).download();
    expect(data.toString()).toBe('x');
    // One character outside the prefix, the neighbour whose name starts the same, the namespace level, the root.
    expect(await canWrite(driver, `${s.root}/${s.ns}/ingestx`)).toBe(403);
    expect(await canWrite(driver, `${s.root}/${s.ns}/ingest2/q1/offsets/0`)).toBe(403);
    expect(await canList(driver, `${s.root}/${s.ns}/ingest2/`)).toBe(403);
    expect(await canList(driver, `${s.root}/${s.ns}/`)).toBe(403);
    expect(await canWrite(driver, 'elsewhere')).toBe(403);

    // The controller itself holds no more than its role: it cannot read or write job data, nor create buckets.
    expect(await canWrite(fx.controllerToken, `${prefix}q1/offsets/1`)).toBe(403);
    const read = await storageClient(fx.emu, fx.controllerToken)
      .bucket(fx.bucket)
      .file(`${prefix}q1/offsets/0`)
      .download()
      .then(
        () => 200,
        (err) => statusOf(err),
      );
    expect(read).toBe(403);
    const create = await googleStorage(fx.emu, fx.controllerToken)
      .buckets.insert({ project: 'tidemark-test', requestBody: { name: `x-${Date.now()}` } })
      .then(
        () => 200,
        (err) => statusOf(err),
      );
    expect(create).toBe(403);
  });

  it('binds every run of a ScheduledSparkApplication to one Checkpoint', async () => {
    const s = await scenario();
    const [sched] = await apply(kc, scheduledApp(s.ns, 'hourly'));
    const uid = sched?.metadata?.uid ?? '';
    const cp = await waitForCheckpoint(kc, s.ns, 'hourly', isReady, 'Ready');
    expect(cp.spec.jobRef).toEqual({ kind: 'ScheduledSparkApplication', name: 'hourly' });
    const run = (ts: string) =>
      sparkApp(s.ns, `hourly-${ts}`, {
        labels: { 'sparkoperator.k8s.io/scheduled-app-name': 'hourly' },
        owner: { name: 'hourly', uid },
      });
    await apply(kc, run('1700000000'));
    await apply(kc, run('1700003600'));
    // A finished run going away does not release the scheduled job's checkpoint.
    await deleteAppAndSettle(ctrl, kc, run('1700000000'));
    expect(await getCheckpoint(kc, s.ns, 'hourly-1700000000')).toBeUndefined();
    expect(await getCheckpoint(kc, s.ns, 'hourly-1700003600')).toBeUndefined();
    const again = await getCheckpoint(kc, s.ns, 'hourly');
    expect(again?.status?.phase).toBe('Bound');
    expect(again?.spec.uri).toBe(cp.spec.uri);
  });

  it('releases and revokes on delete, and re-binds the same prefix on re-create', async () => {
    const s = await scenario();
    const app = sparkApp(s.ns, 'etl');
    await apply(kc, app);
    const bound = await waitForCheckpoint(kc, s.ns, 'etl', isReady, 'Ready');
    const token = await mintToken(fx.emu, wiPrincipal(s.ns, 'spark'));
    expect(await canWrite(token, `${bound.spec.prefix}state/1`)).toBe(200);

    await deleteObject(kc, app);
    const released = await waitForCheckpoint(
      kc,
      s.ns,
      'etl',
      (cp) => cp.status?.phase === 'Released' && (cp.status.grantedMembers ?? []).length === 0,
      'Released and revoked',
    );
    expect(released.status?.releasedAt).toBeTruthy();
    expect(await canWrite(token, `${bound.spec.prefix}state/2`)).toBe(403);

    await apply(kc, sparkApp(s.ns, 'etl'));
    const rebound = await waitForCheckpoint(kc, s.ns, 'etl', isReady, 'Ready again');
    expect(rebound.spec.uri).toBe(bound.spec.uri);
    expect(rebound.metadata.uid).toBe(bound.metadata.uid);
    expect(rebound.status?.releasedAt).toBeUndefined();
    expect(await canWrite(token, `${bound.spec.prefix}state/3`)).toBe(200);
  });

  it('restores a grant removed by hand and records an orphaned prefix as Released', async () => {
    const s = await scenario();
    await apply(kc, sparkApp(s.ns, 'drifty'));
    const cp = await waitForCheckpoint(kc, s.ns, 'drifty', isReady, 'Ready');
    const admin = googleStorage(fx.emu, fx.emu.adminToken);
    const folder = cp.spec.prefix;
    const current = await admin.managedFolders.getIamPolicy({ bucket: fx.bucket, managedFolder: folder });
    await admin.managedFolders.setIamPolicy({
      bucket: fx.bucket,
      managedFolder: folder,
      requestBody: { bindings: [], etag: current.data.etag },
    });
    const token = await mintToken(fx.emu, wiPrincipal(s.ns, 'spark'));
    expect(await canWrite(token, `${folder}x`)).toBe(403);

    await admin.objects.insert(
      {
        bucket: fx.bucket,
        name: `${s.root}/${s.ns}/ghost/q1/commits/0`,
        media: { body: 'old' },
        uploadType: 'media',
      },
      { rootUrl: `${fx.emu.url}/` },
    );

    // The periodic resync, now: drift repair and the orphan scan.
    await ctrl.resyncNow();
    await waitFor('the removed grant to come back', async () => (await canWrite(token, `${folder}y`)) === 200);
    const orphan = await waitForCheckpoint(kc, s.ns, 'ghost', (c) => c.status?.phase === 'Released', 'Released');
    expect(orphan.spec.prefix).toBe(`${s.root}/${s.ns}/ghost/`);
    expect(orphan.spec.policyName).toBe(s.policyName);
    expect(orphan.status?.conditions?.find((c) => c.type === 'Bound')?.reason).toBe('Orphaned');
    expect(orphan.status?.releasedAt).toBeTruthy();
  });

  it("keeps the policy's counts in step with its Checkpoints (Bound, then Released)", async () => {
    const s = await scenario();
    await apply(kc, sparkApp(s.ns, 'count-a', { sa: 'spark' }));
    await apply(kc, sparkApp(s.ns, 'count-b', { sa: 'spark' }));
    await waitForCheckpoint(kc, s.ns, 'count-a', isReady, 'Ready');
    await waitForCheckpoint(kc, s.ns, 'count-b', isReady, 'Ready');
    const counts = async () => {
      const p = (await KubernetesObjectApi.makeApiClient(kc).read({
        apiVersion: 'tidemark.dev/v1alpha1',
        kind: 'CheckpointPolicy',
        metadata: { name: s.policyName },
      })) as { status?: { boundCount?: number; releasedCount?: number } };
      return `${p.status?.boundCount ?? 0} bound, ${p.status?.releasedCount ?? 0} released`;
    };
    await waitFor('2 bound', async () => (await counts()) === '2 bound, 0 released');
    await deleteAppAndSettle(ctrl, kc, sparkApp(s.ns, 'count-b', { sa: 'spark' }));
    await waitFor('1 bound, 1 released', async () => (await counts()) === '1 bound, 1 released');
  });
});
