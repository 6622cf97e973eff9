// The controller as it runs in a cluster, against the test API server and a fresh GCS/IAM emulator: its own
// service account (a token minted for it, only the playground's controller role on the bucket), leader election on,
// informers, work queue, events. Plus builders for the objects the tests create.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { CoreV1Api, KubernetesObjectApi } from '@kubernetes/client-node';
import { afterAll, beforeAll } from 'vitest';
import type { Checkpoint } from '../../src/api/index.js';
import { type ControllerConfig, type RunningControllerProcess, startController } from '../../src/controller/run.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createLogger, type Logger } from '../../src/kube/log.js';
import { prepareGcs } from '../../src/playground/gcs-setup.js';
import { mintToken, start as startEmulator, statusOf, storageClient } from '../emulator/clients.js';
import { apply, testKubeConfig, testKubeconfigPath, uniqueSuffix, waitFor } from '../harness/kube.js';

export const PROJECT = 'tidemark-test';
export const PROJECT_NUMBER = '424242424242';
export const POOL = `${PROJECT}.svc.id.goog`;

export function wiPrincipal(namespace: string, ksa: string): string {
  return `principal://iam.googleapis.com/projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/${POOL}/subject/ns/${namespace}/sa/${ksa}`;
}

export interface Fixture {
  kc: KubeConfig;
  emu: RunningEmulator;
  bucket: string;
  controllerToken: string;
  /** The leader-election Lease (namespace `default`) the fixture's controllers share. */
  leaseName: string;
  startController(opts?: {
    identity?: string;
    leaderElection?: boolean;
    /** Another identity's kubeconfig (default: the test cluster's admin). */
    kubeconfig?: string;
    leaseNamespace?: string;
    webhook?: ControllerConfig['webhook'];
    /** Reconciles at once (default 4). */
    concurrency?: number;
    /** Minimum time between two writes of one bucket's policy (default 200 ms). */
    bucketWriteIntervalMs?: number;
    /** Where the controller logs (default: silent, or level $TIDEMARK_TEST_LOG). */
    logger?: Logger;
  }): Promise<RunningControllerProcess>;
  cleanup(): Promise<void>;
}

export async function setupFixture(kc: KubeConfig, bucket: string): Promise<Fixture> {
  const emu = await startEmulator({ projectId: PROJECT, projectNumber: PROJECT_NUMBER });
  const gcs = await prepareGcs(emu.url, emu.adminToken, { project: PROJECT, projectNumber: PROJECT_NUMBER, bucket });
  const controllerToken = await mintToken(emu, `serviceAccount:${gcs.controllerServiceAccount}`);
  const running: RunningControllerProcess[] = [];
  const leaseName = `tidemark-${uniqueSuffix()}`;
  return {
    kc,
    emu,
    bucket,
    controllerToken,
    leaseName,
    async startController(opts = {}) {
      const c = await startController({
        kubeconfig: opts.kubeconfig ?? testKubeconfigPath(),
        gcs: { endpoint: emu.url, accessToken: controllerToken },
        logger: opts.logger ?? createLogger({ level: process.env.TIDEMARK_TEST_LOG ?? 'silent' }),
        concurrency: opts.concurrency ?? 4,
        resyncMs: 3_600_000,
        healthHost: '127.0.0.1',
        healthPort: 0,
        leaderElection: opts.leaderElection ?? true,
        leaseNamespace: opts.leaseNamespace ?? 'default',
        leaseName,
        identity: opts.identity,
        bucketWriteIntervalMs: opts.bucketWriteIntervalMs ?? 200,
        webhook: opts.webhook,
      });
      running.push(c);
      return c;
    },
    async cleanup() {
      for (const c of running.splice(0)) await c.stop();
      await emu.stop();
    },
  };
}

export interface ControllerFixtureOptions {
  /** The bucket the fixture creates (default `ckpt-<random>`). */
  bucket?: string;
  /** Runs once the emulator and the bucket are ready, before the controller starts. */
  prepare?: (fx: Fixture) => Promise<void>;
  /** How to start the file's controller (default: the fixture's defaults); `false`: the file starts its own. */
  controller?: Parameters<Fixture['startController']>[0] | false;
  /** Hands the file its fixture and controller (undefined with `controller: false`) once they are up. */
  ready: (fx: Fixture, ctrl: RunningControllerProcess | undefined) => void;
}

/**
 * The set-up most controller test files share: beforeAll starts the fixture (emulator, bucket, controller identity)
 * on this file's test cluster and, unless told not to, one controller; afterAll runs the file's `cleanups` newest
 * first (their failures ignored: the namespace or object may already be gone), then stops the controllers and the
 * emulator. A file's own afterAll, registered after this call, runs before it (vitest runs after-hooks as a stack).
 */
export function useControllerFixture(o: ControllerFixtureOptions): {
  kc: KubeConfig;
  cleanups: (() => Promise<void>)[];
  /** `scenario()` on this file's fixture, its removal pushed onto `cleanups`. */
  scenario: (
    p?: Partial<Parameters<typeof policy>[1]>,
    sas?: Parameters<typeof namespaceWithSa>[2],
  ) => Promise<Scenario>;
  /** `writeAs()` on this file's fixture. */
  write: (token: string, object: string, bucket?: string) => Promise<number>;
} {
  const kc = testKubeConfig();
  const cleanups: (() => Promise<void>)[] = [];
  let fx: Fixture | undefined;
  const fixture = (): Fixture => {
    if (!fx) throw new Error('the controller fixture is not set up (used outside the tests?)');
    return fx;
  };
  beforeAll(async () => {
    fx = await setupFixture(kc, o.bucket ?? `ckpt-${uniqueSuffix()}`);
    await o.prepare?.(fx);
    const ctrl = o.controller === false ? undefined : await fx.startController(o.controller);
    o.ready(fx, ctrl);
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await fx?.cleanup();
  });
  return {
    kc,
    cleanups,
    scenario: (p = {}, sas) => scenario(fixture(), cleanups, p, sas),
    write: (token, object, bucket) => writeAs(fixture(), token, object, bucket),
  };
}

export async function namespaceWithSa(
  kc: KubeConfig,
  labels: Record<string, string>,
  serviceAccounts: { name: string; annotations?: Record<string, string> }[] = [{ name: 'spark' }],
): Promise<{ name: string; cleanup: () => Promise<void> }> {
  const name = `ckpt-${uniqueSuffix()}`;
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels: { 'tidemark.dev/test': 'true', ...labels } } } });
  const ns = { name, cleanup: async () => void (await core.deleteNamespace({ name }).catch(() => undefined)) };
  for (const sa of serviceAccounts) {
    await core.createNamespacedServiceAccount({
      namespace: ns.name,
      body: { metadata: { name: sa.name, ...(sa.annotations ? { annotations: sa.annotations } : {}) } },
    });
  }
  return ns;
}

export function policy(
  name: string,
  o: {
    bucket: string;
    root: string;
    selectNamespace: Record<string, string>;
    mode?: 'ManagedFolder' | 'BucketCondition';
    identity?: 'KubernetesServiceAccount' | 'GoogleServiceAccount';
    allowed?: string[];
    hold?: string;
  },
): KubernetesObject {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'CheckpointPolicy',
    metadata: { name },
    spec: {
      namespaceSelector: { matchLabels: o.selectNamespace },
      jobSelector: { matchLabels: { 'tidemark.dev/checkpoint': 'true' } },
      storage: { bucket: o.bucket, rootPrefix: o.root },
      access: {
        mode: o.mode ?? 'ManagedFolder',
        identity: o.identity ?? 'KubernetesServiceAccount',
        ...(o.identity === 'GoogleServiceAccount'
          ? { allowedServiceAccounts: o.allowed ?? [] }
          : { workloadIdentity: { projectNumber: PROJECT_NUMBER, pool: POOL } }),
        propagationHold: o.hold ?? '1s',
      },
    },
  } as KubernetesObject;
}

export function sparkApp(
  namespace: string,
  name: string,
  o: { sa?: string; executorSa?: string; labels?: Record<string, string>; owner?: { name: string; uid: string } } = {},
): KubernetesObject {
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: {
      name,
      namespace,
      labels: { 'tidemark.dev/checkpoint': 'true', ...(o.labels ?? {}) },
      ...(o.owner
        ? {
            ownerReferences: [
              {
                apiVersion: 'sparkoperator.k8s.io/v1beta2',
                kind: 'ScheduledSparkApplication',
                name: o.owner.name,
                uid: o.owner.uid,
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      type: 'Python',
      mode: 'cluster',
      sparkVersion: '4.0.0',
      mainApplicationFile: 'local:///opt/app/stream.py',
      driver: { serviceAccount: o.sa ?? 'spark', cores: 1, memory: '512m' },
      executor: { instances: 1, cores: 1, memory: '512m', ...(o.executorSa ? { serviceAccount: o.executorSa } : {}) },
    },
  } as KubernetesObject;
}

export function scheduledApp(namespace: string, name: string): KubernetesObject {
  const app = sparkApp(namespace, name) as KubernetesObject & { spec: unknown };
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'ScheduledSparkApplication',
    metadata: { name, namespace, labels: { 'tidemark.dev/checkpoint': 'true' } },
    spec: { schedule: '@every 10m', concurrencyPolicy: 'Forbid', template: app.spec },
  } as KubernetesObject;
}

export async function getCheckpoint(kc: KubeConfig, namespace: string, name: string): Promise<Checkpoint | undefined> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  try {
    return (await client.read({
      apiVersion: 'tidemark.dev/v1alpha1',
      kind: 'Checkpoint',
      metadata: { name, namespace },
    })) as unknown as Checkpoint;
  } catch {
    return undefined;
  }
}

export function waitForCheckpoint(
  kc: KubeConfig,
  namespace: string,
  name: string,
  test: (cp: Checkpoint) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<Checkpoint> {
  return waitFor(
    `Checkpoint ${namespace}/${name} ${what}`,
    async () => {
      const cp = await getCheckpoint(kc, namespace, name);
      return cp && test(cp) ? cp : undefined;
    },
    { timeoutMs },
  );
}

export const isReady = (cp: Checkpoint) =>
  cp.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** A Checkpoint whose condition `type` has reason `reason`. */
export const hasReason = (type: string, reason: string) => (cp: Checkpoint) =>
  cp.status?.conditions?.some((c) => c.type === type && c.reason === reason) ?? false;

export async function deleteObject(kc: KubeConfig, obj: KubernetesObject): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  await client.delete(obj);
}

export { apply };

/** One sample of a Prometheus text exposition (summed over the series that match every given label). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function scrape(ctrl: RunningControllerProcess): Promise<string> {
  const res = await fetch(`${ctrl.health.url}/metrics`);
  return res.text();
}

/**
 * Runs a full resync now and waits for its observable end: every key it queued has been reconciled (the
 * controller's reconcile count rose, the work queue is empty and no worker is busy). Waiting for a condition that was
 * already true before the resync would prove nothing.
 */
export async function resyncAndSettle(ctrl: RunningControllerProcess): Promise<void> {
  const before = sample(await scrape(ctrl), 'controller_runtime_reconcile_total', { controller: 'checkpoint' });
  await ctrl.resyncNow();
  await settled(
    ctrl,
    'the resync to be reconciled',
    (t) => sample(t, 'controller_runtime_reconcile_total', { controller: 'checkpoint' }) > before,
  );
}

export interface Scenario {
  ns: string;
  policyName: string;
  root: string;
  tag: string;
  pol: KubernetesObject;
}

/**
 * A namespace (labelled for one fresh policy) with service accounts (default: `spark`), and that policy on the
 * fixture's bucket under a fresh root. Their removal is pushed onto `cleanups`.
 */
export async function scenario(
  fx: Fixture,
  cleanups: (() => Promise<void>)[],
  o: Partial<Parameters<typeof policy>[1]> = {},
  sas?: Parameters<typeof namespaceWithSa>[2],
): Promise<Scenario> {
  const tag = uniqueSuffix();
  const ns = await namespaceWithSa(fx.kc, { 'tidemark-test-scenario': tag }, sas);
  cleanups.push(ns.cleanup);
  const policyName = `pol-${tag}`;
  const root = `checkpoints/${tag}`;
  const pol = policy(policyName, {
    bucket: fx.bucket,
    root,
    selectNamespace: { 'tidemark-test-scenario': tag },
    ...o,
  });
  await apply(fx.kc, pol);
  cleanups.push(() => deleteObject(fx.kc, pol));
  return { ns: ns.name, policyName, root, tag, pol };
}

/**
 * Waits until the work queue is empty, no reconcile is running, no access change waits for its write (a
 * BucketCondition change is handed over and its job woken when it lands), and `more(text)` holds for the metrics.
 */
async function settled(ctrl: RunningControllerProcess, what: string, more: (text: string) => boolean): Promise<void> {
  await waitFor(what, async () => {
    const text = await scrape(ctrl);
    const depth = sample(text, 'workqueue_depth', { name: 'tidemark' });
    const busy = sample(text, 'controller_runtime_active_workers', { controller: 'checkpoint' });
    const queued = sample(text, 'tidemark_access_changes_pending', {});
    return more(text) && depth === 0 && busy === 0 && queued === 0 ? true : undefined;
  });
}

/**
 * Deletes a SparkApplication and waits for the observable sign that the controller reconciled after it: its
 * SparkApplication informer received the deletion (which queues the job's key at once) and the queue then drained.
 */
export async function deleteAppAndSettle(
  ctrl: RunningControllerProcess,
  kc: KubeConfig,
  app: KubernetesObject,
): Promise<void> {
  const labels = { informer: 'sparkapplications.sparkoperator.k8s.io', type: 'DELETED' };
  const before = sample(await scrape(ctrl), 'tidemark_informer_events_total', labels);
  await deleteObject(kc, app);
  await settled(
    ctrl,
    'the deletion to be reconciled',
    (t) => sample(t, 'tidemark_informer_events_total', labels) > before,
  );
}

/** The HTTP status of writing one object as `token` (200, or the error's status). */
export async function writeAs(fx: Fixture, token: string, object: string, bucket = fx.bucket): Promise<number> {
  try {
    await storageClient(fx.emu, token).bucket(bucket).file(object).save('x', { resumable: false });
    return 200;
  } catch (err) {
    return statusOf(err) ?? 0;
  }
}
