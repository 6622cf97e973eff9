// Tidemark "as deployed" for the end-to-end test: the playground as its own process (real kube-apiserver + etcd, the
// GCS/IAM emulator, `tidemark controller` with its admission webhooks), driven through its env file (design §6) the
// way a second shell would. Only what the env file hands out is used: the admin kubeconfig, the emulator's URL and
// admin token (for setting up identities and reading its state, as a test may), and the controller's own GCS
// identity for `tidemark gc`.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseEnvFile } from '../../src/playground/envfile.js';
import { ensureCliBuilt, repoRoot } from '../harness/cli.js';
import { waitFor } from '../harness/kube.js';

export interface Playground {
  /** The variables of its env file. */
  env: Map<string, string>;
  kc: KubeConfig;
  gcsEndpoint: string;
  bucket: string;
  projectNumber: string;
  pool: string;
  /** Calls an emulator endpoint with the admin token; returns the parsed JSON body (undefined when empty). */
  admin(method: string, path: string, body?: unknown): Promise<unknown>;
  /** Everything the playground printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export async function startPlayground(): Promise<Playground> {
  await ensureCliBuilt();
  const stateDir = await mkdtemp(join(tmpdir(), 'tidemark-e2e-'));
  await rm(stateDir, { recursive: true }); // the playground creates it
  const child: ChildProcess = spawn(process.execPath, [join(repoRoot, 'dist', 'playground', 'main.js')], {
    cwd: repoRoot,
    env: { ...process.env, TIDEMARK_PLAYGROUND_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      }, 30_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    const envFile = join(stateDir, 'env');
    await waitFor(
      'the playground env file',
      () => {
        if (child.exitCode !== null) throw new Error(`the playground exited early:\n${out}`);
        return existsSync(envFile);
      },
      { timeoutMs: 600_000, intervalMs: 200 },
    );
    const env = parseEnvFile(await readFile(envFile, 'utf8'));
    const need = (k: string) => {
      const v = env.get(k);
      if (!v) throw new Error(`the playground env file has no ${k}`);
      return v;
    };
    const kc = new KubeConfig();
    kc.loadFromFile(need('KUBECONFIG'));
    const gcsEndpoint = need('TIDEMARK_GCS_ENDPOINT');
    const adminToken = need('TIDEMARK_EMULATOR_ADMIN_TOKEN');
    return {
      env,
      kc,
      gcsEndpoint,
      bucket: need('TIDEMARK_PLAYGROUND_BUCKET'),
      projectNumber: need('TIDEMARK_PLAYGROUND_PROJECT_NUMBER'),
      pool: need('TIDEMARK_PLAYGROUND_POOL'),
      async admin(method, path, body) {
        const res = await fetch(`${gcsEndpoint}${path}`, {
          method,
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
        return text ? JSON.parse(text) : undefined;
      },
      output: () => out,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
