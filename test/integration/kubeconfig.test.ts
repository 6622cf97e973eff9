// Our own kubeconfig loading and request authentication (src/kube/kubeconfig.ts, credentials.ts) against the real
// kube-apiserver: the harness's client certificate, a service account's token inline, in a rotating token file,
// and from an exec credential plugin; a 401 makes KubeRest refresh the credential and send the request again.
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { Resources } from '../../src/kube/resources.js';
import { KubeRest } from '../../src/kube/rest.js';
import { createTestNamespace, testKubeConfig, testKubeconfigPath, uniqueSuffix } from '../harness/kube.js';

const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-it-'));
const admin = new KubeRest(loadKubeConfig({ kubeconfig: testKubeconfigPath() }).kubeConfig);
let ns: string;
let cleanup: () => Promise<void>;
let token: string;
const sa = `kc-${uniqueSuffix()}`;

interface Review {
  status: { userInfo: { username: string; groups?: string[] } };
}

/** Who the API server says the client is (SelfSubjectReview: any authenticated user may create one). */
const whoAmI = async (rest: KubeRest) =>
  (
    await rest.request<Review>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    })
  ).status.userInfo;

/** A kubeconfig for the harness's cluster (its server and CA) with the given user. */
function kubeconfigWith(name: string, user: Record<string, unknown>): string {
  const harness = parse(readFileSync(testKubeconfigPath(), 'utf8')) as { clusters: { cluster: unknown }[] };
  const path = join(dir, name);
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'it',
      clusters: [{ name: 'it', cluster: harness.clusters[0]?.cluster }],
      users: [{ name: 'it', user }],
      contexts: [{ name: 'it', context: { cluster: 'it', user: 'it' } }],
    }),
  );
  return path;
}

const restFor = (path: string) => new KubeRest(loadKubeConfig({ kubeconfig: path }).kubeConfig);

beforeAll(async () => {
  ({ name: ns, cleanup } = await createTestNamespace(testKubeConfig(), 'kubeconfig'));
  await admin.create(Resources.ServiceAccount, { metadata: { name: sa, namespace: ns } });
  const tr = await admin.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
    { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } } },
  );
  token = tr.status.token;
});
afterAll(async () => {
  await cleanup?.();
});

describe('our kubeconfig against the real API server', () => {
  const saUser = () => `system:serviceaccount:${ns}:${sa}`;

  it('authenticates with the harness kubeconfig (CA and client certificate embedded)', async () => {
    expect((await whoAmI(admin)).groups).toContain('system:masters');
  });

  it('sends an inline token', async () => {
    expect((await whoAmI(restFor(kubeconfigWith('token', { token })))).username).toBe(saUser());
  });

  it('re-reads a rotated token file after a 401 and sends the request again', async () => {
    const file = join(dir, 'sa-token');
    writeFileSync(file, 'not-a-valid-token\n');
    const rest = restFor(kubeconfigWith('token-file', { tokenFile: file }));
    await expect(whoAmI(rest)).rejects.toMatchObject({ statusCode: 401 });
    writeFileSync(file, `${token}\n`); // the kubelet rotated the token
    expect((await whoAmI(rest)).username).toBe(saUser());
  });

  it('runs an exec credential plugin and runs it again when its token is refused', async () => {
    const plugin = join(dir, 'plugin.js');
    const count = join(dir, 'plugin.count');
    const tokenFile = join(dir, 'plugin.token');
    writeFileSync(tokenFile, token);
    // The first run hands out a token the server refuses (e.g. revoked early), the later ones the real token.
    writeFileSync(
      plugin,
      `#!/usr/bin/env node
const fs = require('node:fs');
const n = (fs.existsSync(${JSON.stringify(count)}) ? Number(fs.readFileSync(${JSON.stringify(count)}, 'utf8')) : 0) + 1;
fs.writeFileSync(${JSON.stringify(count)}, String(n));
const token = n === 1 ? 'refused-token' : fs.readFileSync(process.argv[2], 'utf8');
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential',
  status: { token, expirationTimestamp: new Date(Date.now() + 3600e3).toISOString() } }));
`,
    );
    chmodSync(plugin, 0o755);
    const rest = restFor(
      kubeconfigWith('exec', {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: plugin,
          args: [tokenFile],
          interactiveMode: 'Never',
        },
      }),
    );
    expect((await whoAmI(rest)).username).toBe(saUser());
    expect(readFileSync(count, 'utf8')).toBe('2');
    expect((await whoAmI(rest)).username).toBe(saUser());
    expect(existsSync(count) && readFileSync(count, 'utf8')).toBe('2'); // cached until its expiry
  });
});
