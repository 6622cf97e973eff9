import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { KubeCredentials } from '../../../src/kube/credentials.js';
import {
  type KubeConfigSource,
  loadKubeConfig,
  mergeKubeconfigs,
  parseKubeconfig,
  readKubeconfig,
} from '../../../src/kube/kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));

function write(name: string, doc: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof doc === 'string' ? doc : stringify(doc));
  return path;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A kubeconfig with one context per [context, cluster, user] triple. */
function config(opts: {
  current?: string;
  clusters?: Record<string, Record<string, unknown>>;
  users?: Record<string, Record<string, unknown>>;
  contexts?: Record<string, Record<string, unknown>>;
}) {
  const list = (key: string, m: Record<string, Record<string, unknown>> = {}) =>
    Object.entries(m).map(([name, body]) => ({ name, [key]: body }));
  return {
    apiVersion: 'v1',
    kind: 'Config',
    ...(opts.current ? { 'current-context': opts.current } : {}),
    clusters: list('cluster', opts.clusters),
    users: list('user', opts.users),
    contexts: list('context', opts.contexts),
  };
}

async function optionsOf(source: KubeConfigSource): Promise<https.RequestOptions> {
  const o: https.RequestOptions = { headers: { Accept: 'application/json' } };
  await loadKubeConfig(source).kubeConfig.applyToHTTPSOptions(o);
  return o;
}

describe('kubeconfig: parsing', () => {
  it('reads TLS settings, client certificates (data and files, relative to the file) and tokens', async () => {
    mkdirSync(join(dir, 'certs'), { recursive: true });
    writeFileSync(join(dir, 'certs', 'ca.pem'), 'CA-FROM-FILE');
    writeFileSync(join(dir, 'certs', 'client.pem'), 'CERT-FROM-FILE');
    writeFileSync(join(dir, 'certs', 'client.key'), 'KEY-FROM-FILE');
    const path = write(
      'tls',
      config({
        current: 'data',
        clusters: {
          d: {
            server: 'https://d.example:6443',
            'certificate-authority-data': b64('CA-DATA'),
            'tls-server-name': 'kubernetes.default',
          },
          f: { server: 'https://f.example', 'certificate-authority': 'certs/ca.pem', 'insecure-skip-tls-verify': true },
        },
        users: {
          d: { 'client-certificate-data': b64('CERT-DATA'), 'client-key-data': b64('KEY-DATA'), token: 'tok' },
          f: { 'client-certificate': 'certs/client.pem', 'client-key': 'certs/client.key' },
        },
        contexts: { data: { cluster: 'd', user: 'd', namespace: 'team' }, files: { cluster: 'f', user: 'f' } },
      }),
    );
    const data = await optionsOf({ kubeconfig: path });
    expect(data).toMatchObject({
      ca: 'CA-DATA',
      servername: 'kubernetes.default',
      cert: 'CERT-DATA',
      key: 'KEY-DATA',
      headers: { Accept: 'application/json', Authorization: 'Bearer tok' },
    });
    expect(data.rejectUnauthorized).toBeUndefined();
    expect(readKubeconfig({ kubeconfig: path }).selected.context.namespace).toBe('team');
    const files = await optionsOf({ kubeconfig: path, context: 'files' });
    expect(files).toMatchObject({
      ca: 'CA-FROM-FILE',
      rejectUnauthorized: false,
      cert: 'CERT-FROM-FILE',
      key: 'KEY-FROM-FILE',
    });
    expect((files.headers as Record<string, string>).Authorization).toBeUndefined();
  });

  it('refuses fields it does not implement only when the selected context uses them, naming the field', () => {
    const path = write(
      'unsupported',
      config({
        current: 'ok',
        clusters: { c: { server: 'https://c' }, p: { server: 'https://p', 'proxy-url': 'http://proxy:3128' } },
        users: { u: { token: 't' }, gcp: { 'auth-provider': { name: 'gcp' } } },
        contexts: {
          ok: { cluster: 'c', user: 'u' },
          legacy: { cluster: 'c', user: 'gcp' },
          proxied: { cluster: 'p', user: 'u' },
        },
      }),
    );
    expect(readKubeconfig({ kubeconfig: path }).selected.cluster.server).toBe('https://c');
    expect(() => readKubeconfig({ kubeconfig: path, context: 'legacy' })).toThrow(
      'kubeconfig user gcp: auth-provider is not supported by tidemark',
    );
    expect(() => readKubeconfig({ kubeconfig: path, context: 'proxied' })).toThrow(
      'kubeconfig cluster p: proxy-url is not supported by tidemark',
    );
  });

  it('refuses a context without a cluster, an exec plugin of an unknown apiVersion and a cluster without server', () => {
    expect(() =>
      readKubeconfig({
        kubeconfig: write('nocluster', config({ current: 'x', contexts: { x: { cluster: 'gone' } } })),
      }),
    ).toThrow('kubeconfig has no current context/cluster');
    expect(() =>
      parseKubeconfig(
        stringify(
          config({ users: { u: { exec: { apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'x' } } } }),
        ),
        'f',
        dir,
      ),
    ).toThrow(/exec apiVersion client.authentication.k8s.io\/v1alpha1 is not supported/);
    expect(() => parseKubeconfig(stringify(config({ clusters: { c: {} } })), 'f', dir)).toThrow(
      'cluster c has no server',
    );
  });
});

describe('kubeconfig: $KUBECONFIG merge (kubectl rules)', () => {
  const first = write(
    'first',
    config({
      clusters: { shared: { server: 'https://first' } },
      users: { u: { token: 'first' } },
      contexts: { one: { cluster: 'shared', user: 'u' } },
    }),
  );
  const second = write(
    'second',
    config({
      current: 'two',
      clusters: { shared: { server: 'https://second' }, own: { server: 'https://own' } },
      users: { u: { token: 'second' } },
      contexts: { two: { cluster: 'own', user: 'u' }, one: { cluster: 'own', user: 'u' } },
    }),
  );
  const third = write('third', config({ current: 'one' }));

  it('takes each named entry from the first file that defines it, current-context from the first that sets it', async () => {
    const env = { KUBECONFIG: `${first}:${join(dir, 'missing')}:${second}:${third}` };
    const { selected, origin } = readKubeconfig({ env });
    expect(origin).toBe('env');
    expect(selected.context.name).toBe('two');
    expect(selected.cluster.server).toBe('https://own');
    expect((await optionsOf({ env })).headers).toMatchObject({ Authorization: 'Bearer first' });
    const one = readKubeconfig({ env, context: 'one' }).selected;
    expect(one.cluster.server).toBe('https://first');
  });

  it('merges pure data the same way', () => {
    const m = mergeKubeconfigs([
      { clusters: [], users: [], contexts: [] },
      { clusters: [{ name: 'a', server: 's1', skipTLSVerify: false }], users: [], contexts: [], currentContext: 'x' },
      { clusters: [{ name: 'a', server: 's2', skipTLSVerify: false }], users: [], contexts: [], currentContext: 'y' },
    ]);
    expect(m.clusters.map((c) => c.server)).toEqual(['s1']);
    expect(m.currentContext).toBe('x');
  });
});

describe('kubeconfig: in-cluster service account', () => {
  const sa = join(dir, 'sa');
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), 'sa-token-1\n');
  writeFileSync(join(sa, 'ca.crt'), 'SA-CA');
  writeFileSync(join(sa, 'namespace'), 'tidemark-system');

  it('uses KUBERNETES_SERVICE_HOST/PORT, the CA and the namespace, and re-reads the rotated token', async () => {
    const env = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '8443' };
    const { selected, origin } = readKubeconfig({ env, serviceAccountDir: sa });
    expect(origin).toBe('in-cluster');
    expect(selected.cluster.server).toBe('https://[fd00::1]:8443');
    expect(selected.context.namespace).toBe('tidemark-system');
    let now = 1_000_000;
    const creds = new KubeCredentials(selected, () => now);
    const auth = async () => {
      const o: https.RequestOptions = {};
      await creds.applyToHTTPSOptions(o);
      return { ca: o.ca, auth: (o.headers as Record<string, string>).Authorization };
    };
    expect(await auth()).toEqual({ ca: 'SA-CA', auth: 'Bearer sa-token-1' });
    writeFileSync(join(sa, 'token'), 'sa-token-2\n');
    now += 61_000;
    expect(await auth()).toEqual({ ca: 'SA-CA', auth: 'Bearer sa-token-2' });
    writeFileSync(join(sa, 'token'), 'sa-token-3\n');
    // A 401 re-reads it at once.
    expect(creds.refreshCredentials({})).toBe(true);
    expect((await auth()).auth).toBe('Bearer sa-token-3');
  });

  it('is skipped for an explicit file or KUBECONFIG, and missing token is an error', () => {
    const file = write(
      'plain',
      config({ current: 'c', clusters: { c: { server: 'https://p' } }, contexts: { c: { cluster: 'c' } } }),
    );
    expect(readKubeconfig({ kubeconfig: file, env: { KUBERNETES_SERVICE_HOST: 'h' } }).origin).toBe('file');
    expect(readKubeconfig({ env: { KUBECONFIG: file, KUBERNETES_SERVICE_HOST: 'h' } }).origin).toBe('env');
    expect(() =>
      readKubeconfig({ env: { KUBERNETES_SERVICE_HOST: 'h' }, serviceAccountDir: join(dir, 'none') }),
    ).toThrow(/service account token .* does not exist/);
  });
});

describe('kubeconfig: exec credential plugins', () => {
  /**
   * A plugin that counts its runs in a file, prints a token numbered by the run (or a client certificate), and
   * echoes what it was given (args, env, KUBERNETES_EXEC_INFO) into another file.
   */
  function plugin(name: string, status: string): string {
    const path = join(dir, name);
    writeFileSync(
      path,
      `#!/usr/bin/env node
const fs = require('node:fs');
const count = ${JSON.stringify(`${path}.count`)};
const n = (fs.existsSync(count) ? Number(fs.readFileSync(count, 'utf8')) : 0) + 1;
fs.writeFileSync(count, String(n));
fs.writeFileSync(${JSON.stringify(`${path}.seen`)}, JSON.stringify({ args: process.argv.slice(2), env: process.env.PLUGIN_ENV, info: JSON.parse(process.env.KUBERNETES_EXEC_INFO) }));
const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
process.stdout.write(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: ${status} }));
`,
    );
    chmodSync(path, 0o755);
    return path;
  }
  const runs = (path: string) => (existsSync(`${path}.count`) ? Number(readFileSync(`${path}.count`, 'utf8')) : 0);

  function execConfig(command: string, apiVersion: string, extra: Record<string, unknown> = {}) {
    return write(
      `kc-${command.split('/').pop()}`,
      config({
        current: 'c',
        clusters: { c: { server: 'https://exec.example', 'certificate-authority-data': b64('EXEC-CA') } },
        users: {
          u: {
            exec: {
              apiVersion,
              command,
              args: ['get-token', '--cluster', 'c'],
              env: [{ name: 'PLUGIN_ENV', value: 'from-kubeconfig' }],
              ...extra,
            },
          },
        },
        contexts: { c: { cluster: 'c', user: 'u' } },
      }),
    );
  }

  it('runs a v1 plugin with its args and env, caches the token until expirationTimestamp, re-runs after a 401', async () => {
    const cmd = plugin(
      'token-plugin',
      "{ token: 'tok-' + n, expirationTimestamp: new Date(Number(process.env.EXPIRES_AT)).toISOString() }",
    );
    let now = Date.parse('2026-01-01T00:00:00Z');
    process.env.EXPIRES_AT = String(now + 3_600_000);
    try {
      const { selected } = readKubeconfig({
        kubeconfig: execConfig(cmd, 'client.authentication.k8s.io/v1', { provideClusterInfo: true }),
      });
      const creds = new KubeCredentials(selected, () => now);
      const token = async () => {
        const o: https.RequestOptions = {};
        await creds.applyToHTTPSOptions(o);
        return (o.headers as Record<string, string>).Authorization;
      };
      // Concurrent requests share one run.
      expect(await Promise.all([token(), token()])).toEqual(['Bearer tok-1', 'Bearer tok-1']);
      expect(runs(cmd)).toBe(1);
      const seen = JSON.parse(readFileSync(`${cmd}.seen`, 'utf8'));
      expect(seen).toEqual({
        args: ['get-token', '--cluster', 'c'],
        env: 'from-kubeconfig',
        info: {
          apiVersion: 'client.authentication.k8s.io/v1',
          kind: 'ExecCredential',
          spec: {
            interactive: false,
            cluster: {
              server: 'https://exec.example',
              'insecure-skip-tls-verify': false,
              'certificate-authority-data': b64('EXEC-CA'),
            },
          },
        },
      });
      now += 3_000_000;
      expect(await token()).toBe('Bearer tok-1');
      now += 600_000; // past the expiry
      process.env.EXPIRES_AT = String(now + 3_600_000);
      expect(await token()).toBe('Bearer tok-2');
      // Refused: tok-2 is dropped and the plugin runs again; a refusal of an older token (a request sent before)
      // keeps the new one.
      const refused = (t: string) => creds.refreshCredentials({ headers: { Authorization: `Bearer ${t}` } });
      expect(refused('tok-2')).toBe(true);
      expect(await token()).toBe('Bearer tok-3');
      expect(refused('tok-2')).toBe(true);
      expect(await token()).toBe('Bearer tok-3');
      expect(runs(cmd)).toBe(3);
    } finally {
      delete process.env.EXPIRES_AT;
    }
  });

  it('uses a v1beta1 plugin’s client certificate and key (no expiry: cached until a 401)', async () => {
    const cmd = plugin('cert-plugin', "{ clientCertificateData: 'CERT-' + n, clientKeyData: 'KEY-' + n }");
    const { selected } = readKubeconfig({ kubeconfig: execConfig(cmd, 'client.authentication.k8s.io/v1beta1') });
    const creds = new KubeCredentials(selected);
    const o: https.RequestOptions = {};
    await creds.applyToHTTPSOptions(o);
    expect(o).toMatchObject({ cert: 'CERT-1', key: 'KEY-1', ca: 'EXEC-CA' });
    expect(o.headers).toBeUndefined();
    await creds.applyToHTTPSOptions(o);
    expect(runs(cmd)).toBe(1);
    const seen = JSON.parse(readFileSync(`${cmd}.seen`, 'utf8'));
    expect(seen.info.spec).toEqual({ interactive: false });
  });

  it('reports a failing plugin, a plugin printing no credential and a wrong apiVersion', async () => {
    const failing = join(dir, 'failing-plugin');
    writeFileSync(failing, '#!/bin/sh\necho "login required: run gcloud auth login" >&2\nexit 3\n');
    chmodSync(failing, 0o755);
    const empty = plugin('empty-plugin', '{}');
    const apply = (cmd: string, apiVersion = 'client.authentication.k8s.io/v1') =>
      loadKubeConfig({ kubeconfig: execConfig(cmd, apiVersion) }).kubeConfig.applyToHTTPSOptions({});
    await expect(apply(failing)).rejects.toThrow(
      /exec plugin .*failing-plugin failed \(exit 3\): login required: run gcloud auth login$/,
    );
    await expect(apply(empty)).rejects.toThrow(/returned neither status.token nor/);
    const wrong = join(dir, 'wrong-plugin');
    writeFileSync(
      wrong,
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}}'\n`,
    );
    chmodSync(wrong, 0o755);
    await expect(apply(wrong)).rejects.toThrow(/want client.authentication.k8s.io\/v1 ExecCredential/);
  });
});
