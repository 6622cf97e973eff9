// Losing the lease stops the work at once (issue 8 item 8): the leader is mid-reconcile, blocked in a slow GCS
// call (the emulator's latency), when another candidate takes the Lease. From that moment the old leader makes no
// further GCS call (the emulator's counters by principal) and no Kubernetes write (the Checkpoint it was working
// on is never written again, no Event appears), and its term is over before it stands for election again.
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningControllerProcess } from '../../src/controller/run.js';
import { Resources } from '../../src/kube/resources.js';
import { type KubeObject, KubeRest } from '../../src/kube/rest.js';
import { formatMicroTime } from '../../src/kube/status.js';
import { counters, setConfig } from '../emulator/clients.js';
import { uniqueSuffix, waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  getCheckpoint,
  namespaceWithSa,
  policy,
  sparkApp,
  useControllerFixture,
} from './controller-fixture.js';

let fx: Fixture;
let ctrl: RunningControllerProcess;
const { kc, cleanups } = useControllerFixture({
  controller: { identity: `old-leader-${uniqueSuffix()}` },
  ready: (f, c) => {
    [fx, ctrl] = [f, c as RunningControllerProcess];
  },
});
const rest = new KubeRest(kc);

// Runs before the fixture's own afterAll (a stack): the emulator answers at once again before the cleanups.
afterAll(async () => {
  await setConfig(fx.emu, { latencyMs: 0 }).catch(() => undefined);
  rest.close();
});

async function controllerCalls(): Promise<number> {
  const c = (await counters(fx.emu)) as unknown as { byOpAndMember: Record<string, Record<string, number>> };
  let n = 0;
  for (const byMember of Object.values(c.byOpAndMember)) {
    for (const [member, count] of Object.entries(byMember)) if (member.includes('tidemark-controller')) n += count;
  }
  return n;
}

async function eventCount(namespace: string): Promise<number> {
  const list = await rest.request<{ items: unknown[] }>('GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`);
  return list.items.length;
}

describe('leadership lost mid-reconcile', () => {
  it('no GCS call and no Kubernetes write from the old leader after it lost the lease', async () => {
    await waitFor('the controller leads', async () => (ctrl.isLeader() ? true : undefined));
    const tag = uniqueSuffix();
    const ns = await namespaceWithSa(kc, { 'lease-test': tag });
    cleanups.push(ns.cleanup);
    const pol = policy(`lease-${tag}`, {
      bucket: fx.bucket,
      root: `lease-${tag}`,
      selectNamespace: { 'lease-test': tag },
    });
    await apply(kc, pol);
    cleanups.push(() => deleteObject(kc, pol));

    // The controller has nothing else to do (the shared test cluster may hold other files' leftovers): its work
    // queue is empty and no reconcile runs.
    await waitFor(
      'the controller is idle',
      async () => {
        const text = await (await fetch(`${ctrl.health.url}/metrics`)).text();
        const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
        const depth = value(/^workqueue_depth\{name="tidemark"\} (\S+)$/m);
        const active = value(/^controller_runtime_active_workers\{controller="checkpoint"\} (\S+)$/m);
        return depth === 0 && active === 0 ? true : undefined;
      },
      { timeoutMs: 120_000 },
    );
    // Every GCS call now takes 8 s: the job's first grant call will be in flight when the lease goes.
    await setConfig(fx.emu, { latencyMs: 8_000 });
    await apply(kc, sparkApp(ns.name, 'job', { sa: 'spark' }));
    // The grant is recorded (status.grants) before the GCS call that makes it: once the record is there, the
    // reconcile is in its GCS calls.
    await waitFor(
      'the Checkpoint records its grant (the reconcile is now in its GCS calls)',
      async () => {
        const c = await getCheckpoint(kc, ns.name, 'job');
        return (c?.status?.grants?.length ?? 0) > 0 ? c : undefined;
      },
      {
        timeoutMs: 60_000,
      },
    );

    // Another candidate takes the Lease (as a new leader would after an expiry the old one did not notice).
    const lease = await rest.get<KubeObject & { spec?: Record<string, unknown> }>(
      Resources.Lease,
      fx.leaseName,
      'default',
    );
    const now = formatMicroTime(new Date());
    await rest.replace(Resources.Lease, {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: 'another-replica',
        renewTime: now,
        acquireTime: now,
        leaseDurationSeconds: 3600,
      },
    });
    await waitFor('the old leader steps down', async () => (ctrl.isLeader() ? undefined : true), { timeoutMs: 15_000 });
    const calls = await controllerCalls();
    expect(calls).toBeGreaterThan(0); // the slow call in flight was counted when it arrived
    const cp = await getCheckpoint(kc, ns.name, 'job');
    const events = await eventCount(ns.name);

    // The old term is over (its in-flight reconcile returned) — without the fence it would finish the slow call
    // first, then write the Checkpoint's status and Events, and make further GCS calls.
    await ctrl.idle();
    await setConfig(fx.emu, { latencyMs: 0 });
    expect(await controllerCalls()).toBe(calls);
    const after = await getCheckpoint(kc, ns.name, 'job');
    expect(after?.metadata.resourceVersion).toBe(cp?.metadata.resourceVersion);
    expect(after?.status).toEqual(cp?.status);
    expect(await eventCount(ns.name)).toBe(events);
    expect(ctrl.isLeader()).toBe(false);
  }, 90_000);
});
