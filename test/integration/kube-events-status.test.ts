// Event recording (src/kube/events.ts) and status writes (src/kube/status.ts) against the real API server.
import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventRecorder } from '../../src/kube/events.js';
import { createLogger } from '../../src/kube/log.js';
import { Resources } from '../../src/kube/resources.js';
import { isConflict, type KubeList, type KubeObject, KubeRest, type ResourceType } from '../../src/kube/rest.js';
import { type Condition, StatusWriter, setCondition } from '../../src/kube/status.js';
import { createTestNamespace, testKubeConfig, uniqueSuffix, waitFor } from '../harness/kube.js';

const kc = testKubeConfig();
const rest = new KubeRest(kc);
let ns: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ name: ns, cleanup } = await createTestNamespace(kc, 'kube-events'));
});
afterAll(async () => {
  await cleanup();
});

interface EventObj extends KubeObject {
  reason?: string;
  note?: string;
  type?: string;
  action?: string;
  reportingController?: string;
  reportingInstance?: string;
  regarding?: { kind?: string; name?: string; namespace?: string; uid?: string };
  series?: { count: number; lastObservedTime: string };
  eventTime?: string;
}

async function eventsAbout(namespace: string, name: string): Promise<EventObj[]> {
  const list = await rest.request<KubeList<EventObj>>('GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`, {
    query: { fieldSelector: `regarding.name=${name}` },
  });
  return list.items;
}

/** A pino logger whose JSON lines the test can read. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe('EventRecorder', () => {
  it('writes events.k8s.io/v1 Events about an object, aggregating repeats into one series', async () => {
    const cm = await rest.create<KubeObject>(Resources.ConfigMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `ev-${uniqueSuffix()}`, namespace: ns },
    });
    const name = cm.metadata?.name as string;
    const recorder = new EventRecorder({ rest, reportingInstance: 'test-replica-1', seriesFlushMs: 200 });
    recorder.record(cm, { type: 'Normal', reason: 'GrantApplied', action: 'Grant', note: 'granted roles/x' });
    await recorder.flush();
    const [first, ...none] = await eventsAbout(ns, name);
    expect(none).toEqual([]);
    expect(first).toMatchObject({
      type: 'Normal',
      reason: 'GrantApplied',
      action: 'Grant',
      note: 'granted roles/x',
      reportingController: 'tidemark.dev/controller',
      reportingInstance: 'test-replica-1',
      regarding: { kind: 'ConfigMap', name, namespace: ns, uid: cm.metadata?.uid },
    });
    expect(first?.series).toBeUndefined();
    expect(first?.eventTime).toMatch(/\.\d{6}Z$/);

    for (let i = 0; i < 4; i++) {
      recorder.record(cm, { type: 'Normal', reason: 'GrantApplied', action: 'Grant', note: 'granted roles/x' });
    }
    recorder.record(cm, { type: 'Warning', reason: 'GrantFailed', action: 'Grant', note: 'boom' });
    await recorder.flush();
    await waitFor('series count 5', async () => {
      const evs = await eventsAbout(ns, name);
      return evs.find((e) => e.reason === 'GrantApplied')?.series?.count === 5;
    });
    const evs = await eventsAbout(ns, name);
    expect(evs.filter((e) => e.reason === 'GrantApplied')).toHaveLength(1); // one object, not five
    expect(evs.filter((e) => e.reason === 'GrantFailed')).toMatchObject([{ type: 'Warning', note: 'boom' }]);
    await recorder.close();
  });

  it('puts events about cluster-scoped objects in "default" and starts over when the API server dropped the Event', async () => {
    const nsName = `evns-${uniqueSuffix()}`;
    const obj = await rest.create(Resources.Namespace, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: nsName },
    });
    const recorder = new EventRecorder({ rest, reportingInstance: 'r' });
    recorder.record(obj, { type: 'Normal', reason: 'Noticed', action: 'Observe', note: 'hello' });
    await recorder.flush();
    const [ev] = await eventsAbout('default', nsName);
    expect(ev?.regarding).toMatchObject({ kind: 'Namespace', name: nsName });
    // The Event expires (event-ttl) or someone deletes it; the next repeat creates a new one carrying the count.
    await rest.delete(Resources.Event, ev?.metadata?.name as string, 'default');
    recorder.record(obj, { type: 'Normal', reason: 'Noticed', action: 'Observe', note: 'hello' });
    await recorder.flush();
    const again = await eventsAbout('default', nsName);
    expect(again).toHaveLength(1);
    expect(again[0]?.series?.count).toBe(2);
    expect(again[0]?.metadata?.name).not.toBe(ev?.metadata?.name);
    await recorder.close();
  });

  it('never throws: bad input and failed writes are logged and counted', async () => {
    const { logger, lines } = capturedLogger();
    const registry = new Registry();
    // A user with no rights at all: a real 403 from the API server.
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('no cluster');
    const sa = `nobody-${uniqueSuffix()}`;
    await rest.create(Resources.ServiceAccount, { metadata: { name: sa, namespace: ns } });
    const token = await rest.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} } },
    );
    const nobody = new KubeConfig();
    nobody.loadFromOptions({
      clusters: [cluster],
      users: [{ name: sa, token: token.status.token }],
      contexts: [{ name: sa, cluster: cluster.name, user: sa }],
      currentContext: sa,
    });
    const recorder = new EventRecorder({ rest: new KubeRest(nobody), reportingInstance: 'r', logger, registry });
    const target = { apiVersion: 'v1', kind: 'ConfigMap', name: 'whatever', namespace: ns };
    expect(() =>
      recorder.record(target, { type: 'Normal', reason: 'not camel', action: 'Act', note: '' }),
    ).not.toThrow();
    expect(() =>
      recorder.record({ metadata: {} }, { type: 'Normal', reason: 'Ok', action: 'Act', note: '' }),
    ).not.toThrow();
    expect(() => recorder.record(target, { type: 'Normal', reason: 'Ok', action: 'Act', note: 'x' })).not.toThrow();
    await recorder.flush();
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(3);
    expect(JSON.stringify(errors[2])).toMatch(/403|forbidden/i);
    const metrics = await registry.metrics();
    expect(metrics).toContain('tidemark_event_write_errors_total{reason="invalid"} 2');
    expect(metrics).toContain('tidemark_event_write_errors_total{reason="write"} 1');
    await recorder.close();
  });
});

describe('StatusWriter', () => {
  const group = `s${uniqueSuffix()}.kubetest.dev`;
  const gadgets: ResourceType = { group, version: 'v1', plural: 'gadgets', kind: 'Gadget', namespaced: true };
  const crds: ResourceType = {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    kind: 'CustomResourceDefinition',
    namespaced: false,
  };
  interface Gadget extends KubeObject {
    spec?: { size?: number };
    status?: { phase?: string; observedGeneration?: number; conditions?: Condition[] };
  }

  beforeAll(async () => {
    await rest.create(crds, {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `gadgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    });
    await waitFor('gadgets served', async () => {
      await rest.request('GET', `/apis/${group}/v1/gadgets`);
      return true;
    });
  });
  afterAll(async () => {
    await rest.delete(crds, `gadgets.${group}`);
  });

  it('writes status through /status: spec, labels and generation never change, conditions keep their times', async () => {
    const created = await rest.create<Gadget>(gadgets, {
      apiVersion: `${group}/v1`,
      kind: 'Gadget',
      metadata: { name: 'g1', namespace: ns, labels: { keep: 'me' } },
      spec: { size: 1 },
    });
    expect(created.metadata?.generation).toBe(1);
    const writer = new StatusWriter(rest);
    const t0 = new Date('2026-01-01T00:00:00Z');
    const conditions = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting', observedGeneration: 1 },
      t0,
    );
    const s1 = await writer.patch<Gadget>(gadgets, created, { phase: 'Pending', observedGeneration: 1, conditions });
    expect(s1.status).toEqual({ phase: 'Pending', observedGeneration: 1, conditions });
    expect(s1.spec).toEqual({ size: 1 });
    expect(s1.metadata?.generation).toBe(1);

    // Even a body that tries to change spec and labels through /status changes only status.
    const sneaky = await rest.mergePatch<Gadget>(
      gadgets,
      'g1',
      ns,
      { spec: { size: 99 }, metadata: { labels: { keep: 'changed' } }, status: { phase: 'Sneaky' } },
      'status',
    );
    expect(sneaky.spec).toEqual({ size: 1 });
    expect(sneaky.metadata?.labels).toEqual({ keep: 'me' });
    expect(sneaky.metadata?.generation).toBe(1);
    expect(sneaky.status?.phase).toBe('Sneaky');

    // Same status again → lastTransitionTime kept; a real transition moves it.
    const kept = setCondition(
      sneaky.status?.conditions,
      { type: 'Ready', status: 'False', reason: 'StillPending', message: 'x', observedGeneration: 1 },
      new Date(),
    );
    expect(kept[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    const s2 = await writer.patch<Gadget>(gadgets, sneaky, { conditions: kept, phase: 'Pending' });
    expect(s2.status?.conditions?.[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(s2.metadata?.generation).toBe(1);
  });

  it('is optimistic when asked: a stale resourceVersion gives 409 Conflict (patch and replace)', async () => {
    const created = await rest.create<Gadget>(gadgets, {
      apiVersion: `${group}/v1`,
      kind: 'Gadget',
      metadata: { name: 'g2', namespace: ns },
      spec: { size: 2 },
    });
    const writer = new StatusWriter(rest);
    const rv = created.metadata?.resourceVersion as string;
    const fresh = await writer.patch<Gadget>(gadgets, created, { phase: 'A' }, { resourceVersion: rv });
    expect(fresh.status?.phase).toBe('A');
    const stale = writer.patch(gadgets, created, { phase: 'B' }, { resourceVersion: rv });
    await expect(stale).rejects.toSatisfy(isConflict);
    await expect(writer.replace(gadgets, { ...created, status: { phase: 'C' } })).rejects.toSatisfy(isConflict);
    const replaced = await writer.replace<Gadget>(gadgets, { ...fresh, spec: { size: 50 }, status: { phase: 'D' } });
    expect(replaced.status?.phase).toBe('D');
    expect(replaced.spec).toEqual({ size: 2 });
    await expect(writer.replace(gadgets, { metadata: { name: 'g2', namespace: ns } })).rejects.toThrow(
      /no metadata.resourceVersion/,
    );
  });
});
