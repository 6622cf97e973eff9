// Identity resolution end to end (issue 8 item 10): a job whose driver account is named only in its pod template
// (as one of the Spark Operator's own examples does) is granted to that account, not to `default`; a job whose
// sources disagree gets an IdentitySourcesDisagree Event on its Checkpoint. The emulator judges the grant.
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeRest } from '../../src/kube/rest.js';
import { mintToken, statusOf, storageClient } from '../emulator/clients.js';
import { uniqueSuffix, waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  isReady,
  namespaceWithSa,
  policy,
  sparkApp,
  useControllerFixture,
  waitForCheckpoint,
  wiPrincipal,
} from './controller-fixture.js';

let fx: Fixture;
let ns: string;
let root: string;
const { kc, cleanups } = useControllerFixture({
  ready: (f) => {
    fx = f;
  },
});
const rest = new KubeRest(kc);

beforeAll(async () => {
  const tag = uniqueSuffix();
  const n = await namespaceWithSa(kc, { 'identity-test': tag }, [{ name: 'from-template' }, { name: 'spark' }]);
  cleanups.push(n.cleanup);
  ns = n.name;
  root = `ident-${tag}`;
  const pol = policy(`ident-${tag}`, { bucket: fx.bucket, root, selectNamespace: { 'identity-test': tag } });
  await apply(kc, pol);
  cleanups.push(() => deleteObject(kc, pol));
});

afterAll(() => rest.close());

function withDriver(name: string, driver: Record<string, unknown>): KubernetesObject {
  const app = sparkApp(ns, name) as KubernetesObject & { spec: { driver: Record<string, unknown> } };
  const { serviceAccount: _sa, ...rest } = app.spec.driver;
  app.spec.driver = { ...rest, ...driver };
  return app;
}

async function write(principal: string, object: string): Promise<number> {
  const token = await mintToken(fx.emu, principal);
  try {
    await storageClient(fx.emu, token).bucket(fx.bucket).file(object).save('x', { resumable: false });
    return 200;
  } catch (err) {
    return statusOf(err) ?? 0;
  }
}

describe('which identity a job runs as', () => {
  it('the driver pod template’s serviceAccountName gets the grant (executors fall back to default, as in Spark)', async () => {
    await apply(kc, withDriver('tpl', { template: { spec: { serviceAccountName: 'from-template' } } }));
    const cp = await waitForCheckpoint(kc, ns, 'tpl', isReady, 'Ready');
    // Executors fall back to the driver's conf, which is unset here: they run as `default`.
    expect([...(cp.spec.members ?? [])].sort()).toEqual(
      [wiPrincipal(ns, 'default'), wiPrincipal(ns, 'from-template')].sort(),
    );
    expect(await write(wiPrincipal(ns, 'from-template'), `${root}/${ns}/tpl/q/offsets/0`)).toBe(200);
  });

  it('spec.driver.serviceAccount wins over a disagreeing template, and the Checkpoint says so', async () => {
    await apply(
      kc,
      withDriver('both', { serviceAccount: 'spark', template: { spec: { serviceAccountName: 'from-template' } } }),
    );
    const cp = await waitForCheckpoint(kc, ns, 'both', isReady, 'Ready');
    expect(cp.spec.members).toEqual([wiPrincipal(ns, 'spark')]);
    const ev = await waitFor('IdentitySourcesDisagree Event', async () => {
      const list = await rest.request<{
        items: { reason?: string; note?: string; regarding?: { kind?: string; name?: string } }[];
      }>('GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events`);
      return list.items.find(
        (e) =>
          e.reason === 'IdentitySourcesDisagree' && e.regarding?.kind === 'Checkpoint' && e.regarding.name === 'both',
      );
    });
    expect(ev.note).toContain('"from-template"');
    expect(await write(wiPrincipal(ns, 'from-template'), `${root}/${ns}/both/q/offsets/0`)).toBe(403);
  });
});
