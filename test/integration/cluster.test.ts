// The shared test cluster itself: a real kube-apiserver + etcd with the CRDs installed (see test/harness).
import { join } from 'node:path';
import { ApiextensionsV1Api, type KubernetesObject, KubernetesObjectApi, VersionApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../../src/localcluster/paths.js';
import { apply, createTestNamespace, kubectl, parseYamlObjects, testKubeConfig } from '../harness/kube.js';

const kc = testKubeConfig();
let namespace: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ name: namespace, cleanup } = await createTestNamespace(kc, 'cluster'));
});
afterAll(async () => {
  await cleanup();
});

describe('test cluster', () => {
  it('reports the kube-apiserver version it was built as', async () => {
    const version = inject('kubeVersion');
    expect(version).toMatch(/^v1\.\d+\.\d+/);
    const info = await kc.makeApiClient(VersionApi).getCode();
    expect(info.gitVersion).toBe(version);
    console.log(`integration tests run against kube-apiserver ${info.gitVersion} (${info.goVersion})`);
  });

  it.each([
    'checkpointpolicies.tidemark.dev',
    'checkpoints.tidemark.dev',
    'sparkapplications.sparkoperator.k8s.io',
    'scheduledsparkapplications.sparkoperator.k8s.io',
  ])('has CRD %s Established', async (name) => {
    const crd = await kc.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name });
    const established = crd.status?.conditions?.find((c) => c.type === 'Established');
    expect(established?.status).toBe('True');
  });

  it('serves SparkApplications and ScheduledSparkApplications (the Spark Operator CRDs work)', async () => {
    const template = {
      type: 'Python',
      mode: 'cluster',
      sparkVersion: '4.0.0',
      mainApplicationFile: 'local:///opt/app/stream.py',
      driver: { cores: 1, memory: '512m', serviceAccount: 'spark' },
      executor: { instances: 1, cores: 1, memory: '512m' },
    };
    const objects: (KubernetesObject & { spec: object })[] = [
      {
        apiVersion: 'sparkoperator.k8s.io/v1beta2',
        kind: 'SparkApplication',
        metadata: { name: 'app' },
        spec: template,
      },
      {
        apiVersion: 'sparkoperator.k8s.io/v1beta2',
        kind: 'ScheduledSparkApplication',
        metadata: { name: 'nightly' },
        spec: { schedule: '@daily', template },
      },
    ];
    await apply(kc, objects, namespace);
    const client = KubernetesObjectApi.makeApiClient(kc);
    const app = await client.read<KubernetesObject & { spec: typeof template }>({
      apiVersion: 'sparkoperator.k8s.io/v1beta2',
      kind: 'SparkApplication',
      metadata: { name: 'app', namespace },
    });
    expect(app.spec.driver.serviceAccount).toBe('spark');
    const scheduled = await client.read<KubernetesObject & { spec: { schedule: string } }>({
      apiVersion: 'sparkoperator.k8s.io/v1beta2',
      kind: 'ScheduledSparkApplication',
      metadata: { name: 'nightly', namespace },
    });
    expect(scheduled.spec.schedule).toBe('@daily');
  });

  it('refuses a SparkApplication the Spark schema rejects (validation is live, not a stub)', async () => {
    await expect(
      apply(
        kc,
        {
          apiVersion: 'sparkoperator.k8s.io/v1beta2',
          kind: 'SparkApplication',
          metadata: { name: 'broken' },
          spec: { type: 'Python' },
        } as KubernetesObject & { spec: object },
        namespace,
      ),
    ).rejects.toThrow(/sparkVersion|mainApplicationFile|Required/);
  });

  it('authorizes with RBAC: an ordinary user may not read pods, the admin may', async () => {
    const denied = await kubectl(['auth', 'can-i', 'list', 'pods', '-n', namespace, '--as', 'jane']);
    expect(denied.stdout.trim()).toBe('no');
    expect(denied.code).not.toBe(0);
    const allowed = await kubectl(['auth', 'can-i', 'list', 'pods', '-n', namespace]);
    expect(allowed.stdout.trim()).toBe('yes');
  });

  it("ships a kubectl of the cluster's release", async () => {
    const res = await kubectl(['version', '-o', 'json']);
    expect(res.code, res.stderr).toBe(0);
    const v = JSON.parse(res.stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(v.clientVersion.gitVersion).toBe(inject('kubeVersion'));
    expect(v.serverVersion.gitVersion).toBe(inject('kubeVersion'));
  });

  it('renders the CRDs with `kubectl kustomize config/crd`', async () => {
    const res = await kubectl(['kustomize', join(repoRoot(), 'config', 'crd')]);
    expect(res.code, res.stderr).toBe(0);
    const names = parseYamlObjects(res.stdout)
      .filter((o) => o.kind === 'CustomResourceDefinition')
      .map((o) => o.metadata?.name)
      .sort();
    expect(names).toEqual(['checkpointpolicies.tidemark.dev', 'checkpoints.tidemark.dev']);
  });
});
