import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { eventName } from '../../../src/kube/events.js';
import { type HealthServer, startHealthServer } from '../../../src/kube/health.js';
import { createLogger, scoped } from '../../../src/kube/log.js';
import { Resources } from '../../../src/kube/resources.js';
import { KubeRest, resourcePath } from '../../../src/kube/rest.js';

function kubeconfigFile(dir: string, name: string, server: string, context = 'ctx'): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      `current-context: ${context}`,
      'clusters:',
      `- name: c-${name}`,
      '  cluster:',
      `    server: ${server}`,
      'users:',
      `- name: u-${name}`,
      '  user:',
      '    token: abc',
      'contexts:',
      `- name: ${context}`,
      '  context:',
      `    cluster: c-${name}`,
      `    user: u-${name}`,
    ].join('\n'),
  );
  return path;
}

describe('loadKubeConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-client-'));
  const a = kubeconfigFile(dir, 'a', 'https://a.example:6443', 'ctx-a');
  const b = kubeconfigFile(dir, 'b', 'https://b.example:6443', 'ctx-b');
  const home = mkdtempSync(join(tmpdir(), 'kube-home-'));
  mkdirSync(join(home, '.kube'));
  kubeconfigFile(join(home, '.kube'), 'config', 'https://h.example:6443');

  it.each([
    [
      'an explicit file wins over KUBECONFIG',
      { kubeconfig: a, env: { KUBECONFIG: b } },
      'https://a.example:6443',
      'file',
    ],
    [
      'KUBECONFIG (first file gives the current context)',
      { env: { KUBECONFIG: `${b}:${a}` } },
      'https://b.example:6443',
      'env',
    ],
    [
      'KUBECONFIG with a context from the second file',
      { env: { KUBECONFIG: `${b}:${a}` }, context: 'ctx-a' },
      'https://a.example:6443',
      'env',
    ],
    ['~/.kube/config when nothing else is set', { env: { HOME: home } }, 'https://h.example:6443', 'home'],
  ] as const)('%s', (_why, source, server, origin) => {
    const { kubeConfig, origin: got } = loadKubeConfig(source);
    expect(got).toBe(origin);
    expect(kubeConfig.getCurrentCluster()?.server).toBe(server);
  });

  it.each([
    ['a missing explicit file', { kubeconfig: join(dir, 'nope') }, /does not exist/],
    [
      'KUBECONFIG naming no existing file',
      { env: { KUBECONFIG: join(dir, 'nope') } },
      /KUBECONFIG names no existing file/,
    ],
    ['no configuration at all', { env: { HOME: dir } }, /no Kubernetes configuration/],
    ['an unknown context', { kubeconfig: a, context: 'other' }, /no context named other/],
  ])('refuses %s with a clear error', (_why, source, message) => {
    expect(() => loadKubeConfig(source)).toThrow(message);
  });

  it('builds resource paths for core, grouped, namespaced and cluster-scoped kinds and refuses wrong scopes', () => {
    expect(resourcePath(Resources.ConfigMap, { namespace: 'n', name: 'x' })).toBe('/api/v1/namespaces/n/configmaps/x');
    expect(resourcePath(Resources.Checkpoint)).toBe('/apis/tidemark.dev/v1alpha1/checkpoints');
    expect(resourcePath(Resources.CheckpointPolicy, { name: 'p', subresource: 'status' })).toBe(
      '/apis/tidemark.dev/v1alpha1/checkpointpolicies/p/status',
    );
    expect(() => resourcePath(Resources.Namespace, { namespace: 'x' })).toThrow(/cluster-scoped/);
    expect(() => resourcePath(Resources.Checkpoint, { name: 'x' })).toThrow(/namespace is required/);
    const rest = new KubeRest(loadKubeConfig({ kubeconfig: a }).kubeConfig);
    expect(rest.server.host).toBe('a.example:6443');
  });
});

describe('health server', () => {
  let server: HealthServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves /healthz, /readyz (kube-apiserver style) and /metrics from the registry it is given', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({});
    let ready = false;
    server = await startHealthServer({
      registry,
      liveness: [{ name: 'process', check: () => ({ ok: true }) }],
      readiness: [{ name: 'caches', check: () => (ready ? { ok: true } : { ok: false, message: 'not synced yet' }) }],
    });
    const get = async (path: string) => {
      const r = await fetch(`${server?.url}${path}`);
      return { status: r.status, body: await r.text() };
    };
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get('/healthz?verbose')).toEqual({ status: 200, body: '[+]process ok\nhealthz check passed\n' });
    expect(await get('/readyz')).toEqual({
      status: 500,
      body: '[-]caches failed: not synced yet\nreadyz check failed\n',
    });
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
    server.addLiveness({
      name: 'broken',
      check: () => {
        throw new Error('check exploded');
      },
    });
    expect(await get('/healthz')).toEqual({
      status: 500,
      body: '[+]process ok\n[-]broken failed: check exploded\nhealthz check failed\n',
    });
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect((await get('/nope')).status).toBe(404);
    const post = await fetch(`${server.url}/healthz`, { method: 'POST' });
    expect(post.status).toBe(405);
  });
});

describe('logger', () => {
  it('writes JSON lines with a word level, ISO time and the scope fields that are set', () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _e, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    const log = scoped(createLogger({ level: 'info', destination }), {
      controller: 'checkpoint',
      policy: 'prod',
      namespace: 'team-a',
      job: undefined,
    });
    log.info({ key: 'k' }, 'hello');
    log.debug('not written at info');
    log.error({ err: new Error('bad') }, 'failed');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'info',
      controller: 'checkpoint',
      policy: 'prod',
      namespace: 'team-a',
      key: 'k',
      msg: 'hello',
    });
    expect(lines[0]).not.toHaveProperty('job');
    expect(String(lines[0]?.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(lines[1]).toMatchObject({ level: 'error', err: { message: 'bad', type: 'Error' } });
  });
});

describe('eventName', () => {
  it('is <name>.<hex nanos>, unique per call and never longer than 253 characters', () => {
    expect(eventName('job-1', 1_700_000_000_000)).toMatch(/^job-1\.[0-9a-f]+$/);
    expect(eventName('a', 1)).not.toBe(eventName('a', 1));
    const long = eventName('x'.repeat(253), Date.now());
    expect(long.length).toBeLessThanOrEqual(253);
  });
});
