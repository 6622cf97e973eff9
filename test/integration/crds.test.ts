// Tidemark's CRDs on the real API server (test/harness): installed and Established next to the Spark Operator's,
// valid objects round-trip with defaults, every bad input of crds-cases.ts is refused with a message that says
// what is wrong, immutable fields stay immutable, status goes through /status only, and `kubectl get` prints the
// printer columns.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  ApiextensionsV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { parse } from 'yaml';
import {
  type Checkpoint,
  type CheckpointPolicy,
  CheckpointPolicyResource,
  CheckpointResource,
  GROUP,
  VERSION,
  withPolicyDefaults,
} from '../../src/api/index.js';
import { validateObject } from '../../src/api/validate.js';
import { createTestNamespace, run, testKubeConfig, testKubeconfigPath, uniqueSuffix } from '../harness/kube.js';
import { badCheckpoints, badPolicies, sampleCheckpoint, samplePolicy, setPath } from './crds-cases.js';

let kc: KubeConfig;
let api: CustomObjectsApi;
let namespace: string;
let cleanupNamespace: () => Promise<void>;
const policiesToDelete = new Set<string>();

/** Every refusal the server gave, for the record (printed when TIDEMARK_PRINT_REFUSALS=1). */
const refusals: { input: string; message: string }[] = [];

beforeAll(async () => {
  kc = testKubeConfig();
  api = kc.makeApiClient(CustomObjectsApi);
  ({ name: namespace, cleanup: cleanupNamespace } = await createTestNamespace(kc, 'crds'));
});

afterAll(async () => {
  for (const name of policiesToDelete) {
    await api.deleteClusterCustomObject({ ...policyRef, name }).catch((err: unknown) => {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    });
  }
  await cleanupNamespace?.();
  if (process.env.TIDEMARK_PRINT_REFUSALS === '1') {
    for (const r of refusals) console.log(`${r.input}\n    ${r.message}`);
  }
});

const policyRef = { group: GROUP, version: VERSION, plural: CheckpointPolicyResource.plural };
const checkpointRef = () => ({ group: GROUP, version: VERSION, plural: CheckpointResource.plural, namespace });
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A policy name unique to this run (cluster-scoped objects outlive the test namespace). */
function policyName(what: string): string {
  const name = `crds-${what}-${uniqueSuffix()}`;
  policiesToDelete.add(name);
  return name;
}

async function createPolicy(policy: CheckpointPolicy): Promise<CheckpointPolicy> {
  policiesToDelete.add(policy.metadata.name as string);
  return (await api.createClusterCustomObject({ ...policyRef, body: policy })) as CheckpointPolicy;
}

async function createCheckpoint(checkpoint: Checkpoint): Promise<Checkpoint> {
  return (await api.createNamespacedCustomObject({ ...checkpointRef(), body: checkpoint })) as Checkpoint;
}

/** The status code and message of the API server's refusal; fails the test when the call succeeds. */
async function refusal(call: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, message: String(body?.message ?? err.body) };
  }
  throw new Error('the API server accepted it');
}

/** The offline validator (src/api/validate.ts) refuses it too, and each of its errors is word for word the server's. */
function expectSameWords(
  kind: 'CheckpointPolicy' | 'Checkpoint',
  object: unknown,
  serverMessage: string,
  old?: unknown,
) {
  const offline = validateObject(kind, object, old === undefined ? {} : { old }).errors.map(String);
  expect(offline.length).toBeGreaterThan(0);
  for (const error of offline) expect(serverMessage).toContain(error);
}

describe('the CRDs are installed', () => {
  test.each([
    'checkpointpolicies.tidemark.dev',
    'checkpoints.tidemark.dev',
    'sparkapplications.sparkoperator.k8s.io',
    'scheduledsparkapplications.sparkoperator.k8s.io',
  ])('%s is Established with its names accepted', async (name) => {
    const crd = await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name });
    const status = (type: string) => crd.status?.conditions?.find((c) => c.type === type)?.status;
    expect({ established: status('Established'), namesAccepted: status('NamesAccepted') }).toEqual({
      established: 'True',
      namesAccepted: 'True',
    });
  });
});

describe('valid objects round-trip with defaults applied', () => {
  test('a CheckpointPolicy', async () => {
    const policy = samplePolicy(policyName('valid'));
    const created = await createPolicy(policy);
    const read = (await api.getClusterCustomObject({
      ...policyRef,
      name: policy.metadata.name as string,
    })) as CheckpointPolicy;
    expect(read.spec).toEqual(created.spec);
    expect(read.spec).toEqual(withPolicyDefaults(policy.spec));
    // the offline validator defaults exactly as the server does
    expect(validateObject('CheckpointPolicy', policy).object).toMatchObject({ spec: read.spec });
    expect(read.spec.access).toMatchObject({
      mode: 'ManagedFolder',
      role: 'roles/storage.objectUser',
      identity: 'KubernetesServiceAccount',
      propagationHold: '60s',
    });
    expect(read.spec.retention).toEqual({ afterRelease: '168h' });
    expect(read.spec.gc).toEqual({ schedule: '0 3 * * *', dryRun: false, maxDeletesPerRun: 100 });
  });

  test('a CheckpointPolicy in GoogleServiceAccount mode with every field set', async () => {
    const policy = samplePolicy(policyName('gsa'));
    policy.spec.access = {
      mode: 'BucketCondition',
      role: 'projects/acme-prod/roles/checkpointWriter',
      identity: 'GoogleServiceAccount',
      allowedServiceAccounts: ['*@acme-prod.iam.gserviceaccount.com', 'etl@acme-data.iam.gserviceaccount.com'],
      propagationHold: '2m30s',
    };
    policy.spec.retention = { afterRelease: '30d' };
    policy.spec.gc = { schedule: '*/30 1-5 * * mon-fri', dryRun: true, maxDeletesPerRun: 5 };
    await createPolicy(policy);
    const read = (await api.getClusterCustomObject({
      ...policyRef,
      name: policy.metadata.name as string,
    })) as CheckpointPolicy;
    expect(read.spec).toEqual(policy.spec);
  });

  test('the complete example policy of docs/api.md', async () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/api.md', import.meta.url)), 'utf8');
    const example = parse(/### A complete example\s+```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '') as CheckpointPolicy;
    example.metadata.name = policyName('docs');
    await createPolicy(example);
    const read = (await api.getClusterCustomObject({ ...policyRef, name: example.metadata.name })) as CheckpointPolicy;
    expect(read.spec).toEqual(example.spec); // the example spells out every default
  });

  test('a Checkpoint', async () => {
    const checkpoint = sampleCheckpoint(namespace, 'valid-job');
    await createCheckpoint(checkpoint);
    const read = (await api.getNamespacedCustomObject({ ...checkpointRef(), name: 'valid-job' })) as Checkpoint;
    expect(read.spec).toEqual({
      ...checkpoint.spec,
      access: { mode: 'ManagedFolder', role: 'roles/storage.objectUser' },
    });
  });
});

describe('bad CheckpointPolicies are refused with a message that says what is wrong', () => {
  test.each(badPolicies)('$name', async ({ name, set, expect: fragment }) => {
    const policy = samplePolicy(policyName('bad'));
    for (const [path, value] of Object.entries(set)) setPath(policy, path, value);
    const { code, message } = await refusal(api.createClusterCustomObject({ ...policyRef, body: policy }));
    refusals.push({ input: `CheckpointPolicy: ${name}`, message });
    expect(code).toBe(422);
    expect(message).toContain(fragment);
    expectSameWords('CheckpointPolicy', policy, message);
  });
});

describe('bad Checkpoints are refused', () => {
  test.each(badCheckpoints)('$name', async ({ name, set, expect: fragment }) => {
    const checkpoint = sampleCheckpoint(namespace, `bad-${uniqueSuffix()}`);
    for (const [path, value] of Object.entries(set)) setPath(checkpoint, path, value);
    const { code, message } = await refusal(createCheckpoint(checkpoint));
    refusals.push({ input: `Checkpoint: ${name}`, message });
    expect(code).toBe(422);
    expect(message).toContain(fragment);
    expectSameWords('Checkpoint', checkpoint, message);
  });
});

describe('immutable fields', () => {
  test.each([
    ['spec.storage.bucket', 'acme-elsewhere', 'bucket is immutable'],
    ['spec.storage.rootPrefix', 'checkpoints/elsewhere', 'rootPrefix is immutable'],
  ])("a policy's %s cannot change", async (path, value, fragment) => {
    const created = await createPolicy(samplePolicy(policyName('immutable')));
    const changed = structuredClone(created);
    setPath(changed, path, value);
    const name = created.metadata.name as string;
    const { code, message } = await refusal(api.replaceClusterCustomObject({ ...policyRef, name, body: changed }));
    refusals.push({ input: `CheckpointPolicy update: ${path} changed`, message });
    expect(code).toBe(422);
    expect(message).toContain(fragment);
    expectSameWords('CheckpointPolicy', changed, message, created);
    // other fields still can
    const dry = structuredClone(created);
    setPath(dry, 'spec.gc.dryRun', true);
    const updated = (await api.replaceClusterCustomObject({ ...policyRef, name, body: dry })) as CheckpointPolicy;
    expect(updated.spec.gc?.dryRun).toBe(true);
  });

  test.each([
    ['spec.bucket', 'bucket is immutable'],
    ['spec.prefix', 'prefix is immutable'],
  ])("a Checkpoint's %s cannot change", async (path, fragment) => {
    const job = `immutable-${uniqueSuffix()}`;
    const created = await createCheckpoint(sampleCheckpoint(namespace, job));
    const changed = structuredClone(created);
    if (path === 'spec.bucket') changed.spec.bucket = 'acme-elsewhere';
    else changed.spec.prefix = `checkpoints/elsewhere/${namespace}/${job}/`;
    changed.spec.uri = `gs://${changed.spec.bucket}/${changed.spec.prefix}`; // keep the uri rule satisfied
    const { code, message } = await refusal(
      api.replaceNamespacedCustomObject({ ...checkpointRef(), name: job, body: changed }),
    );
    refusals.push({ input: `Checkpoint update: ${path} changed`, message });
    expect(code).toBe(422);
    expect(message).toContain(fragment);
    expectSameWords('Checkpoint', changed, message, created);
  });
});

describe('the status subresource', () => {
  test('a status patch through /status sets status and leaves spec alone; the main endpoint ignores status', async () => {
    const job = `status-${uniqueSuffix()}`;
    const created = await createCheckpoint(sampleCheckpoint(namespace, job));
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const patched = (await api.patchNamespacedCustomObjectStatus(
      {
        ...checkpointRef(),
        name: job,
        body: {
          spec: { policyName: 'sneaky' }, // must be ignored: /status writes only status
          status: {
            phase: 'Bound',
            observedGeneration: 1,
            boundAt: now,
            grantedMembers: created.spec.members,
            conditions: [
              {
                type: 'Ready',
                status: 'False',
                reason: 'PropagationHold',
                message: 'waiting',
                lastTransitionTime: now,
              },
            ],
          },
        },
      },
      mergePatch,
    )) as Checkpoint;
    expect(patched.spec).toEqual(created.spec);
    expect(patched.status?.phase).toBe('Bound');
    expect(patched.status?.conditions?.[0]?.reason).toBe('PropagationHold');
    expect(patched.metadata.generation).toBe(created.metadata.generation);

    // a spec update through the main endpoint does not change status
    const update = structuredClone(patched);
    update.spec.members = [];
    if (update.status) update.status.phase = 'Released';
    const replaced = (await api.replaceNamespacedCustomObject({
      ...checkpointRef(),
      name: job,
      body: update,
    })) as Checkpoint;
    expect(replaced.spec.members).toEqual([]);
    expect(replaced.status?.phase).toBe('Bound');

    // the status is validated too
    const bad = await refusal(
      api.patchNamespacedCustomObjectStatus(
        { ...checkpointRef(), name: job, body: { status: { phase: 'Running' } } },
        mergePatch,
      ),
    );
    refusals.push({ input: 'Checkpoint status: phase Running', message: bad.message });
    expect(bad.code).toBe(422);
    expect(bad.message).toContain('Unsupported value: "Running"');
  });
});

/** Parses kubectl's table output into rows keyed by header (columns are separated by at least two spaces). */
function parseTable(text: string): Record<string, string>[] {
  const lines = text.trimEnd().split('\n');
  const headerLine = lines[0] ?? '';
  const starts: { name: string; at: number }[] = [];
  for (const m of headerLine.matchAll(/\S+(?: \S+)*/g)) starts.push({ name: m[0], at: m.index ?? 0 });
  return lines.slice(1).map((line) => {
    const row: Record<string, string> = {};
    starts.forEach((col, i) => {
      const end = starts[i + 1]?.at ?? line.length;
      row[col.name] = line.slice(col.at, end).trim();
    });
    return row;
  });
}

async function kubectlGet(args: string[]): Promise<Record<string, string>[]> {
  const result = await run(inject('kubectl'), ['--kubeconfig', testKubeconfigPath(), 'get', ...args]);
  if (result.code !== 0) throw new Error(`kubectl get ${args.join(' ')} failed: ${result.stderr}`);
  return parseTable(result.stdout);
}

describe('kubectl get prints the printer columns', () => {
  const threeDaysAgo = new Date(Date.now() - 3 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  test('kubectl get checkpointpolicies', async () => {
    const policy = samplePolicy(policyName('columns'));
    policy.spec.access.mode = 'BucketCondition';
    await createPolicy(policy);
    await api.patchClusterCustomObjectStatus(
      {
        ...policyRef,
        name: policy.metadata.name as string,
        body: {
          status: {
            observedGeneration: 1,
            boundCount: 3,
            releasedCount: 1,
            conditions: [
              { type: 'Ready', status: 'True', reason: 'PolicyReady', message: 'enforced', lastTransitionTime: now() },
            ],
            lastGC: {
              startTime: threeDaysAgo,
              completionTime: threeDaysAgo,
              dryRun: false,
              checkpointsDeleted: 2,
              objectsDeleted: 140,
              bytesReclaimed: 1024,
              errors: 0,
            },
            nextGCTime: now(),
          },
        },
      },
      mergePatch,
    );
    const rows = await kubectlGet(['checkpointpolicies', policy.metadata.name as string]);
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'NAME',
      'BUCKET',
      'ROOT',
      'MODE',
      'BOUND',
      'RELEASED',
      'READY',
      'LAST GC',
      'AGE',
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      NAME: policy.metadata.name,
      BUCKET: 'acme-checkpoints',
      ROOT: 'checkpoints/prod-cluster',
      MODE: 'BucketCondition',
      BOUND: '3',
      RELEASED: '1',
      READY: 'True',
      'LAST GC': '3d',
    });
    expect(rows[0]?.AGE).toMatch(/^\d+s$/);

    // the short name and the category work too
    const byShortName = await kubectlGet(['ckptpol', policy.metadata.name as string, '-o', 'wide']);
    expect(byShortName[0]).toMatchObject({ NAME: policy.metadata.name, IDENTITY: 'KubernetesServiceAccount' });
  });

  test('kubectl get checkpoints -A', async () => {
    const jobs = [`columns-a-${uniqueSuffix()}`, `columns-b-${uniqueSuffix()}`];
    for (const job of jobs) await createCheckpoint(sampleCheckpoint(namespace, job));
    await api.patchNamespacedCustomObjectStatus(
      {
        ...checkpointRef(),
        name: jobs[0] as string,
        body: {
          status: {
            phase: 'Bound',
            lastWriteTime: threeDaysAgo,
            conditions: [
              { type: 'Ready', status: 'True', reason: 'CheckpointReady', message: 'ok', lastTransitionTime: now() },
            ],
          },
        },
      },
      mergePatch,
    );
    await api.patchNamespacedCustomObjectStatus(
      {
        ...checkpointRef(),
        name: jobs[1] as string,
        body: {
          status: {
            phase: 'Released',
            releasedAt: now(),
            conditions: [
              { type: 'Ready', status: 'False', reason: 'Revoked', message: 'job gone', lastTransitionTime: now() },
            ],
          },
        },
      },
      mergePatch,
    );
    const rows = (await kubectlGet(['checkpoints', '-A'])).filter((r) => r.NAMESPACE === namespace);
    expect(Object.keys(rows[0] ?? {})).toEqual([
      'NAMESPACE',
      'NAME',
      'JOB',
      'URI',
      'PHASE',
      'READY',
      'LAST WRITE',
      'AGE',
    ]);
    const byName = Object.fromEntries(rows.map((r) => [r.NAME, r]));
    expect(byName[jobs[0] as string]).toMatchObject({
      JOB: jobs[0],
      URI: `gs://acme-checkpoints/checkpoints/prod-cluster/${namespace}/${jobs[0]}/`,
      PHASE: 'Bound',
      READY: 'True',
      'LAST WRITE': '3d',
    });
    expect(byName[jobs[1] as string]).toMatchObject({
      JOB: jobs[1],
      PHASE: 'Released',
      READY: 'False',
      'LAST WRITE': '',
    });

    const wide = await kubectlGet(['ckpt', '-n', namespace, jobs[0] as string, '-o', 'wide']);
    expect(wide[0]).toMatchObject({ KIND: 'SparkApplication', POLICY: 'prod' });

    // the category: `kubectl get tidemark` lists both kinds
    const category = await run(inject('kubectl'), [
      '--kubeconfig',
      testKubeconfigPath(),
      'get',
      'tidemark',
      '-n',
      namespace,
      '-o',
      'name',
    ]);
    expect(category.stdout.split('\n')).toEqual(
      expect.arrayContaining(jobs.map((j) => `checkpoint.tidemark.dev/${j}`)),
    );
    expect(category.stdout).toContain('checkpointpolicy.tidemark.dev/');
  });
});

describe('the Spark Operator kinds round-trip', () => {
  const template = {
    type: 'Python',
    mode: 'cluster',
    sparkVersion: '4.0.0',
    mainApplicationFile: 'local:///opt/app/stream.py',
    sparkConf: { 'spark.sql.shuffle.partitions': '4' },
    driver: { cores: 1, memory: '512m', serviceAccount: 'spark-driver' },
    executor: { instances: 1, cores: 1, memory: '512m' },
  };

  test.each<[string, string, { metadata: { labels?: Record<string, string> }; spec: object }]>([
    [
      'SparkApplication',
      'sparkapplications',
      { metadata: { labels: { 'tidemark.dev/checkpoint': 'true' } }, spec: template },
    ],
    [
      'ScheduledSparkApplication',
      'scheduledsparkapplications',
      { metadata: { labels: { 'tidemark.dev/checkpoint': 'true' } }, spec: { schedule: '@every 1h', template } },
    ],
  ])('%s', async (kind, plural, { metadata, spec }) => {
    const name = `spark-${uniqueSuffix()}`;
    const ref = { group: 'sparkoperator.k8s.io', version: 'v1beta2', plural, namespace };
    await api.createNamespacedCustomObject({
      ...ref,
      body: { apiVersion: 'sparkoperator.k8s.io/v1beta2', kind, metadata: { ...metadata, name }, spec },
    });
    const read = (await api.getNamespacedCustomObject({ ...ref, name })) as {
      spec: unknown;
      metadata: { labels?: object };
    };
    expect(read.spec).toMatchObject(spec);
    expect(read.metadata.labels).toEqual(metadata.labels);
    await api.deleteNamespacedCustomObject({ ...ref, name });
  });
});
