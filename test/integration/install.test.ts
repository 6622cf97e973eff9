// Every kustomize overlay in config/ and the Helm chart, rendered (kubectl kustomize with the cluster's own kubectl;
// the pinned helm built from test/helm) and applied to the real API server with server-side dry-run: the API server
// accepts every object as it would on a real install. ServiceMonitor (Prometheus Operator) and cert-manager's
// Certificate/Issuer get stand-in CRDs that accept any spec, so for those kinds this shows only that the objects are
// well-formed Kubernetes objects of kinds the cluster serves.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureHelm } from '../../src/localcluster/helm.js';
import { type CommandResult, kubectl, run } from '../harness/kube.js';

let helm: string;

/** The namespaces the manifests name must exist: a dry-run create of a Namespace creates nothing. */
const NAMESPACES = ['tidemark-system', 'team-a', 'tidemark-other'];

function stubCrd(group: string, kind: string, plural: string, version: string, scope = 'Namespaced'): string {
  return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.${group}
  labels: { tidemark.dev/test-stub: "true" }
spec:
  group: ${group}
  scope: ${scope}
  names: { kind: ${kind}, plural: ${plural}, singular: ${kind.toLowerCase()}, listKind: ${kind}List }
  versions:
    - name: ${version}
      served: true
      storage: true
      schema:
        openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;
}

const STUBS = [
  stubCrd('monitoring.coreos.com', 'ServiceMonitor', 'servicemonitors', 'v1'),
  stubCrd('cert-manager.io', 'Certificate', 'certificates', 'v1'),
  stubCrd('cert-manager.io', 'Issuer', 'issuers', 'v1'),
].join('---\n');

function ok(r: CommandResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Server-side dry-run of a rendered manifest stream; returns the objects the API server accepted. */
async function dryRun(rendered: string): Promise<string[]> {
  const out = ok(
    await kubectl(
      [
        'apply',
        '--server-side',
        '--dry-run=server',
        '--force-conflicts',
        '--field-manager=tidemark-install-test',
        '-f',
        '-',
      ],
      {
        input: rendered,
      },
    ),
    'kubectl apply --dry-run=server',
  );
  return out.split('\n').filter((l) => l.trim() !== '');
}

function kinds(rendered: string): string[] {
  return [...rendered.matchAll(/^kind: (\S+)$/gm)].map((m) => m[1] as string);
}

beforeAll(async () => {
  helm = await ensureHelm({ log: (m) => console.log(`[helm] ${m}`) });
  for (const ns of NAMESPACES) {
    const r = await kubectl(['create', 'namespace', ns]);
    if (r.code !== 0 && !r.stderr.includes('AlreadyExists')) throw new Error(r.stderr);
  }
  ok(await kubectl(['apply', '--server-side', '-f', '-'], { input: STUBS }), 'stub CRDs');
  ok(
    await kubectl(['wait', '--for=condition=Established', 'crd', '-l', 'tidemark.dev/test-stub=true', '--timeout=60s']),
    'stub CRDs Established',
  );
});

afterAll(async () => {
  // Stand-in CRDs only; the namespaces stay (a test cluster without kube-controller-manager never finishes deleting one).
  await kubectl(['delete', 'crd', '-l', 'tidemark.dev/test-stub=true', '--wait=false']);
});

describe('kustomize: every overlay renders and passes server-side dry-run', () => {
  it.each([
    ['config/crd', 2],
    ['config/rbac', 7],
    ['config/manager', 3],
    ['config/webhook', 3],
    ['config/samples', 4],
    ['config/default', 15],
    ['config/overlays/gke', 15],
  ])('%s', async (dir, count) => {
    const rendered = ok(await kubectl(['kustomize', dir]), `kubectl kustomize ${dir}`);
    expect(kinds(rendered)).toHaveLength(count);
    const applied = await dryRun(rendered);
    expect(applied).toHaveLength(count);
    for (const line of applied) expect(line).toMatch(/serverside-applied \(server dry run\)$/);
  });

  it('config/overlays/gke: the Workload Identity annotation and the Artifact Registry image', async () => {
    const rendered = ok(await kubectl(['kustomize', 'config/overlays/gke']), 'kustomize');
    expect(rendered).toContain(
      'iam.gke.io/gcp-service-account: tidemark-controller@my-project.iam.gserviceaccount.com',
    );
    expect(rendered).toContain('image: europe-west1-docker.pkg.dev/my-project/tidemark/tidemark:0.1.0');
  });
});

describe('Helm: the chart renders and passes server-side dry-run', () => {
  const template = async (namespace: string, sets: string[]) =>
    ok(
      await run(helm, [
        'template',
        'tidemark',
        'charts/tidemark',
        '--namespace',
        namespace,
        '--include-crds',
        '--kube-version',
        inject('kubeVersion'),
        ...sets.flatMap((s) => ['--set', s]),
      ]),
      'helm template',
    );

  it('helm lint passes', async () => {
    const out = ok(
      await run(helm, ['lint', 'charts/tidemark', '--strict', '--kube-version', inject('kubeVersion')]),
      'helm lint',
    );
    expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('defaults: 2 replicas, the self-bootstrapped webhook certificate, no ServiceMonitor', async () => {
    const rendered = await template('tidemark-system', []);
    expect(kinds(rendered)).not.toContain('ServiceMonitor');
    expect(kinds(rendered)).not.toContain('Certificate');
    expect(rendered).toContain('replicas: 2');
    const applied = await dryRun(rendered);
    expect(applied).toHaveLength(kinds(rendered).length);
  });

  it('cert-manager, the ServiceMonitor, a GCP identity, 3 replicas, another namespace', async () => {
    const rendered = await template('tidemark-other', [
      'webhook.certManager.enabled=true',
      'metrics.serviceMonitor.enabled=true',
      'gcp.serviceAccount=tidemark@my-project.iam.gserviceaccount.com',
      'replicaCount=3',
      'image.repository=europe-west1-docker.pkg.dev/my-project/tidemark/tidemark',
    ]);
    expect(kinds(rendered)).toEqual(expect.arrayContaining(['ServiceMonitor', 'Certificate', 'Issuer']));
    expect(rendered).toContain('cert-manager.io/inject-ca-from: tidemark-other/tidemark-webhook-cert');
    expect(rendered).toContain('--webhook-cert-dir=/var/run/tidemark/webhook-certs');
    expect(rendered).toContain('--webhook-service=tidemark-other/tidemark-webhook');
    expect(rendered).toContain('iam.gke.io/gcp-service-account: tidemark@my-project.iam.gserviceaccount.com');
    const applied = await dryRun(rendered);
    expect(applied).toHaveLength(kinds(rendered).length);
  });
});
