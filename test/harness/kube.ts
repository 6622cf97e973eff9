// Helpers the integration tests share. They talk to the real test cluster started by global-setup.ts.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import { inject } from 'vitest';
import { parseAllDocuments } from 'yaml';

/**
 * Path of the admin kubeconfig of this file's test cluster: test/harness/global-setup.ts starts one cluster per
 * worker of the pool, and the worker running this file (VITEST_POOL_ID, 1..N, distinct among the files running at
 * once) uses its own, so no two files running at the same time share a cluster.
 */
export function testKubeconfigPath(): string {
  const kubeconfigs = inject('kubeconfigs');
  const pool = Number(process.env.VITEST_POOL_ID);
  const path = kubeconfigs[pool - 1];
  if (!Number.isInteger(pool) || path === undefined) {
    throw new Error(
      `no test cluster for VITEST_POOL_ID=${process.env.VITEST_POOL_ID} (${kubeconfigs.length} started): ` +
        'test/harness/global-setup.ts starts one per worker of the forks pool',
    );
  }
  return path;
}

/** A KubeConfig for this file's test cluster (admin, system:masters). */
export function testKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testKubeconfigPath());
  return kc;
}

/** A short random suffix for unique names (lowercase, DNS-safe). */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/**
 * Creates a namespace named `<prefix>-<random>` and returns its name with a cleanup that deletes it. Use one per test
 * file (beforeAll/afterAll) so files never see each other's objects.
 */
export async function createTestNamespace(
  kc: KubeConfig,
  prefix = 'test',
): Promise<{ name: string; cleanup: () => Promise<void> }> {
  const name = `${prefix}-${uniqueSuffix()}`;
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels: { 'tidemark.dev/test': 'true' } } } });
  return {
    name,
    cleanup: async () => {
      try {
        await core.deleteNamespace({ name });
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 404)) throw err;
      }
    },
  };
}

/** Parses YAML (one or more documents) into objects; empty documents are skipped. */
export function parseYamlObjects(text: string): KubernetesObject[] {
  const out: KubernetesObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as KubernetesObject | null;
    if (value) out.push(value);
  }
  return out;
}

/**
 * Server-side applies every object (YAML text or objects), in order, as field manager `tidemark-test`.
 * `namespace` fills in a missing metadata.namespace; pass it only when every object is namespaced.
 */
export async function apply(
  kc: KubeConfig,
  input: string | KubernetesObject | KubernetesObject[],
  namespace?: string,
): Promise<KubernetesObject[]> {
  const objects = typeof input === 'string' ? parseYamlObjects(input) : Array.isArray(input) ? input : [input];
  const client = KubernetesObjectApi.makeApiClient(kc);
  const applied: KubernetesObject[] = [];
  for (const obj of objects) {
    const spec: KubernetesObject = {
      ...obj,
      metadata: { ...obj.metadata, ...(namespace && !obj.metadata?.namespace ? { namespace } : {}) },
    };
    applied.push(await client.patch(spec, undefined, undefined, 'tidemark-test', true, PatchStrategy.ServerSideApply));
  }
  return applied;
}

/**
 * Polls `probe` until it returns something other than undefined/false, or throws after `timeoutMs` with the
 * description and the last error/value. A deadline for eventual consistency, not a speed assertion.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description} (last: ${why})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

interface Conditioned extends KubernetesObject {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** Waits until the object has condition `type` with `status` (default "True") and returns the object. */
export function waitForCondition(
  kc: KubeConfig,
  ref: { apiVersion: string; kind: string; name: string; namespace?: string },
  type: string,
  status = 'True',
  options?: { timeoutMs?: number },
): Promise<Conditioned> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  return waitFor(
    `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name} condition ${type}=${status}`,
    async () => {
      const obj = await client.read<Conditioned>({
        apiVersion: ref.apiVersion,
        kind: ref.kind,
        metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
      });
      return obj.status?.conditions?.some((c) => c.type === type && c.status === status) ? obj : undefined;
    },
    options,
  );
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and collects its output (never throws on a non-zero exit). */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** The cluster's own kubectl against this file's test cluster. */
export function kubectl(args: readonly string[], options: { input?: string; cwd?: string } = {}) {
  return run(inject('kubectl'), args, {
    ...options,
    env: { ...process.env, KUBECONFIG: testKubeconfigPath() },
  });
}
