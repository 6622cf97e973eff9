// Admission end to end: the real API server calls the controller's webhooks over TLS (URL-based configurations on
// 127.0.0.1, kept by the controller), with certificates the controller bootstrapped into a Secret.
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import { ApiException, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULING_GATE } from '../../src/api/index.js';
import type { RunningControllerProcess } from '../../src/controller/run.js';
import { freePorts } from '../../src/localcluster/ports.js';
import { createTestNamespace, kubectl, uniqueSuffix, waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  isReady,
  namespaceWithSa,
  policy,
  scheduledApp,
  sparkApp,
  useControllerFixture,
  waitForCheckpoint,
} from './controller-fixture.js';

const tag = uniqueSuffix();
let fx: Fixture;
const { kc, cleanups } = useControllerFixture({
  bucket: `adm-${tag}`,
  controller: false,
  ready: (f) => {
    fx = f;
  },
});
const client = KubernetesObjectApi.makeApiClient(kc);
let secretNs: string;
let portA: number;
let portB: number;
let a: RunningControllerProcess | undefined;
let b: RunningControllerProcess | undefined;
const ns: Record<'warn' | 'deny' | 'gate' | 'none', string> = { warn: '', deny: '', gate: '', none: '' };
const policies: KubernetesObject[] = [];

type Obj = KubernetesObject & { spec?: Record<string, unknown>; [k: string]: unknown };
type SparkConf = Record<string, string>;

const webhook = (port: number, secret: string, extra: object = {}) => ({
  host: '127.0.0.1',
  port,
  target: { kind: 'URL' as const, url: `https://127.0.0.1:${port}` },
  tls: { kind: 'Secret' as const, namespace: secretNs, name: secret, pollMs: 1000 },
  gateEventAfterMs: 2000,
  ...extra,
});

async function readSecret(name: string) {
  const s = (await client.read({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: secretNs },
  })) as Obj & {
    data: Record<string, string>;
    type: string;
  };
  const d = (k: string) => Buffer.from(s.data[k] ?? '', 'base64').toString('utf8');
  return { s, crt: d('tls.crt'), ca: d('ca.crt'), rv: s.metadata?.resourceVersion };
}

/** The certificate a webhook server presents, verified against `ca`. */
function servedCert(port: number, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({
      host: '127.0.0.1',
      port,
      ca,
      servername: undefined,
      checkServerIdentity: () => undefined,
    });
    sock.once('secureConnect', () => {
      const raw = sock.getPeerX509Certificate();
      sock.destroy();
      if (!raw) reject(new Error('no peer certificate'));
      else resolve(raw);
    });
    sock.once('error', reject);
  });
}

async function configuration(kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration', name: string) {
  return (await client.read({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind,
    metadata: { name },
  })) as Obj & { webhooks?: { name: string; clientConfig: { caBundle?: string; url?: string } }[] };
}

async function create(obj: KubernetesObject): Promise<Obj> {
  return (await client.create(obj)) as Obj;
}

async function read(obj: KubernetesObject): Promise<Obj> {
  return (await client.read(obj as never)) as Obj;
}

/** The API server's code and Status message of a refused request. */
function errorText(err: unknown): string {
  if (!(err instanceof ApiException)) return String(err);
  let body: unknown = err.body;
  while (typeof body === 'string' && body.startsWith('{')) body = JSON.parse(body);
  const message = (body as { message?: unknown } | undefined)?.message;
  return `${err.code} ${typeof message === 'string' ? message : JSON.stringify(body)}`;
}

async function createFails(obj: KubernetesObject): Promise<string> {
  try {
    await client.create(obj);
  } catch (err) {
    return errorText(err);
  }
  throw new Error(`${obj.kind} ${obj.metadata?.name} was admitted`);
}

const conf = (o: Obj): SparkConf => ((o.spec as { sparkConf?: SparkConf }).sparkConf ?? {}) as SparkConf;

function driverPod(namespace: string, app: string, o: { name?: string; sa?: string; role?: string } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name ?? `${app}-driver`,
      namespace,
      labels: {
        'sparkoperator.k8s.io/launched-by-spark-operator': 'true',
        'spark-role': o.role ?? 'driver',
        'sparkoperator.k8s.io/app-name': app,
      },
    },
    spec: {
      serviceAccountName: o.sa ?? 'spark',
      containers: [{ name: 'spark-kubernetes-driver', image: 'spark:4.0.0' }],
    },
  } as KubernetesObject;
}

const gates = (p: Obj) =>
  ((p.spec as { schedulingGates?: { name: string }[] }).schedulingGates ?? []).map((g) => g.name);

async function events(namespace: string, name: string, reason: string) {
  const list = (await client.list('events.k8s.io/v1', 'Event', namespace)) as unknown as {
    items: { reason?: string; note?: string; regarding?: { name?: string; kind?: string } }[];
  };
  return list.items.filter((e) => e.regarding?.name === name && e.reason === reason);
}

async function metric(ctrl: RunningControllerProcess, line: string): Promise<number> {
  const text = await (await fetch(`${ctrl.health.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found ? Number(found.split(' ').pop()) : 0;
}

const uri = (namespace: string, job: string, root: string) => `gs://${fx.bucket}/${root}/${namespace}/${job}/`;
const roots = { warn: `ckpts/${tag}/warn`, deny: `ckpts/${tag}/deny`, gate: `ckpts/${tag}/gate` };

beforeAll(async () => {
  const secret = await createTestNamespace(kc, 'tidemark-system');
  secretNs = secret.name;
  cleanups.push(secret.cleanup);
  for (const k of ['warn', 'deny', 'gate'] as const) {
    const n = await namespaceWithSa(kc, { 'tidemark-admission-test': `${tag}-${k}` });
    cleanups.push(n.cleanup);
    ns[k] = n.name;
    const p = policy(`adm-${tag}-${k}`, {
      bucket: fx.bucket,
      root: roots[k],
      selectNamespace: { 'tidemark-admission-test': `${tag}-${k}` },
      hold: k === 'gate' ? '6s' : '1s',
    }) as Obj;
    if (k === 'deny') (p.spec as Record<string, unknown>).admission = { outsidePrefix: 'Deny' };
    await apply(kc, p);
    policies.push(p);
  }
  const none = await namespaceWithSa(kc, {});
  cleanups.push(none.cleanup);
  ns.none = none.name;
  [portA, portB] = (await freePorts(2)) as [number, number];
  a = await fx.startController({ identity: 'replica-a', webhook: webhook(portA, 'webhook-tls') });
  await waitFor('the webhook entries of the test policies', async () => {
    const m = await configuration('MutatingWebhookConfiguration', 'tidemark-mutating');
    const mine = (m.webhooks ?? []).filter((w) => w.name.startsWith(`adm-${tag}-`));
    return mine.length === 6 && mine.every((w) => w.clientConfig.caBundle) ? m : undefined;
  });
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  for (const p of policies) await deleteObject(kc, p).catch(() => undefined);
  for (const [kind, name] of [
    ['MutatingWebhookConfiguration', 'tidemark-mutating'],
    ['ValidatingWebhookConfiguration', 'tidemark-validating'],
  ] as const) {
    await client
      .delete({ apiVersion: 'admissionregistration.k8s.io/v1', kind, metadata: { name } })
      .catch(() => undefined);
  }
  // Then the fixture's afterAll: the cleanups, newest first, and the fixture.
});

describe('TLS', () => {
  it('bootstraps a CA and serving certificate into an absent Secret and publishes the CA as caBundle', async () => {
    const { s, crt, ca } = await readSecret('webhook-tls');
    expect(s.type).toBe('kubernetes.io/tls');
    expect(Object.keys(s.data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const served = await servedCert(portA, ca);
    expect(served.serialNumber).toBe(new X509Certificate(crt).serialNumber);
    expect(served.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const m = await configuration('MutatingWebhookConfiguration', 'tidemark-mutating');
    const v = await configuration('ValidatingWebhookConfiguration', 'tidemark-validating');
    for (const w of [...(m.webhooks ?? []).filter((x) => x.name.startsWith(`adm-${tag}-`)), ...(v.webhooks ?? [])]) {
      expect(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8')).toBe(ca);
    }
  });
});

describe('SparkApplication CREATE', () => {
  it('stores a selected job with its checkpoint location, the Hadoop settings and the URI annotation', async () => {
    const stored = await create(sparkApp(ns.warn, 'stream'));
    const want = uri(ns.warn, 'stream', roots.warn);
    expect(conf(stored)).toEqual({
      'spark.sql.streaming.checkpointLocation': want,
      'spark.hadoop.fs.gs.create.items.conflict.check.enable': 'false',
      'spark.hadoop.fs.gs.hierarchical.namespace.folders.enable': 'false',
    });
    expect(stored.metadata?.annotations?.['tidemark.dev/checkpoint-uri']).toBe(want);
    const cp = await waitForCheckpoint(kc, ns.warn, 'stream', isReady, 'Ready');
    expect(cp.spec.uri).toBe(want);
  });

  it('leaves an unselected job untouched, byte for byte (other namespace, or a job the jobSelector skips)', async () => {
    const calls = () =>
      metric(
        a as RunningControllerProcess,
        'tidemark_admission_requests_total{path="/mutate/sparkapplication",allowed="true"}',
      );
    const before = await calls();
    for (const [namespace, labels] of [
      [ns.none, {}],
      [ns.warn, { 'tidemark.dev/checkpoint': 'false' }],
    ] as const) {
      const sent = sparkApp(namespace, `plain-${uniqueSuffix()}`, { labels }) as Obj;
      const stored = await create(sent);
      // The API server writes keys in its own order; content must be exactly what was sent.
      expect(stored.spec).toStrictEqual(sent.spec);
      expect(stored.metadata?.annotations).toBeUndefined();
      expect(stored.metadata?.labels).toEqual(sent.metadata?.labels);
    }
    // The webhook saw the one in the selected namespace (and left it alone); the other never reached it.
    expect(await calls()).toBe(before + 1);
  });

  it("keeps a user's location inside the job's prefix and a Hadoop setting the user chose", async () => {
    const app = sparkApp(ns.warn, 'own-location') as Obj;
    const inside = `${uri(ns.warn, 'own-location', roots.warn)}v2`;
    (app.spec as Record<string, unknown>).sparkConf = { 'spark.sql.streaming.checkpointLocation': inside };
    (app.spec as Record<string, unknown>).hadoopConf = { 'fs.gs.create.items.conflict.check.enable': 'false' };
    const stored = await create(app);
    expect(conf(stored)).toEqual({
      'spark.sql.streaming.checkpointLocation': inside,
      'spark.hadoop.fs.gs.hierarchical.namespace.folders.enable': 'false',
    });
  });

  it('warns (admission warning and Event) about a location outside the prefix, or denies it, as the policy says', async () => {
    const outside = 'gs://elsewhere/checkpoints/x';
    const yaml = (namespace: string, name: string) =>
      JSON.stringify({
        ...(sparkApp(namespace, name) as Obj),
        spec: {
          ...((sparkApp(namespace, name) as Obj).spec as object),
          sparkConf: { 'spark.sql.streaming.checkpointLocation': outside },
        },
      });
    const warned = await kubectl(['create', '-f', '-'], { input: yaml(ns.warn, 'outside') });
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain(
      'Warning: Tidemark: spark.sql.streaming.checkpointLocation="gs://elsewhere/checkpoints/x" is outside',
    );
    const stored = await read({
      apiVersion: 'sparkoperator.k8s.io/v1beta2',
      kind: 'SparkApplication',
      metadata: { name: 'outside', namespace: ns.warn },
    });
    expect(conf(stored)['spark.sql.streaming.checkpointLocation']).toBe(outside);
    await waitFor(
      'the CheckpointLocationOutsidePrefix Event',
      async () => (await events(ns.warn, 'outside', 'CheckpointLocationOutsidePrefix')).length > 0,
    );

    const denied = await kubectl(['create', '-f', '-'], { input: yaml(ns.deny, 'outside') });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("is outside this job's checkpoint prefix");
    expect(denied.stderr).toContain(`CheckpointPolicy "adm-${tag}-deny" denies other locations`);
  });

  it("gives a run of a ScheduledSparkApplication (created the Spark Operator's way) the schedule's shared location", async () => {
    const schedule = await create(scheduledApp(ns.warn, 'nightly'));
    const run = sparkApp(ns.warn, 'nightly-1700000000', {
      labels: { 'sparkoperator.k8s.io/scheduled-app-name': 'nightly' },
      owner: { name: 'nightly', uid: schedule.metadata?.uid as string },
    });
    const stored = await create(run);
    expect(conf(stored)['spark.sql.streaming.checkpointLocation']).toBe(uri(ns.warn, 'nightly', roots.warn));
    const after = await read(schedule);
    expect(after.spec).toStrictEqual(schedule.spec);
  });

  it('answers bad input with a clear admission message, never a crash or a 500', async () => {
    const malformed = sparkApp(ns.warn, 'malformed') as Obj;
    (malformed.spec as Record<string, unknown>).sparkConf = { 'spark.executor.cores': 2 };
    const msg = await createFails(malformed);
    expect(msg).toBe(
      `400 admission webhook "adm-${tag}-warn.sparkapplications.tidemark.dev" denied the request: Tidemark cannot read this SparkApplication: spec.sparkConf["spark.executor.cores"] must be a string, not a number.`,
    );

    const notAMap = sparkApp(ns.warn, 'not-a-map') as Obj;
    (notAMap.spec as Record<string, unknown>).sparkConf = 'spark.executor.cores=2';
    expect(await createFails(notAMap)).toContain(
      'denied the request: Tidemark cannot read this SparkApplication: spec.sparkConf must be a map of strings, not a string.',
    );
    // Garbage sent straight to the server: a 400 with a reason, and the server keeps serving.
    const { ca } = await readSecret('webhook-tls');
    const raw = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: portA,
          path: '/mutate/sparkapplication',
          method: 'POST',
          ca,
          checkServerIdentity: () => undefined,
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end('{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": ');
    });
    expect(raw).toEqual({ status: 400, body: '{"message":"the body is not JSON"}' });

    const huge = sparkApp(ns.warn, 'huge') as Obj;
    const big: SparkConf = {};
    for (let i = 0; i < 4000; i++) big[`spark.custom.setting.${i}`] = 'x'.repeat(200);
    (huge.spec as Record<string, unknown>).sparkConf = big;
    const storedHuge = await create(huge);
    expect(Object.keys(conf(storedHuge))).toHaveLength(4003);
    expect(conf(storedHuge)['spark.sql.streaming.checkpointLocation']).toBe(uri(ns.warn, 'huge', roots.warn));

    const long = 'l'.repeat(253);
    const storedLong = await create(sparkApp(ns.warn, long));
    expect(conf(storedLong)['spark.sql.streaming.checkpointLocation']).toBe(uri(ns.warn, long, roots.warn));
    // The server is still answering.
    expect(
      conf(await create(sparkApp(ns.warn, 'after-bad-input')))['spark.sql.streaming.checkpointLocation'],
    ).toBeDefined();
  });
});

describe('driver Pod CREATE', () => {
  it('gates a driver pod created before the Checkpoint is Ready and releases it when the grant is in place', async () => {
    await create(sparkApp(ns.gate, 'held'));
    const pod = await create(driverPod(ns.gate, 'held'));
    expect(gates(pod)).toEqual([SCHEDULING_GATE]);
    await waitForCheckpoint(kc, ns.gate, 'held', isReady, 'Ready');
    const released = await waitFor('the gate to be removed', async () => {
      const p = await read(pod);
      return gates(p).length === 0 ? p : undefined;
    });
    expect(released.spec?.serviceAccountName).toBe('spark');
  });

  it("never touches an executor pod, and keeps another webhook's gate when releasing", async () => {
    const exec = await create(driverPod(ns.gate, 'held', { name: 'held-exec-1', role: 'executor' }));
    expect(gates(exec)).toEqual([]);
    await create(sparkApp(ns.gate, 'shared-gates'));
    const other = driverPod(ns.gate, 'shared-gates') as Obj;
    (other.spec as Record<string, unknown>).schedulingGates = [{ name: 'example.com/other' }];
    const pod = await create(other);
    expect(gates(pod)).toEqual(['example.com/other', SCHEDULING_GATE]);
    await waitFor("only Tidemark's gate to be removed", async () => {
      const g = gates(await read(pod));
      return g.length === 1 && g[0] === 'example.com/other';
    });
  });

  it('keeps a pod whose service account is not granted gated, with an Event after the threshold', async () => {
    await create(sparkApp(ns.gate, 'intruder'));
    await waitForCheckpoint(kc, ns.gate, 'intruder', isReady, 'Ready');
    const pod = await create(driverPod(ns.gate, 'intruder', { sa: 'someone-else' }));
    expect(gates(pod)).toEqual([SCHEDULING_GATE]);
    const [ev] = await waitFor('the ServiceAccountNotGranted Event on the pod', async () => {
      const e = await events(ns.gate, 'intruder-driver', 'ServiceAccountNotGranted');
      return e.length > 0 ? e : undefined;
    });
    expect(ev?.note).toContain('someone-else');
    expect((await events(ns.gate, 'intruder', 'ServiceAccountNotGranted')).length).toBeGreaterThan(0);
    expect(gates(await read(pod))).toEqual([SCHEDULING_GATE]);
  });
});

describe('CheckpointPolicy validation', () => {
  it('denies a root overlapping another policy on the same bucket, and warns about shared namespaces', async () => {
    const nested = policy(`adm-${tag}-nested`, {
      bucket: fx.bucket,
      root: `${roots.warn}/inner`,
      selectNamespace: { 'tidemark-admission-test': 'nobody' },
    });
    const denied = await kubectl(['create', '-f', '-'], { input: JSON.stringify(nested) });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(`overlaps the root of CheckpointPolicy "adm-${tag}-warn"`);

    const sibling = policy(`adm-${tag}-sibling`, {
      bucket: fx.bucket,
      root: `ckpts/${tag}/sibling`,
      selectNamespace: { 'tidemark-admission-test': `${tag}-warn` },
    });
    policies.push(sibling);
    const warned = await kubectl(['create', '-f', '-'], { input: JSON.stringify(sibling) });
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain(`Warning: CheckpointPolicy "adm-${tag}-warn" also selects namespace(s) ${ns.warn}`);
    await deleteObject(kc, sibling);
  });
});

describe('replicas, restarts and downtime', () => {
  it('a second replica serves the certificate in the same Secret', async () => {
    const before = await readSecret('webhook-tls');
    b = await fx.startController({ identity: 'replica-b', webhook: webhook(portB, 'webhook-tls') });
    expect(b.isLeader()).toBe(false);
    const served = await servedCert(portB, before.ca);
    expect(served.serialNumber).toBe(new X509Certificate(before.crt).serialNumber);
    expect((await readSecret('webhook-tls')).rv).toBe(before.rv);
  });

  it('a restarted replica reuses the Secret', async () => {
    const before = await readSecret('webhook-tls');
    await a?.stop();
    a = await fx.startController({ identity: 'replica-a', webhook: webhook(portA, 'webhook-tls') });
    const served = await servedCert(portA, before.ca);
    expect(served.serialNumber).toBe(new X509Certificate(before.crt).serialNumber);
    expect((await readSecret('webhook-tls')).rv).toBe(before.rv);
  });

  it('with every webhook server stopped, selected namespaces refuse jobs and driver pods; others are unaffected; policies are not validated', async () => {
    await a?.stop();
    await b?.stop();
    a = undefined;
    b = undefined;
    const refused = await createFails(sparkApp(ns.warn, 'while-down'));
    expect(refused).toContain('failed calling webhook');
    expect(await createFails(driverPod(ns.gate, 'held', { name: 'down-driver' }))).toContain('failed calling webhook');
    const plain = sparkApp(ns.none, 'while-down') as Obj;
    expect((await create(plain)).spec).toStrictEqual(plain.spec);
    expect(gates(await create(driverPod(ns.none, 'while-down')))).toEqual([]);
    // tidemark-validating fails open: an overlapping policy gets in (the controller's RootOverlap is the net).
    const overlapping = policy(`adm-${tag}-while-down`, {
      bucket: fx.bucket,
      root: `${roots.warn}/inner`,
      selectNamespace: { 'tidemark-admission-test': 'nobody' },
    });
    policies.push(overlapping);
    await create(overlapping);
    await deleteObject(kc, overlapping);
  });

  it('renews the serving certificate before it expires, and the API server keeps calling the webhook', async () => {
    a = await fx.startController({
      identity: 'replica-rotating',
      leaderElection: false,
      webhook: webhook(portA, 'webhook-tls-short', {
        tls: { kind: 'Secret', namespace: secretNs, name: 'webhook-tls-short', pollMs: 500, servingValidityMs: 6000 },
      }),
    });
    const first = await readSecret('webhook-tls-short');
    const firstCert = new X509Certificate(first.crt);
    const renewed = await waitFor(
      'a renewed serving certificate',
      async () => {
        const s = await readSecret('webhook-tls-short');
        return new X509Certificate(s.crt).serialNumber !== firstCert.serialNumber ? s : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(Date.now()).toBeLessThan(Date.parse(firstCert.validTo));
    expect(renewed.ca).toBe(first.ca);
    await waitFor('the server to present the renewed certificate', async () => {
      const served = await servedCert(portA, renewed.ca);
      return served.serialNumber === new X509Certificate(renewed.crt).serialNumber;
    });
    const stored = await create(sparkApp(ns.warn, 'after-rotation'));
    expect(conf(stored)['spark.sql.streaming.checkpointLocation']).toBe(uri(ns.warn, 'after-rotation', roots.warn));
  });
});
