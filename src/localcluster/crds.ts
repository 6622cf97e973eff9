import { readFile } from 'node:fs/promises';
import { type RequestOptions, request } from 'node:https';
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { Log } from './paths.js';

/** Every CustomResourceDefinition in the given YAML files (multi-document files allowed). */
export async function loadCrds(files: readonly string[]): Promise<V1CustomResourceDefinition[]> {
  const crds: V1CustomResourceDefinition[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    let found = 0;
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${file}: invalid YAML: ${doc.errors[0]?.message}`);
      const value = doc.toJS() as { kind?: unknown; metadata?: { name?: unknown } } | null;
      if (value === null || value === undefined) continue;
      if (value.kind !== 'CustomResourceDefinition') {
        throw new Error(`${file}: expected only CustomResourceDefinitions, found kind ${String(value.kind)}`);
      }
      if (typeof value.metadata?.name !== 'string') throw new Error(`${file}: a CRD without metadata.name`);
      crds.push(value as V1CustomResourceDefinition);
      found++;
    }
    if (found === 0) throw new Error(`${file}: no CustomResourceDefinition in it`);
  }
  return crds;
}

/**
 * Creates (or replaces) each CRD through the API — not client-side apply, which would store the >256 KiB Spark
 * CRDs in an annotation — and waits until every one is Established.
 */
export async function installCrds(
  kc: KubeConfig,
  crds: readonly V1CustomResourceDefinition[],
  log: Log,
  timeoutMs = 60_000,
): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    const created = await rawRequest(kc, 'POST', CRD_PATH, crd);
    if (created.status === 409) {
      const current = await api.readCustomResourceDefinition({ name });
      const body = { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } };
      const replaced = await rawRequest(kc, 'PUT', `${CRD_PATH}/${name}`, body);
      if (replaced.status >= 300) throw failure(`replacing CRD ${name}`, replaced);
    } else if (created.status >= 300) {
      throw failure(`creating CRD ${name}`, created);
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    for (;;) {
      const current = await api.readCustomResourceDefinition({ name });
      const conditions = current.status?.conditions ?? [];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
      const names = conditions.find((c) => c.type === 'NamesAccepted' && c.status === 'False');
      if (names) throw new Error(`CRD ${name}: names not accepted: ${names.message}`);
      if (Date.now() > deadline) {
        throw new Error(`CRD ${name} not Established after ${timeoutMs} ms: ${JSON.stringify(conditions)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  log(`installed ${crds.length} CRDs: ${crds.map((c) => c.metadata?.name).join(', ')}`);
}

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

function failure(what: string, res: { status: number; body: string }): Error {
  let message = res.body;
  try {
    message = (JSON.parse(res.body) as { message?: string }).message ?? res.body;
  } catch {
    // not JSON: keep the raw body
  }
  return new Error(`${what}: HTTP ${res.status}: ${message}`);
}

/**
 * The CRD goes to the server exactly as written in YAML. The typed client would first map it onto its own model,
 * which drops keys it does not know under their wire names (x-kubernetes-int-or-string, ...).
 */
async function rawRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: string }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(path, cluster.server);
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const options: RequestOptions = {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': payload.length },
  };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}
