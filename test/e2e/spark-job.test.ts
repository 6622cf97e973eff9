// The seed scenario for real (issue 14): a PySpark Structured Streaming job checkpointing to "GCS" (the emulator)
// through the Hadoop GCS connector, on Tidemark as deployed (the playground: kube-apiserver + etcd, the emulator,
// `tidemark controller` with its admission webhooks), with the test playing the Spark Operator (operator.ts,
// driver.ts). The scenarios run in order on one stack; each asserts on the emulator's state and the job's exit/log.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emu, mintToken, storageClient } from '../emulator/clients.js';
import { repoRoot } from '../harness/cli.js';
import { run, waitFor } from '../harness/kube.js';
import { type Driver, type DriverRun, IMAGE_JOB_FILE, makeDriver } from './driver.js';
import {
  CHECKPOINT_GATE,
  driverPod,
  gatesOf,
  type ScheduledSparkApplication,
  SPARK_API,
  SPARK_API_VERSION,
  type StoredSparkApplication,
  scheduledRun,
} from './operator.js';
import { type Playground, startPlayground } from './stack.js';
import { locateE2eTools } from './tools.js';

const POLICY = 'e2e';
const ROOT = 'checkpoints/e2e';
const TEAM = 'team-a';
const LEGACY = 'legacy';
const APP = 'clickstream';
const SCHEDULED = 'nightly';
const QUERY = 'events';
const CONTROLLER_SA = 'serviceAccount:tidemark-controller@tidemark-playground.iam.gserviceaccount.com';
const TIDEMARK = { group: 'tidemark.dev', version: 'v1alpha1' } as const;

let setupError: Error | undefined;
let stack: Playground;
let driver: Driver;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let workDir: string;
let emu: Emu;
const started = Date.now();

/** Fails the calling test with the setup's error (e.g. the tools are not installed): a missing tool is a failure. */
function ready(): void {
  if (setupError) throw setupError;
}

/** Prints the lines a user would see, so the test's log tells the story (the README quotes it). */
function show(title: string, lines: string[], r?: DriverRun): void {
  const took = r ? ` (driver ${Math.round(r.tookMs / 1000)} s, exit ${r.code})` : '';
  console.log(`\n--- ${title}${took} ---\n${lines.join('\n')}`);
}

beforeAll(async () => {
  try {
    const tools = await locateE2eTools();
    stack = await startPlayground();
    workDir = await mkdtemp(join(tmpdir(), 'tidemark-e2e-spark-'));
    driver = await makeDriver(stack, tools, workDir);
    core = stack.kc.makeApiClient(CoreV1Api);
    custom = stack.kc.makeApiClient(CustomObjectsApi);
    emu = {
      url: stack.gcsEndpoint,
      adminToken: stack.env.get('TIDEMARK_EMULATOR_ADMIN_TOKEN') ?? '',
      projectId: stack.env.get('GOOGLE_CLOUD_PROJECT') ?? '',
      projectNumber: stack.projectNumber,
    };
    await custom.createClusterCustomObject({
      ...TIDEMARK,
      plural: 'checkpointpolicies',
      body: {
        apiVersion: `${TIDEMARK.group}/${TIDEMARK.version}`,
        kind: 'CheckpointPolicy',
        metadata: { name: POLICY },
        spec: {
          namespaceSelector: { matchLabels: { 'tidemark.dev/checkpoints': 'enabled' } },
          jobSelector: { matchLabels: { 'tidemark.dev/checkpoint': 'true' } },
          storage: { bucket: stack.bucket, rootPrefix: ROOT },
          access: {
            mode: 'ManagedFolder',
            role: 'roles/storage.objectUser',
            identity: 'KubernetesServiceAccount',
            workloadIdentity: { projectNumber: stack.projectNumber, pool: stack.pool },
            propagationHold: '2s',
          },
          retention: { afterRelease: '7d' },
        },
      },
    });
    // The controller adds the policy's webhook entries; until then a job would pass unmutated.
    await waitFor(
      "the policy's driver-pod webhook entry",
      async () => {
        const { stdout } = await run(
          stack.env.get('TIDEMARK_KUBECTL') ?? 'kubectl',
          ['get', 'mutatingwebhookconfiguration', 'tidemark-mutating', '-o', 'jsonpath={.webhooks[*].name}'],
          { env: { ...process.env, KUBECONFIG: stack.env.get('KUBECONFIG') } },
        );
        return stdout.includes(`${POLICY}.driver-pods.tidemark.dev`) && stdout.includes(`${POLICY}.sparkapplications`);
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await core.createNamespace({ body: { metadata: { name: LEGACY } } });
    await core.createNamespace({
      body: { metadata: { name: TEAM, labels: { 'tidemark.dev/checkpoints': 'enabled' } } },
    });
    for (const [ns, sa] of [
      [LEGACY, 'spark'],
      [TEAM, 'spark'],
      [TEAM, 'spark-nightly'],
    ] as const) {
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
    }
  } catch (err) {
    setupError = err instanceof Error ? err : new Error(String(err));
  }
}, 900_000);

afterAll(async () => {
  await stack?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
  console.log(`\ne2e: ${Math.round((Date.now() - started) / 1000)} s in all`);
}, 120_000);

// ---- helpers: the Spark Operator's side, Kubernetes reads, the emulator's state ----

function sparkApp(
  namespace: string,
  name: string,
  o: { sparkConf?: Record<string, string>; serviceAccount?: string } = {},
): StoredSparkApplication {
  return {
    apiVersion: SPARK_API_VERSION,
    kind: 'SparkApplication',
    metadata: { name, namespace, labels: { 'tidemark.dev/checkpoint': 'true' } },
    spec: appSpec(o),
  };
}

function appSpec(o: { sparkConf?: Record<string, string>; serviceAccount?: string } = {}) {
  return {
    type: 'Python',
    mode: 'cluster',
    sparkVersion: '4.3.0',
    image: 'example.com/tidemark-e2e/pyspark:4.3.0',
    mainApplicationFile: IMAGE_JOB_FILE,
    arguments: ['--query-name', QUERY],
    ...(o.sparkConf ? { sparkConf: o.sparkConf } : {}),
    driver: { serviceAccount: o.serviceAccount ?? 'spark', cores: 1, memory: '512m' },
    executor: { instances: 1, cores: 1, memory: '512m' },
  };
}

/** Creates a SparkApplication and returns it as the API server stored it (after Tidemark's webhook). */
async function createApp(app: StoredSparkApplication): Promise<StoredSparkApplication> {
  await custom.createNamespacedCustomObject({
    ...SPARK_API,
    namespace: app.metadata.namespace,
    plural: 'sparkapplications',
    body: app,
  });
  return readApp(app.metadata.namespace, app.metadata.name);
}

async function readApp(namespace: string, name: string): Promise<StoredSparkApplication> {
  return (await custom.getNamespacedCustomObject({
    ...SPARK_API,
    namespace,
    plural: 'sparkapplications',
    name,
  })) as StoredSparkApplication;
}

/** Deletes a SparkApplication and its driver Pod (the operator's pods go with their application). */
async function deleteApp(namespace: string, name: string): Promise<void> {
  await custom.deleteNamespacedCustomObject({ ...SPARK_API, namespace, plural: 'sparkapplications', name });
  await deletePod(namespace, `${name}-driver`);
}

/** The operator's submission: the driver Pod (replacing a previous run's), as Tidemark's webhook admitted it. */
async function submitDriverPod(app: StoredSparkApplication): Promise<V1Pod> {
  const pod = driverPod(app, randomUUID());
  const name = pod.metadata?.name ?? '';
  await deletePod(app.metadata.namespace, name);
  return core.createNamespacedPod({ namespace: app.metadata.namespace, body: pod });
}

async function deletePod(namespace: string, name: string): Promise<void> {
  try {
    await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 404)) throw err;
    return;
  }
  await waitFor(`pod ${namespace}/${name} gone`, async () => {
    try {
      await core.readNamespacedPod({ namespace, name });
      return false;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return true;
      throw err;
    }
  });
}

/** Waits until the driver Pod's Tidemark gate is gone (the Checkpoint is Ready), as the scheduler would. */
async function released(pod: V1Pod, timeoutMs = 120_000): Promise<V1Pod> {
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.metadata?.name ?? '';
  return waitFor(
    `the driver pod ${namespace}/${name} released from ${CHECKPOINT_GATE}`,
    async () => {
      const p = await core.readNamespacedPod({ namespace, name });
      return gatesOf(p).includes(CHECKPOINT_GATE) ? undefined : p;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

interface CheckpointObject {
  spec: { uri: string; prefix: string; members?: string[] };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; reason?: string }[];
    grants?: { members: string[]; folder?: string }[];
    revokedAt?: string;
  };
}

async function checkpoint(namespace: string, name: string): Promise<CheckpointObject | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({
      ...TIDEMARK,
      namespace,
      plural: 'checkpoints',
      name,
    })) as CheckpointObject;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

const isReady = (cp: CheckpointObject | undefined) =>
  cp?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Object names under a prefix, read from the emulator with the admin token (its state, not the job's view). */
async function objectsUnder(prefix: string): Promise<string[]> {
  const names: string[] = [];
  let pageToken: string | undefined;
  do {
    const q = new URLSearchParams({ prefix, maxResults: '1000', ...(pageToken ? { pageToken } : {}) });
    const page = (await stack.admin('GET', `/storage/v1/b/${stack.bucket}/o?${q}`)) as {
      items?: { name: string }[];
      nextPageToken?: string;
    };
    names.push(...(page.items ?? []).map((i) => i.name));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return names;
}

/** The highest committed batch id of the query under a job's prefix (commits/<id>). */
async function lastCommit(jobPrefix: string): Promise<number> {
  const ids = (await objectsUnder(`${jobPrefix}${QUERY}/commits/`))
    .map((n) => /\/commits\/(\d+)$/.exec(n)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number);
  expect(ids.length, `no commits under ${jobPrefix}`).toBeGreaterThan(0);
  return Math.max(...ids);
}

function expectRan(r: DriverRun, batches: number): void {
  expect(r.code, `the driver failed:\n${r.output.slice(-6000)}`).toBe(0);
  expect(r.batches.length).toBeGreaterThanOrEqual(batches);
}

/** The query's id, as Spark keeps it in the checkpoint's `metadata` and prints in each progress line. */
function queryIds(r: DriverRun): Set<string> {
  return new Set(r.lines.flatMap((l) => /query \S+ id ([0-9a-f-]{36})/.exec(l)?.[1] ?? []));
}

const jobPrefix = (namespace: string, job: string) => `${ROOT}/${namespace}/${job}/`;

// ---- the scenarios, in order ----

describe('a PySpark streaming job with the Hadoop GCS connector, on Tidemark (end to end)', () => {
  const teamPrefix = jobPrefix(TEAM, APP);
  let firstRunQueryId = '';

  it("the seed's failure: without a policy, the job dies on its checkpoint and the user sees no word of 403", async () => {
    ready();
    // The user's own location, as before Tidemark: an unselected namespace, no grant for the job's identity.
    const location = `gs://${stack.bucket}/checkpoints/${LEGACY}/${APP}`;
    const stored = await createApp(
      sparkApp(LEGACY, APP, { sparkConf: { 'spark.sql.streaming.checkpointLocation': location } }),
    );
    expect(stored.metadata.annotations?.['tidemark.dev/checkpoint-uri']).toBeUndefined();
    expect(stored.spec.sparkConf).toEqual({ 'spark.sql.streaming.checkpointLocation': location });
    const pod = await submitDriverPod(stored);
    expect(gatesOf(pod)).toEqual([]);

    const r = await driver.run(stored, pod);
    expect(r.code).not.toBe(0);
    const errors = r.output.split('\n').filter((l) => /Error getting 'gs:\/\//.test(l));
    // The connector probes each ancestor of the location as an object; outside any grant each probe fails.
    expect(errors.join('\n')).toContain(`Error getting 'gs://${stack.bucket}/checkpoints' object`);
    expect(r.output).not.toMatch(/\b403\b/);
    expect(await objectsUnder('checkpoints/')).toEqual([]);
    show('without Tidemark (no policy)', [...r.lines.slice(0, 2), ...errors.map((l) => l.trim())], r);
  });

  it("with Tidemark's settings but the grant withheld, the job's error names the 403 and the permission", async () => {
    ready();
    // The controller cannot set the job's folder policy (a fault on exactly that call), so no grant exists yet.
    await stack.admin('PUT', '/_emulator/config', {
      faults: [{ op: 'storage.managedFolders.setIamPolicy', rate: 1, kind: 503, member: CONTROLLER_SA }],
    });
    const stored = await createApp(sparkApp(TEAM, APP));
    const uri = `gs://${stack.bucket}/${teamPrefix}`;
    expect(stored.metadata.annotations?.['tidemark.dev/checkpoint-uri']).toBe(uri);
    expect(stored.spec.sparkConf).toEqual({
      'spark.sql.streaming.checkpointLocation': uri,
      'spark.hadoop.fs.gs.create.items.conflict.check.enable': 'false',
      'spark.hadoop.fs.gs.hierarchical.namespace.folders.enable': 'false',
    });
    const pod = await submitDriverPod(stored);
    expect(gatesOf(pod)).toContain(CHECKPOINT_GATE);

    // A driver that does not wait for the gate (what happens without it): started while the pod is held.
    const r = await driver.run(stored, pod);
    expect(r.code).not.toBe(0);
    const lines = r.output.split('\n');
    const denied = lines.find((l) => /GoogleJsonResponseException: 403 Forbidden/.test(l));
    const why = lines.find((l) => /"message": ".* does not have storage\.objects\.\w+ access/.test(l));
    expect(denied, r.output.slice(-6000)).toBeDefined();
    expect(why).toContain(r.member);
    expect(why).toMatch(/Permission 'storage\.objects\.(create|get|list)' denied/);
    expect(await objectsUnder(teamPrefix)).toEqual([]);
    // Tidemark still holds the real driver pod: its Checkpoint is not Ready.
    const held = await core.readNamespacedPod({ namespace: TEAM, name: `${APP}-driver` });
    expect(gatesOf(held)).toContain(CHECKPOINT_GATE);
    expect(isReady(await checkpoint(TEAM, APP))).toBe(false);
    show(
      "with Tidemark's settings, grant withheld",
      [...r.lines.slice(0, 2), (denied ?? '').trim(), (why ?? '').trim()],
      r,
    );
  });

  it('the fix: the driver is released only after the grant, runs >= 5 micro-batches, and its checkpoint is only under its prefix', async () => {
    ready();
    await stack.admin('PUT', '/_emulator/config', { faults: [] });
    const pod = await released(await core.readNamespacedPod({ namespace: TEAM, name: `${APP}-driver` }));
    // Released only now: the Checkpoint is Ready and the grant is applied to exactly the job's identity.
    const cp = await checkpoint(TEAM, APP);
    expect(isReady(cp)).toBe(true);
    const member = driver.memberOf(TEAM, pod.spec?.serviceAccountName ?? '');
    expect(cp?.status?.grants?.flatMap((g) => g.members)).toEqual([member]);
    const folder = cp?.status?.grants?.[0]?.folder ?? '';
    const policy = (await stack.admin(
      'GET',
      `/storage/v1/b/${stack.bucket}/managedFolders/${encodeURIComponent(folder)}/iam`,
    )) as { bindings?: { role: string; members: string[] }[] };
    expect(policy.bindings).toEqual([{ role: 'roles/storage.objectUser', members: [member] }]);

    const stored = await readApp(TEAM, APP);
    const r = await driver.run(stored, pod, { batches: 5 });
    expectRan(r, 5);
    expect(r.batches[0]).toBe(0);
    firstRunQueryId = [...queryIds(r)][0] ?? '';
    expect(firstRunQueryId).not.toBe('');

    const all = await objectsUnder('');
    const q = `${teamPrefix}${QUERY}/`;
    expect(all).toContain(`${q}metadata`);
    for (const dir of ['offsets/', 'commits/', 'state/'])
      expect(all.some((n) => n.startsWith(`${q}${dir}`))).toBe(true);
    expect(all.filter((n) => !n.startsWith(teamPrefix))).toEqual([]);
    show('with Tidemark', r.lines, r);
  });

  it('restart: a new driver resumes from the checkpoint at the next batch id, not 0', async () => {
    ready();
    const before = await lastCommit(teamPrefix);
    const stored = await readApp(TEAM, APP);
    const pod = await released(await submitDriverPod(stored));
    const r = await driver.run(stored, pod, { batches: 2 });
    expectRan(r, 2);
    expect(r.batches[0]).toBe(before + 1);
    expect([...queryIds(r)]).toEqual([firstRunQueryId]);
    expect(await lastCommit(teamPrefix)).toBeGreaterThan(before);
    show('restart', r.lines, r);
  });

  it("neighbour: another job's identity gets 403 on this job's prefix, and this job cannot list the root", async () => {
    ready();
    await custom.createNamespacedCustomObject({
      ...SPARK_API,
      namespace: TEAM,
      plural: 'scheduledsparkapplications',
      body: {
        apiVersion: SPARK_API_VERSION,
        kind: 'ScheduledSparkApplication',
        metadata: { name: SCHEDULED, namespace: TEAM, labels: { 'tidemark.dev/checkpoint': 'true' } },
        spec: {
          schedule: '@every 1h',
          concurrencyPolicy: 'Forbid',
          template: appSpec({ serviceAccount: 'spark-nightly' }),
        },
      },
    });
    await waitFor(`Checkpoint ${TEAM}/${SCHEDULED} Ready`, async () => isReady(await checkpoint(TEAM, SCHEDULED)), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    const bucket = (token: string) => storageClient(emu, token).bucket(stack.bucket);
    const neighbour = bucket(await mintToken(emu, driver.memberOf(TEAM, 'spark-nightly')));
    const job = bucket(await mintToken(emu, driver.memberOf(TEAM, 'spark')));
    const status = (p: Promise<unknown>) =>
      p.then(
        () => 200,
        (e: { code?: number }) => e.code ?? -1,
      );
    const commit0 = `${teamPrefix}${QUERY}/commits/0`;
    expect(await status(neighbour.file(commit0).download())).toBe(403);
    expect(await status(neighbour.file(`${teamPrefix}${QUERY}/commits/999`).save('x', { resumable: false }))).toBe(403);
    expect(await status(neighbour.getFiles({ prefix: teamPrefix }))).toBe(403);
    // The job reads its own checkpoint, but cannot list the policy root (nor its namespace's level).
    expect(await status(job.file(commit0).download())).toBe(200);
    expect(await status(job.getFiles({ prefix: `${ROOT}/` }))).toBe(403);
    expect(await status(job.getFiles({ prefix: `${ROOT}/${TEAM}/` }))).toBe(403);
    expect(await status(job.getFiles({ prefix: jobPrefix(TEAM, SCHEDULED) }))).toBe(403);
  });

  it("scheduled: two runs of a ScheduledSparkApplication share one checkpoint; the second resumes the first's offsets", async () => {
    ready();
    const scheduled = (await custom.getNamespacedCustomObject({
      ...SPARK_API,
      namespace: TEAM,
      plural: 'scheduledsparkapplications',
      name: SCHEDULED,
    })) as ScheduledSparkApplication;
    const prefix = jobPrefix(TEAM, SCHEDULED);
    const runs: DriverRun[] = [];
    for (const batches of [3, 2]) {
      const stored = await createApp(scheduledRun(scheduled, new Date()));
      expect(stored.metadata.name).toMatch(new RegExp(`^${SCHEDULED}-\\d{19}$`));
      expect(stored.spec.sparkConf?.['spark.sql.streaming.checkpointLocation']).toBe(`gs://${stack.bucket}/${prefix}`);
      const before = runs.length === 0 ? -1 : await lastCommit(prefix);
      const pod = await released(await submitDriverPod(stored));
      const r = await driver.run(stored, pod, { batches });
      expectRan(r, batches);
      expect(r.batches[0]).toBe(before + 1);
      runs.push(r);
    }
    const [first, second] = runs as [DriverRun, DriverRun];
    expect([...queryIds(second)]).toEqual([...queryIds(first)]);
    expect((await objectsUnder(prefix)).some((n) => n.startsWith(`${prefix}${QUERY}/state/`))).toBe(true);
    show('scheduled, second run', second.lines, second);
  });

  it('redeploy: delete and re-create the SparkApplication; the new run resumes from the same checkpoint', async () => {
    ready();
    const before = await lastCommit(teamPrefix);
    await deleteApp(TEAM, APP);
    await waitFor(
      `Checkpoint ${TEAM}/${APP} Released`,
      async () => (await checkpoint(TEAM, APP))?.status?.phase === 'Released',
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    );
    const stored = await createApp(sparkApp(TEAM, APP));
    expect(stored.spec.sparkConf?.['spark.sql.streaming.checkpointLocation']).toBe(
      `gs://${stack.bucket}/${teamPrefix}`,
    );
    const pod = await released(await submitDriverPod(stored));
    const r = await driver.run(stored, pod, { batches: 2 });
    expectRan(r, 2);
    expect(r.batches[0]).toBe(before + 1);
    expect([...queryIds(r)]).toEqual([firstRunQueryId]);
    show('redeploy', r.lines, r);
  });

  it("cleanup: delete the app, a short retention, `tidemark gc`: the prefix is gone, the neighbour's stays", async () => {
    ready();
    const neighbourPrefix = jobPrefix(TEAM, SCHEDULED);
    const neighbourObjects = await objectsUnder(neighbourPrefix);
    expect(neighbourObjects.length).toBeGreaterThan(0);
    await deleteApp(TEAM, APP);
    await custom.patchClusterCustomObject(
      {
        ...TIDEMARK,
        plural: 'checkpointpolicies',
        name: POLICY,
        body: { spec: { retention: { afterRelease: '5s' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(
      `Checkpoint ${TEAM}/${APP} Released with its grant revoked`,
      async () => {
        const cp = await checkpoint(TEAM, APP);
        return cp?.status?.phase === 'Released' && (cp.status.grants ?? []).length === 0 && !!cp.status.revokedAt;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    // `. .tidemark/playground/env && npx tidemark gc --policy e2e`: the controller's identity, not the admin token.
    const { TIDEMARK_EMULATOR_ADMIN_TOKEN: _admin, ...playgroundEnv } = Object.fromEntries(stack.env);
    const gc = (...args: string[]) =>
      run(process.execPath, [join(repoRoot, 'bin', 'tidemark.js'), 'gc', '--policy', POLICY, ...args], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...playgroundEnv },
      });
    // Once the retention and the propagation hold have passed, the dry run names the prefix.
    await waitFor(
      'a GC dry run that would delete the released prefix',
      async () => {
        const r = await gc('--dry-run');
        if (r.code !== 0) throw new Error(`tidemark gc --dry-run: exit ${r.code}: ${r.stdout}${r.stderr}`);
        return /would delete 1 prefix/.test(r.stdout + r.stderr) ? r : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 2_000 },
    );
    const r = await gc();
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(await objectsUnder(teamPrefix)).toEqual([]);
    expect(await objectsUnder(neighbourPrefix)).toEqual(neighbourObjects);
    await waitFor(`Checkpoint ${TEAM}/${APP} gone`, async () => (await checkpoint(TEAM, APP)) === undefined, {
      timeoutMs: 30_000,
    });
    show('tidemark gc', (r.stdout + r.stderr).trim().split('\n'));
  });
});
