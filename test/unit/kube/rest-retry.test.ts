// KubeRest's 429 retry. The real kube-apiserver cannot be made to answer 429 on demand (API priority and fairness
// rejects only under load, "storage is (re)initializing" only right after a CRD is created), so a tiny local HTTP
// server stands in for it here, for this behaviour only.
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../../src/kube/kubeconfig.js';
import { Resources } from '../../../src/kube/resources.js';
import { KubeApiError, KubeRest } from '../../../src/kube/rest.js';

/** Answers 429 (Retry-After: 1) to the first `reject` requests of each method+path, then 200 with the object. */
let reject = 0;
const seen: string[] = [];
const server = http.createServer((req, res) => {
  const key = `${req.method} ${req.url?.split('?')[0]}`;
  seen.push(key);
  req.resume();
  req.on('end', () => {
    if (seen.filter((k) => k === key).length <= reject) {
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '1' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          reason: 'TooManyRequests',
          message: 'storage is (re)initializing',
          code: 429,
        }),
      );
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'x', namespace: 'n', resourceVersion: '2' } }));
  });
});
let rest: KubeRest;

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'rest-retry-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: c, cluster: {server: "http://127.0.0.1:${(server.address() as AddressInfo).port}"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`,
  );
  rest = new KubeRest(loadKubeConfig({ kubeconfig: path }).kubeConfig, { retries429: 2 });
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const cm = (resourceVersion?: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'x', namespace: 'n', ...(resourceVersion ? { resourceVersion } : {}) },
});

describe('KubeRest on 429', () => {
  it('retries repeatable requests after Retry-After: GET, PUT with resourceVersion, DELETE with preconditions', async () => {
    reject = 2;
    seen.length = 0;
    await expect(rest.get(Resources.ConfigMap, 'x', 'n')).resolves.toMatchObject({ metadata: { name: 'x' } });
    await rest.replace(Resources.ConfigMap, cm('1'));
    await rest.delete(Resources.ConfigMap, 'x', 'n', { body: { preconditions: { resourceVersion: '1' } } });
    expect(seen).toEqual([
      ...Array(3).fill('GET /api/v1/namespaces/n/configmaps/x'),
      ...Array(3).fill('PUT /api/v1/namespaces/n/configmaps/x'),
      ...Array(3).fill('DELETE /api/v1/namespaces/n/configmaps/x'),
    ]);
  }, 30_000);

  it('gives up after its bound, with the server’s answer', async () => {
    reject = 3;
    seen.length = 0;
    const err = await rest.get(Resources.ConfigMap, 'x', 'n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({
      statusCode: 429,
      retryAfterSeconds: 1,
      message: expect.stringMatching(/storage is \(re\)initializing/),
    });
    expect(seen).toHaveLength(3);
  }, 30_000);

  it('does not repeat a create, a PUT without resourceVersion, a patch or an unconditional DELETE', async () => {
    reject = 1;
    seen.length = 0;
    const attempts = [
      rest.create(Resources.ConfigMap, cm()),
      rest.replace(Resources.ConfigMap, cm()),
      rest.mergePatch(Resources.ConfigMap, 'x', 'n', { data: { a: 'b' } }),
      rest.delete(Resources.ConfigMap, 'x', 'n'),
    ];
    for (const a of attempts) await expect(a).rejects.toMatchObject({ statusCode: 429 });
    expect(seen.sort()).toEqual([
      'DELETE /api/v1/namespaces/n/configmaps/x',
      'PATCH /api/v1/namespaces/n/configmaps/x',
      'POST /api/v1/namespaces/n/configmaps',
      'PUT /api/v1/namespaces/n/configmaps/x',
    ]);
  });
});
