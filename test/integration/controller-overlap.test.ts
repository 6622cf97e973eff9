// Overlapping policy roots end to end (issue 8 item 3): real API server, the emulator judging who may touch what,
// the controller as its own identity. Roots R and R/<nsB> on one bucket: job <nsX> of namespace nsB under the
// first and job y of namespace nsX under the second would share gs://bucket/R/nsB/nsX/ — whichever policy is older,
// the one job never gets access to the other's data, the later policy provisions nothing and says why, and the
// orphan scan adopts nothing across roots.
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckpointPolicy } from '../../src/api/index.js';
import type { RunningControllerProcess } from '../../src/controller/run.js';
import { Resources } from '../../src/kube/resources.js';
import { type KubeObject, KubeRest } from '../../src/kube/rest.js';
import { googleStorage, mintToken, rootUrl, statusOf, storageClient } from '../emulator/clients.js';
import { uniqueSuffix, waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  getCheckpoint,
  isReady,
  namespaceWithSa,
  policy,
  sparkApp,
  useControllerFixture,
  waitForCheckpoint,
  wiPrincipal,
} from './controller-fixture.js';

let fx: Fixture;
let ctrl: RunningControllerProcess;
const { kc, cleanups } = useControllerFixture({
  ready: (f, c) => {
    [fx, ctrl] = [f, c as RunningControllerProcess];
  },
});
const rest = new KubeRest(kc);

afterAll(() => rest.close());

async function status(token: string, op: 'write' | 'list', path: string): Promise<number> {
  try {
    if (op === 'write') await storageClient(fx.emu, token).bucket(fx.bucket).file(path).save('x', { resumable: false });
    else await googleStorage(fx.emu, token).objects.list({ bucket: fx.bucket, prefix: path });
    return 200;
  } catch (err) {
    return statusOf(err) ?? 0;
  }
}

async function eventReasons(namespace: string, name: string): Promise<string[]> {
  const list = await rest.request<{ items: { reason?: string; regarding?: { name?: string } }[] }>(
    'GET',
    `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
  );
  return list.items.filter((e) => e.regarding?.name === name).map((e) => e.reason ?? '');
}

function waitForEvent(namespace: string, name: string, reason: string) {
  return waitFor(`Event ${reason} on ${namespace}/${name}`, async () =>
    (await eventReasons(namespace, name)).includes(reason) ? true : undefined,
  );
}

async function policyReady(name: string) {
  const p = await rest.get<CheckpointPolicy & KubeObject>(Resources.CheckpointPolicy, name);
  return p.status?.conditions?.find((c) => c.type === 'Ready');
}

async function setup(order: 'outer-first' | 'inner-first') {
  const tag = uniqueSuffix();
  const nsB = await namespaceWithSa(kc, { 'overlap-b': tag });
  const nsX = await namespaceWithSa(kc, { 'overlap-x': tag });
  cleanups.push(nsB.cleanup, nsX.cleanup);
  const root = `ovl-${tag}`;
  // Names sort in creation order, so the order holds even when both are created within one second.
  const [outerName, innerName] = order === 'outer-first' ? [`a-${tag}`, `b-${tag}`] : [`b-${tag}`, `a-${tag}`];
  const outer = policy(outerName, { bucket: fx.bucket, root, selectNamespace: { 'overlap-b': tag } });
  const inner = policy(innerName, {
    bucket: fx.bucket,
    root: `${root}/${nsB.name}`,
    selectNamespace: { 'overlap-x': tag },
  });
  for (const p of order === 'outer-first' ? [outer, inner] : [inner, outer]) {
    await apply(kc, p);
    cleanups.push(() => deleteObject(kc, p));
  }
  // The contested prefix: job <nsX> of nsB under the outer root is the namespace level of nsX under the inner one.
  const shared = `${root}/${nsB.name}/${nsX.name}/`;
  await apply(kc, sparkApp(nsB.name, nsX.name, { sa: 'spark' }));
  await apply(kc, sparkApp(nsX.name, 'y', { sa: 'spark' }));
  return {
    root,
    shared,
    nsB: nsB.name,
    nsX: nsX.name,
    outerName,
    innerName,
    tokenB: await mintToken(fx.emu, wiPrincipal(nsB.name, 'spark')),
    tokenX: await mintToken(fx.emu, wiPrincipal(nsX.name, 'spark')),
  };
}

describe('roots R and R/<ns> on one bucket', () => {
  it('outer policy older: the inner (later) provisions nothing, is not Ready, and the outer job stays out of the inner root', async () => {
    const s = await setup('outer-first');
    await waitForEvent(s.nsX, 'y', 'RootOverlap');
    await waitForEvent(s.nsB, s.nsX, 'RootOverlap');
    expect(await getCheckpoint(kc, s.nsX, 'y')).toBeUndefined();
    expect(await getCheckpoint(kc, s.nsB, s.nsX)).toBeUndefined();
    const ready = await waitFor('inner policy not Ready', async () => {
      const c = await policyReady(s.innerName);
      return c?.status === 'False' ? c : undefined;
    });
    expect(ready.reason).toBe('RootOverlap');
    expect(ready.message).toContain(`"${s.outerName}"`);
    const outerReady = await waitFor('outer policy Ready', async () => {
      const c = await policyReady(s.outerName);
      return c?.status === 'True' ? c : undefined;
    });
    expect(outerReady.message).toContain(`"${s.innerName}"`);

    // The emulator judges: neither job's identity can touch the contested data.
    for (const token of [s.tokenB, s.tokenX]) {
      expect(await status(token, 'write', `${s.shared}y/q/offsets/0`)).toBe(403);
      expect(await status(token, 'list', s.shared)).toBe(403);
    }
  });

  it('inner policy older: it provisions job y; the outer (later) provisions nothing and never reaches y’s data', async () => {
    const s = await setup('inner-first');
    const cp = await waitForCheckpoint(kc, s.nsX, 'y', isReady, 'Ready');
    expect(cp.spec.prefix).toBe(`${s.shared}y/`);
    await waitForEvent(s.nsB, s.nsX, 'RootOverlap');
    expect(await getCheckpoint(kc, s.nsB, s.nsX)).toBeUndefined();
    const ready = await waitFor('outer policy not Ready', async () => {
      const c = await policyReady(s.outerName);
      return c?.status === 'False' ? c : undefined;
    });
    expect(ready.reason).toBe('RootOverlap');
    expect(ready.message).toContain(`"${s.innerName}"`);

    expect(await status(s.tokenX, 'write', `${s.shared}y/q/offsets/0`)).toBe(200);
    expect(await status(s.tokenB, 'write', `${s.shared}y/q/offsets/1`)).toBe(403);
    expect(await status(s.tokenB, 'list', `${s.shared}y/`)).toBe(403);
    expect(await status(s.tokenB, 'list', s.shared)).toBe(403);
  });

  it('the orphan scan of the outer policy adopts its own orphans but nothing under the inner root', async () => {
    const s = await setup('outer-first');
    const admin = googleStorage(fx.emu, fx.emu.adminToken);
    const put = (name: string) =>
      admin.objects.insert({ bucket: fx.bucket, name, media: { body: 'x' } }, { rootUrl: rootUrl(fx.emu) });
    // Data of the inner policy's job y, a lookalike of job <nsX> of nsB, and a true orphan of the outer policy.
    await put(`${s.shared}y/q/offsets/0`);
    await put(`${s.shared}marker`);
    await put(`${s.root}/${s.nsX}/lost/q/offsets/0`);
    await waitFor('the controller leads', async () => (ctrl.isLeader() ? true : undefined));
    await ctrl.resyncNow();
    const lost = await waitForCheckpoint(kc, s.nsX, 'lost', (c) => c.status?.phase === 'Released', 'Released');
    expect(lost.spec.policyName).toBe(s.outerName);
    expect(await getCheckpoint(kc, s.nsB, s.nsX)).toBeUndefined();
    expect(await getCheckpoint(kc, s.nsX, 'y')).toBeUndefined();
  });
});
