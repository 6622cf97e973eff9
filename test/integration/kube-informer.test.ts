// The robust informer (src/kube/informer.ts) against the real API server, including real ways for a watch to
// break: its CRD deleted and recreated, its RBAC revoked for a service-account user, and a proxy that cuts,
// fails, silences or thins out the watch stream.
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { informerLiveness, informerSynced, startHealthServer } from '../../src/kube/health.js';
import { Informer, type InformerOptions } from '../../src/kube/informer.js';
import { Resources } from '../../src/kube/resources.js';
import { isNotFound, type KubeObject, KubeRest, type ResourceType } from '../../src/kube/rest.js';
import { createTestNamespace, testKubeConfig, uniqueSuffix, waitFor } from '../harness/kube.js';
import { type FaultProxy, startFaultProxy } from './kube-fault-proxy.js';

const kc = testKubeConfig();
const admin = new KubeRest(kc);
let ns: string;
let cleanup: () => Promise<void>;
const started: Informer[] = [];

beforeAll(async () => {
  ({ name: ns, cleanup } = await createTestNamespace(kc, 'kube-informer'));
});
afterAll(async () => {
  await Promise.all(started.map((i) => i.stop()));
  await cleanup();
});

type Seen = { type: 'add' | 'update' | 'delete'; name: string; finalStateUnknown?: boolean; data?: unknown };

/** Starts an informer with fast backoff (tests only) and records what its handlers see. */
function startInformer<T extends KubeObject>(o: Partial<InformerOptions<T>> & Pick<InformerOptions<T>, 'resource'>) {
  const informer = new Informer<T>({
    rest: admin,
    backoff: { initialMs: 50, maxMs: 500 },
    ...o,
  });
  const seen: Seen[] = [];
  informer.addHandlers({
    onAdd: (obj) => seen.push({ type: 'add', name: obj.metadata?.name ?? '', data: obj.data }),
    onUpdate: (_old, obj) => seen.push({ type: 'update', name: obj.metadata?.name ?? '', data: obj.data }),
    onDelete: (obj, info) =>
      seen.push({ type: 'delete', name: obj.metadata?.name ?? '', finalStateUnknown: info.finalStateUnknown }),
  });
  informer.start();
  started.push(informer as Informer);
  return { informer, seen };
}

function configMap(name: string, labels: Record<string, string> = {}, data: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels }, data };
}

const has = (seen: Seen[], s: Partial<Seen>) =>
  seen.some((x) => Object.entries(s).every(([k, v]) => JSON.stringify(x[k as keyof Seen]) === JSON.stringify(v)));

describe('Informer', () => {
  it('lists, then sees adds, updates and deletes of label-selected ConfigMaps; caches them without managedFields', async () => {
    const app = `inf-${uniqueSuffix()}`;
    await admin.create(Resources.ConfigMap, configMap('pre', { app }, { v: '1' }));
    await admin.create(Resources.ConfigMap, configMap('other', { app: 'someone-else' }));
    const registry = new Registry();
    const { informer, seen } = startInformer({
      resource: Resources.ConfigMap,
      namespace: ns,
      labelSelector: `app=${app}`,
      registry,
      name: 'cms',
    });
    await informer.waitForSync();
    expect(informer.hasSynced()).toBe(true);
    expect(informer.keys()).toEqual([`${ns}/pre`]);
    const pre = informer.get('pre', ns);
    expect(pre?.metadata?.managedFields).toBeUndefined();
    expect(pre?.kind).toBe('ConfigMap'); // filled in although list items have no kind
    expect(pre?.apiVersion).toBe('v1');
    expect(seen).toEqual([{ type: 'add', name: 'pre', data: { v: '1' } }]);
    expect(informer.list(ns).map((o) => o.metadata?.name)).toEqual(['pre']);
    expect(informer.list('elsewhere')).toEqual([]);

    await admin.create(Resources.ConfigMap, configMap('b', { app }));
    await waitFor('add of b', () => has(seen, { type: 'add', name: 'b' }));
    await admin.mergePatch(Resources.ConfigMap, 'pre', ns, { data: { v: '2' } });
    await waitFor('update of pre', () => has(seen, { type: 'update', name: 'pre', data: { v: '2' } }));
    expect(informer.get('pre', ns)?.data).toEqual({ v: '2' });
    await admin.delete(Resources.ConfigMap, 'b', ns);
    await waitFor('delete of b', () => has(seen, { type: 'delete', name: 'b', finalStateUnknown: false }));
    // Leaving the selector is a delete for this informer.
    await admin.mergePatch(Resources.ConfigMap, 'pre', ns, { metadata: { labels: { app: 'moved' } } });
    await waitFor('pre leaving the selector', () => has(seen, { type: 'delete', name: 'pre' }));
    expect(informer.size).toBe(0);
    expect(informer.list(ns)).toEqual([]);
    expect(seen.some((s) => s.name === 'other')).toBe(false);

    const metrics = await registry.metrics();
    expect(metrics).toMatch(/tidemark_informer_events_total\{informer="cms",type="ADDED"\} [1-9]/);
    expect(metrics).toMatch(/tidemark_informer_events_total\{informer="cms",type="DELETED"\} [1-9]/);
    expect(metrics).toContain('tidemark_informer_relists_total{informer="cms",reason="initial"} 1');
    expect(metrics).toContain('tidemark_informer_cache_objects{informer="cms"} 0');
    expect(metrics).toContain('tidemark_informer_watch_open{informer="cms"} 1');
    expect(metrics).toContain('tidemark_informer_synced{informer="cms"} 1');
    await informer.stop();
    expect(informer.health().watching).toBe(false);
  });

  it('stops at any moment, even right between its first list and its first watch', async () => {
    for (let i = 0; i < 3; i++) {
      const informer = new Informer({ rest: admin, resource: Resources.ConfigMap, namespace: ns });
      informer.start();
      await informer.waitForSync(); // resolves inside the list; stop() then runs before the watch starts
      const stopped = await Promise.race([
        informer.stop().then(() => 'stopped'),
        new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000)),
      ]);
      expect(stopped).toBe('stopped');
      expect(informer.health().watching).toBe(false);
    }
  });

  it('watches a cluster-scoped kind across pages (Namespaces, label selector, 2 objects per page)', async () => {
    const mark = `ns-${uniqueSuffix()}`;
    const names = [0, 1, 2, 3, 4].map((i) => `${mark}-${i}`);
    for (const name of names.slice(0, 3)) {
      await admin.create(Resources.Namespace, { metadata: { name, labels: { mark } } });
    }
    const { informer, seen } = startInformer({
      resource: Resources.Namespace,
      labelSelector: `mark=${mark}`,
      pageSize: 2,
    });
    await informer.waitForSync();
    expect(informer.keys().sort()).toEqual(names.slice(0, 3));
    await admin.create(Resources.Namespace, { metadata: { name: names[3], labels: { mark } } });
    await waitFor('namespace add', () => informer.get(names[3] as string));
    expect(has(seen, { type: 'add', name: names[3] })).toBe(true);
    expect(informer.list().every((n) => n.kind === 'Namespace' && !n.metadata?.namespace)).toBe(true);
    await informer.stop();
  });

  it('recovers when its CRD is deleted and created again, and its cache converges', async () => {
    const group = `t${uniqueSuffix()}.kubetest.dev`;
    const widgets: ResourceType = { group, version: 'v1', plural: 'widgets', kind: 'Widget', namespaced: true };
    await createCrd(group);
    await admin.create(widgets, {
      apiVersion: `${group}/v1`,
      kind: 'Widget',
      metadata: { name: 'old', namespace: ns },
    });
    const registry = new Registry();
    const { informer, seen } = startInformer({ resource: widgets, registry, name: 'widgets' });
    await informer.waitForSync();
    expect(informer.keys()).toEqual([`${ns}/old`]);

    await deleteCrd(group);
    // Its objects went with it. The informer hears that only if the DELETED events reach its watch before the API
    // server tears the kind's storage down (a race the server decides); its relists then fail with 404 and change
    // nothing: a failed list is no proof that the objects are gone, so the cache is kept (client-go's reflector keeps
    // its store the same way). It keeps failing with backoff.
    await waitFor('a failed restart', () => informer.health().restarts >= 2 && informer.health().lastError);
    expect(informer.health().lastError).toMatch(/404/);

    await createCrd(group);
    await waitFor('API serves widgets again', async () => {
      await admin.create(widgets, {
        apiVersion: `${group}/v1`,
        kind: 'Widget',
        metadata: { name: 'new', namespace: ns },
      });
      return true;
    });
    await waitFor('the recreated kind in the cache', () => informer.get('new', ns), { timeoutMs: 45_000 });
    expect(informer.keys()).toEqual([`${ns}/new`]);
    // By now the delete of old was emitted: by the watch during the outage, or by the first relist that worked.
    expect(has(seen, { type: 'delete', name: 'old' })).toBe(true);
    await waitFor('a live watch again', () => informer.health().watching);
    expect(await registry.metrics()).toMatch(/tidemark_informer_restarts_total\{informer="widgets"\} [1-9]/);
    await informer.stop();
    await deleteCrd(group);
  });

  it('recovers when its service account loses and regains RBAC access', async () => {
    const sa = `reader-${uniqueSuffix()}`;
    await admin.create(Resources.ServiceAccount, { metadata: { name: sa, namespace: ns } });
    const rbac = { group: 'rbac.authorization.k8s.io', version: 'v1', namespaced: true };
    const roles: ResourceType = { ...rbac, plural: 'roles', kind: 'Role' };
    const bindings: ResourceType = { ...rbac, plural: 'rolebindings', kind: 'RoleBinding' };
    await admin.create(roles, {
      metadata: { name: sa, namespace: ns },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
    });
    const binding = {
      metadata: { name: sa, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    };
    await admin.create(bindings, binding);
    const tokenRequest = await admin.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } } },
    );
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('no cluster');
    const saConfig = new KubeConfig();
    saConfig.loadFromOptions({
      clusters: [cluster],
      users: [{ name: sa, token: tokenRequest.status.token }],
      contexts: [{ name: sa, cluster: cluster.name, user: sa }],
      currentContext: sa,
    });
    const app = `rbac-${uniqueSuffix()}`;
    const { informer } = startInformer({
      rest: new KubeRest(saConfig),
      resource: Resources.ConfigMap,
      namespace: ns,
      labelSelector: `app=${app}`,
      watchTimeoutSeconds: 1, // short watches: the next one is authorized again soon after the revocation
    });
    await informer.waitForSync();

    await admin.delete(bindings, sa, ns);
    await waitFor('a forbidden restart', () => /403|forbidden/i.test(informer.health().lastError ?? ''));
    await admin.create(Resources.ConfigMap, configMap('while-forbidden', { app }));
    await admin.create(bindings, binding);
    await waitFor('the object created while forbidden', () => informer.get('while-forbidden', ns), {
      timeoutMs: 45_000,
    });
    await informer.stop();
  });

  describe('behind a fault-injecting proxy', () => {
    let proxy: FaultProxy;
    let viaProxy: KubeRest;
    beforeAll(async () => {
      proxy = await startFaultProxy(kc);
      viaProxy = new KubeRest(proxy.kubeConfig);
    });
    afterAll(async () => {
      await proxy.close();
    });

    it('a relist restores a delete that the watch missed (manual and periodic relist)', async () => {
      const app = `miss-${uniqueSuffix()}`;
      await admin.create(Resources.ConfigMap, configMap('doomed', { app }));
      const manual = startInformer({
        rest: viaProxy,
        resource: Resources.ConfigMap,
        namespace: ns,
        labelSelector: `app=${app}`,
        relistIntervalMs: 0,
      });
      const periodic = startInformer({
        rest: viaProxy,
        resource: Resources.ConfigMap,
        namespace: ns,
        labelSelector: `app=${app}`,
        relistIntervalMs: 1500,
      });
      await manual.informer.waitForSync();
      await periodic.informer.waitForSync();
      proxy.faults.dropEvents.add('DELETED');
      try {
        await admin.delete(Resources.ConfigMap, 'doomed', ns);
        await admin.create(Resources.ConfigMap, configMap('marker', { app }));
        // The marker arrives after the delete in the same stream: the delete was missed, not merely late.
        await waitFor('marker (manual)', () => manual.informer.get('marker', ns));
        expect(manual.informer.get('doomed', ns)).toBeDefined();
        manual.informer.relist();
        await waitFor('doomed gone after relist', () => !manual.informer.get('doomed', ns));
        expect(has(manual.seen, { type: 'delete', name: 'doomed', finalStateUnknown: true })).toBe(true);
        await waitFor('doomed gone after periodic relist', () => !periodic.informer.get('doomed', ns));
        expect(has(periodic.seen, { type: 'delete', name: 'doomed', finalStateUnknown: true })).toBe(true);
        expect(periodic.informer.get('marker', ns)).toBeDefined();
      } finally {
        proxy.faults.dropEvents.clear();
      }
      await manual.informer.stop();
      await periodic.informer.stop();
    });

    it('keeps its cache while lists fail with 404 (no delete is made up), and diffs once they work again', async () => {
      const app = `gone-${uniqueSuffix()}`;
      await admin.create(Resources.ConfigMap, configMap('kept', { app }));
      const { informer, seen } = startInformer({
        rest: viaProxy,
        resource: Resources.ConfigMap,
        namespace: ns,
        labelSelector: `app=${app}`,
        backoff: { initialMs: 100, maxMs: 400 },
      });
      await informer.waitForSync();
      const mine = (_m: string, url: URL) => (url.searchParams.get('labelSelector') ?? '').includes(app);
      proxy.faults.failRequests = { status: 404, match: mine }; // as for a kind whose CRD is gone
      proxy.faults.dropEvents.add('DELETED');
      try {
        await admin.delete(Resources.ConfigMap, 'kept', ns);
        proxy.cutWatches();
        await waitFor('lists failing with 404', () => informer.health().restarts >= 3);
        expect(informer.health().lastError).toMatch(/404/);
        expect(informer.get('kept', ns)).toBeDefined();
        expect(has(seen, { type: 'delete', name: 'kept' })).toBe(false);
      } finally {
        proxy.faults.failRequests = undefined;
        proxy.faults.dropEvents.clear();
      }
      await waitFor('the delete found by the first list that works', () => !informer.get('kept', ns));
      expect(has(seen, { type: 'delete', name: 'kept', finalStateUnknown: true })).toBe(true);
      await informer.stop();
    });

    it('rebuilds a watch that went silent, and catches up through the relist', async () => {
      const app = `silent-${uniqueSuffix()}`;
      const { informer } = startInformer({
        rest: viaProxy,
        resource: Resources.ConfigMap,
        namespace: ns,
        labelSelector: `app=${app}`,
        livenessTimeoutMs: 1500,
      });
      await informer.waitForSync();
      const watchesBefore = proxy.watches();
      proxy.faults.silent = true;
      try {
        await admin.create(Resources.ConfigMap, configMap('during-silence', { app }));
        await waitFor('liveness restart', () => /silent/.test(informer.health().lastError ?? ''));
        // Lists still pass the proxy: the relist after the rebuild brings the object in although watches are mute.
        await waitFor('object created during the silence', () => informer.get('during-silence', ns));
        expect(proxy.watches()).toBeGreaterThan(watchesBefore);
      } finally {
        proxy.faults.silent = false;
      }
      await admin.create(Resources.ConfigMap, configMap('after-silence', { app }));
      await waitFor('object created after the silence', () => informer.get('after-silence', ns));
      await informer.stop();
    });

    it('gives up on a watch request that is never answered, and catches up through the relist', async () => {
      const app = `held-${uniqueSuffix()}`;
      const { informer } = startInformer({
        rest: viaProxy,
        resource: Resources.ConfigMap,
        namespace: ns,
        labelSelector: `app=${app}`,
        livenessTimeoutMs: 1500,
      });
      await informer.waitForSync();
      proxy.faults.holdWatches = true;
      try {
        proxy.cutWatches(); // the next watch request hangs without an answer
        await admin.create(Resources.ConfigMap, configMap('while-held', { app }));
        await waitFor('liveness restart', () => /not established/.test(informer.health().lastError ?? ''));
        await waitFor('object created while watches hang', () => informer.get('while-held', ns));
      } finally {
        proxy.faults.holdWatches = false;
      }
      await informer.stop();
    });

    it('resumes after a cut connection and backs off through failing requests; /healthz and /readyz tell', async () => {
      const app = `cut-${uniqueSuffix()}`;
      const registry = new Registry();
      const mine = (_m: string, url: URL) => (url.searchParams.get('labelSelector') ?? '').includes(app);
      proxy.faults.failRequests = { status: 500, match: mine }; // cannot sync until lifted
      const { informer } = startInformer({
        rest: viaProxy,
        resource: Resources.ConfigMap,
        namespace: ns,
        labelSelector: `app=${app}`,
        unhealthyAfterMs: 300,
        name: 'cut',
        registry,
      });
      const health = await startHealthServer({
        registry,
        liveness: [informerLiveness(informer as Informer)],
        readiness: [informerSynced(informer as Informer)],
      });
      try {
        const notReady = await fetch(`${health.url}/readyz`);
        expect(notReady.status).toBe(500);
        expect(await notReady.text()).toContain('[-]informer-synced:cut failed: not synced yet');
        proxy.faults.failRequests = undefined;
        await informer.waitForSync();
        expect((await fetch(`${health.url}/readyz`)).status).toBe(200);
        expect((await fetch(`${health.url}/healthz`)).status).toBe(200);

        // A cut stream (server-side timeout, load balancer): re-watch from the last resourceVersion, no restart.
        await waitFor('the watch open', () => informer.health().watching);
        const restarts = informer.health().restarts;
        const watches = proxy.watches();
        proxy.cutWatches();
        await waitFor('a new watch', () => proxy.watches() > watches && informer.health().watching);
        await admin.create(Resources.ConfigMap, configMap('after-cut', { app }));
        await waitFor('object after the cut', () => informer.get('after-cut', ns));
        expect(informer.health().restarts).toBe(restarts);

        // Now every request fails: restarts with backoff, healthz turns red once the watch is down long enough.
        proxy.faults.failRequests = { status: 500, match: mine };
        proxy.cutWatches();
        await waitFor('restarts', () => informer.health().restarts >= restarts + 2);
        await waitFor('healthz failing', async () => (await fetch(`${health.url}/healthz`)).status === 500);
        const body = await (await fetch(`${health.url}/healthz`)).text();
        expect(body).toContain('[-]informer:cut failed');
        await admin.create(Resources.ConfigMap, configMap('during-outage', { app }));
        proxy.faults.failRequests = undefined;
        await waitFor('object from the outage', () => informer.get('during-outage', ns));
        await waitFor('healthz green again', async () => (await fetch(`${health.url}/healthz`)).status === 200);
        const metrics = await (await fetch(`${health.url}/metrics`)).text();
        expect(metrics).toMatch(/tidemark_informer_restarts_total\{informer="cut"\} [2-9]/);
      } finally {
        proxy.faults.failRequests = undefined;
        await health.close();
        await informer.stop();
      }
    });
  });
});

const crds: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
};

async function createCrd(group: string): Promise<void> {
  const name = `widgets.${group}`;
  await waitFor('old CRD gone', async () => {
    try {
      await admin.get(crds, name);
      return false;
    } catch (err) {
      if (isNotFound(err)) return true;
      throw err;
    }
  });
  await admin.create(crds, {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });
  await waitFor('CRD established', async () => {
    const crd = await admin.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(
      crds,
      name,
    );
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  });
}

async function deleteCrd(group: string): Promise<void> {
  await admin.delete(crds, `widgets.${group}`);
}
