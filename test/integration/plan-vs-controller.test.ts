// One source of truth: `tidemark plan` (the process, offline) and the real controller (against the API server and
// the emulator) are given the same manifests, and what the controller does is what plan said: the same Checkpoint
// URI, members, role and mode for each provisioned job, the same refusal reason, the same conflict, and nothing for
// a job no policy selects. The controller runs as the service account tidemark-system/tidemark-controller with
// nothing but config/rbac's roles, so this also shows those roles are enough.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { Checkpoint } from '../../src/api/index.js';
import type { PlanReport } from '../../src/plan/report.js';
import { ensureBuilt, tidemark } from '../harness/cli.js';
import { kubectl, testKubeConfig, testKubeconfigPath, uniqueSuffix, waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  getCheckpoint,
  hasReason,
  isReady,
  POOL,
  PROJECT_NUMBER,
  setupFixture,
  waitForCheckpoint,
} from './controller-fixture.js';

const kc = testKubeConfig();
const tag = uniqueSuffix();
let fx: Fixture;
let tmp: string;
let report: PlanReport;
const objects: object[] = [];

async function must(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A kubeconfig for the controller's service account: the admin's cluster, a token from the TokenRequest API. */
async function serviceAccountKubeconfig(): Promise<string> {
  const r = await kubectl(['create', 'namespace', 'tidemark-system']);
  if (r.code !== 0 && !r.stderr.includes('AlreadyExists')) throw new Error(r.stderr);
  await must(['apply', '--server-side', '--field-manager=tidemark-plan-test', '-k', 'config/rbac']);
  const token = (
    await must(['create', 'token', 'tidemark-controller', '-n', 'tidemark-system', '--duration=2h'])
  ).trim();
  const admin = parse(readFileSync(testKubeconfigPath(), 'utf8'));
  const context = admin.contexts.find((c: { name: string }) => c.name === admin['current-context']);
  const config = {
    ...admin,
    users: [{ name: 'tidemark-controller', user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: context.context.cluster, user: 'tidemark-controller' } }],
    'current-context': 'sa',
  };
  const path = join(tmp, 'controller.kubeconfig');
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}

function namespace(name: string, labels: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'tidemark.dev/test': 'true', ...labels } },
  };
}

function policy(name: string, select: Record<string, string>, access: object) {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'CheckpointPolicy',
    metadata: { name },
    spec: {
      namespaceSelector: { matchLabels: select },
      jobSelector: { matchLabels: { 'tidemark.dev/checkpoint': 'true' } },
      storage: { bucket: fx.bucket, rootPrefix: `plan/${name}` },
      access: { propagationHold: '1s', ...access },
    },
  };
}

function app(ns: string, name: string, sa = 'spark') {
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: { name, namespace: ns, labels: { 'tidemark.dev/checkpoint': 'true' } },
    spec: {
      type: 'Python',
      mode: 'cluster',
      sparkVersion: '4.0.0',
      mainApplicationFile: 'local:///opt/app/stream.py',
      driver: { serviceAccount: sa, cores: 1, memory: '512m' },
      executor: { instances: 1, cores: 1, memory: '512m' },
    },
  };
}

const ns = { a: `plan-a-${tag}`, b: `plan-b-${tag}`, c: `plan-c-${tag}`, d: `plan-d-${tag}` };

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tidemark-plan-vs-controller-'));
  fx = await setupFixture(kc, `plan-${tag}`);
  const wi = { workloadIdentity: { projectNumber: PROJECT_NUMBER, pool: POOL } };
  const scen = `plan-${tag}`;
  objects.push(
    policy(`p1-${tag}`, { scen, p1: 'y' }, wi),
    policy(`p2-${tag}`, { scen, p2: 'y' }, { mode: 'BucketCondition', ...wi }),
    policy(
      `p3-${tag}`,
      { scen, p3: 'y' },
      {
        identity: 'GoogleServiceAccount',
        allowedServiceAccounts: ['*@jobs.iam.gserviceaccount.com'],
      },
    ),
    namespace(ns.a, { scen, p1: 'y' }),
    namespace(ns.b, { scen, p1: 'y', p2: 'y' }),
    namespace(ns.c, { scen }),
    namespace(ns.d, { scen, p3: 'y' }),
    ...Object.values(ns).map((n) => ({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'spark', namespace: n },
    })),
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: 'gsa-ok',
        namespace: ns.d,
        annotations: { 'iam.gke.io/gcp-service-account': 'a@jobs.iam.gserviceaccount.com' },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: 'gsa-no',
        namespace: ns.d,
        annotations: { 'iam.gke.io/gcp-service-account': 'a@other.iam.gserviceaccount.com' },
      },
    },
    app(ns.a, 'provisioned'),
    app(ns.b, 'conflicted'),
    app(ns.c, 'unselected'),
    app(ns.d, 'allowed', 'gsa-ok'),
    app(ns.d, 'refused', 'gsa-no'),
  );
  const file = join(tmp, 'manifests.yaml');
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));

  await ensureBuilt(join('cli', 'plan.js'), ['cli', 'plan', 'policy', 'api']);
  const r = await tidemark(['plan', '-f', file, '-o', 'json']);
  if (r.code !== 1) throw new Error(`plan exited ${r.code} (expected 1 for the conflict and the refusal): ${r.stderr}`);
  report = JSON.parse(r.stdout) as PlanReport;

  await apply(kc, objects as never);
  await fx.startController({ kubeconfig: await serviceAccountKubeconfig(), leaseNamespace: 'tidemark-system' });
}, 300_000);

afterAll(async () => {
  for (const o of [...objects].reverse() as never[]) await deleteObject(kc, o).catch(() => undefined);
  await fx?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const planned = (name: string) => {
  const j = report.jobs.find((x) => x.name === name);
  if (!j) throw new Error(`plan has no job ${name}`);
  return j;
};

async function eventReasons(namespace: string, name: string): Promise<string[]> {
  const list = JSON.parse(await must(['get', 'events.events.k8s.io', '-n', namespace, '-o', 'json'])) as {
    items: { reason: string; regarding: { name: string } }[];
  };
  return list.items.filter((e) => e.regarding.name === name).map((e) => e.reason);
}

describe('tidemark plan and the controller agree', () => {
  it('plan found what the manifests hold', () => {
    expect(Object.fromEntries(report.jobs.map((j) => [j.name, `${j.outcome} ${j.reason}`]))).toEqual({
      provisioned: 'Provision PolicySelected',
      conflicted: 'Blocked PolicyConflict',
      unselected: 'Unselected NoPolicy',
      allowed: 'Provision PolicySelected',
      refused: 'Refused ServiceAccountNotAllowed',
    });
  });

  it.each(['provisioned', 'allowed'])(
    '%s: the Checkpoint is what plan said (URI, members, role, mode)',
    async (name) => {
      const j = planned(name);
      const cp = await waitForCheckpoint(kc, j.namespace, name, isReady, 'Ready', 60_000);
      expect({
        policy: cp.spec.policyName,
        uri: cp.spec.uri,
        members: [...(cp.spec.members ?? [])].sort(),
        role: cp.spec.access?.role,
        mode: cp.spec.access?.mode,
      }).toEqual({ policy: j.policy, uri: j.uri, members: j.members, role: j.role, mode: j.mode });
    },
  );

  it('refused: the Checkpoint is bound with nothing granted, for the reason plan gave', async () => {
    const j = planned('refused');
    const cp = await waitForCheckpoint(
      kc,
      j.namespace,
      'refused',
      hasReason('AccessGranted', j.reason),
      `AccessGranted reason ${j.reason}`,
      60_000,
    );
    expect(cp.spec.uri).toBe(j.uri);
    expect(cp.spec.members ?? []).toEqual([]);
  });

  it('conflicted: the controller reports the same conflict and provisions nothing', async () => {
    const j = planned('conflicted');
    await waitFor('a PolicyConflict Event on the job', async () =>
      (await eventReasons(j.namespace, 'conflicted')).includes(j.reason),
    );
    expect(await getCheckpoint(kc, j.namespace, 'conflicted')).toBeUndefined();
  });

  it('unselected: no Checkpoint once every other job has been handled', async () => {
    await waitForCheckpoint(kc, ns.a, 'provisioned', isReady, 'Ready', 60_000);
    expect(await getCheckpoint(kc, ns.c, 'unselected')).toBeUndefined();
  });
});
