// The installable manifests (config/, charts/tidemark/) against the decisions they carry: the RBAC rules are exactly
// src/kube/rbac.ts's, no wildcards, Checkpoints are read-only for everyone but the controller, the Deployment runs
// hardened with 2 replicas, the webhooks are as CONTRACTS.md fixes them, the chart's CRDs are the repository's, and
// the GKE IAM role holds exactly the controller's GCS permissions. (Rendering and server-side dry-run:
// test/integration/install.test.ts.)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { CLUSTER_PERMISSIONS, LEASE_PERMISSIONS, type PolicyRule, rulesOf } from '../../src/kube/rbac.js';
import { CONTROLLER_PERMISSIONS } from '../../src/playground/gcs-setup.js';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const yaml = (path: string): any => parse(read(path));

/** GC's two permissions (CONTRACTS.md "GC"), on top of the grant path's. */
const GC_PERMISSIONS = ['storage.objects.delete', 'storage.managedFolders.delete'];

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((n) => {
    const p = join(dir, n);
    return statSync(join(ROOT, p)).isDirectory() ? files(p) : [p];
  });
}

describe('RBAC manifests', () => {
  it('config/rbac/role.yaml and the chart hold exactly the ClusterRole rules of src/kube/rbac.ts', () => {
    const expected = rulesOf(CLUSTER_PERMISSIONS);
    expect(yaml('config/rbac/role.yaml').rules).toEqual(expected);
    expect(yaml('charts/tidemark/files/controller-rules.yaml')).toEqual(expected);
  });

  it('the leader-election Role holds exactly the Lease rules, in the controller namespace only', () => {
    const role = yaml('config/rbac/leader_election_role.yaml');
    expect(role.kind).toBe('Role');
    expect(role.metadata.namespace).toBe('tidemark-system');
    expect(role.rules).toEqual(rulesOf(LEASE_PERMISSIONS));
    expect(yaml('charts/tidemark/files/leader-election-rules.yaml')).toEqual(rulesOf(LEASE_PERMISSIONS));
  });

  it('no wildcard in any rule of config/ or the chart', () => {
    for (const f of [...files('config'), ...files('charts/tidemark')].filter((f) => /\.(ya?ml|tpl)$/.test(f))) {
      expect(read(f), f).not.toMatch(/(verbs|resources|apiGroups):\s*\[[^\]]*\*|^\s*-\s*["']?\*["']?\s*$/m);
    }
  });

  it('the aggregated roles let teams read Checkpoints and write nothing', () => {
    const viewer = yaml('config/rbac/checkpoint_viewer_role.yaml');
    expect(viewer.metadata.labels['rbac.authorization.k8s.io/aggregate-to-view']).toBe('true');
    for (const r of viewer.rules as PolicyRule[]) {
      expect(r.apiGroups).toEqual(['tidemark.dev']);
      expect(r.verbs).toEqual(['get', 'list', 'watch']);
      for (const res of r.resources) expect(res.startsWith('checkpoints')).toBe(true);
    }
    // Nobody else may write Checkpoints: the only rules in config/ granting a write on them are the controller's.
    const writers = files('config')
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => parseAllDocuments(read(f)).map((d) => ({ f, o: d.toJS() })))
      .filter(({ o }) => o?.kind === 'ClusterRole' || o?.kind === 'Role')
      .filter(({ o }) =>
        (o.rules as PolicyRule[]).some(
          (r) =>
            r.resources.some((x) => x === 'checkpoints' || x === 'checkpoints/status') &&
            r.verbs.some((v) => !['get', 'list', 'watch'].includes(v)),
        ),
      )
      .map(({ o }) => o.metadata.name);
    expect(writers).toEqual(['tidemark-controller']);
  });
});

describe('the controller Deployment', () => {
  const d = yaml('config/manager/deployment.yaml');
  const pod = d.spec.template.spec;
  const c = pod.containers[0];

  it('2 replicas, leader election on (no --no-leader-elect), the Lease in its own namespace', () => {
    expect(d.spec.replicas).toBe(2);
    expect(c.args).not.toContain('--no-leader-elect');
    expect(c.env).toContainEqual({
      name: 'POD_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    expect(pod.serviceAccountName).toBe('tidemark-controller');
  });

  it('probes, resources, the webhook port 9443 and the health port 8081', () => {
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources.limits.memory).toBeDefined();
    expect(c.ports).toEqual([
      { name: 'webhook', containerPort: 9443, protocol: 'TCP' },
      { name: 'health', containerPort: 8081, protocol: 'TCP' },
    ]);
  });

  it('non-root, read-only root filesystem, seccomp RuntimeDefault, no privilege escalation, no capabilities', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('a PodDisruptionBudget keeps one replica through a drain', () => {
    const pdb = yaml('config/manager/pdb.yaml');
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: d.spec.selector });
  });
});

describe('webhook manifests (CONTRACTS.md "Webhooks")', () => {
  it('tidemark-mutating ships with no webhooks (the controller keeps them)', () => {
    const m = yaml('config/webhook/mutating.yaml');
    expect(m.metadata.name).toBe('tidemark-mutating');
    expect(m.webhooks).toEqual([]);
  });

  it('tidemark-validating has its one entry, failurePolicy Ignore, through Service tidemark-webhook:443', () => {
    const v = yaml('config/webhook/validating.yaml');
    expect(v.metadata.name).toBe('tidemark-validating');
    expect(v.webhooks).toHaveLength(1);
    expect(v.webhooks[0]).toMatchObject({
      name: 'checkpointpolicies.tidemark.dev',
      failurePolicy: 'Ignore',
      sideEffects: 'None',
      timeoutSeconds: 10,
      clientConfig: {
        service: {
          name: 'tidemark-webhook',
          namespace: 'tidemark-system',
          path: '/validate/checkpointpolicy',
          port: 443,
        },
      },
      rules: [{ operations: ['CREATE', 'UPDATE'], resources: ['checkpointpolicies'] }],
    });
    const s = yaml('config/webhook/service.yaml');
    expect(s.spec.ports).toEqual([{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
  });
});

describe('the Helm chart', () => {
  it("ships the repository's CRDs unchanged", () => {
    for (const f of readdirSync(join(ROOT, 'crds')).filter((n) => n.endsWith('.yaml') && n !== 'kustomization.yaml')) {
      expect(read(`charts/tidemark/crds/${f}`), f).toBe(read(`crds/${f}`));
    }
  });

  it('has values for replicas, image, resources, the GCP identity, webhook certificates and the ServiceMonitor', () => {
    const v = yaml('charts/tidemark/values.yaml');
    expect(v.replicaCount).toBe(2);
    expect(Object.keys(v.image)).toEqual(expect.arrayContaining(['repository', 'tag']));
    expect(v.resources.requests).toBeDefined();
    expect(v.gcp).toEqual({ serviceAccount: '' });
    expect(v.webhook.certManager.enabled).toBe(false);
    expect(v.metrics.serviceMonitor.enabled).toBe(false);
  });
});

describe('the GKE overlay', () => {
  const expected = [...new Set([...CONTROLLER_PERMISSIONS, ...GC_PERMISSIONS])].sort();

  it('the gcloud role file and the Terraform snippet hold exactly the controller permissions plus GC', () => {
    expect([...yaml('config/overlays/gke/iam/tidemark-controller-role.yaml').includedPermissions].sort()).toEqual(
      expected,
    );
    const tf = read('config/overlays/gke/iam/main.tf');
    const block = /permissions\s*=\s*\[([^\]]*)\]/.exec(tf)?.[1] ?? '';
    expect([...block.matchAll(/"([^"]+)"/g)].map((m) => m[1]).sort()).toEqual(expected);
  });

  it('annotates the controller service account for Workload Identity', () => {
    const sa = yaml('config/overlays/gke/workload-identity.yaml');
    expect(sa.metadata).toMatchObject({ name: 'tidemark-controller', namespace: 'tidemark-system' });
    expect(sa.metadata.annotations['iam.gke.io/gcp-service-account']).toMatch(/@.*\.iam\.gserviceaccount\.com$/);
  });
});
