// The reliability suite's own out-of-process stack: a real etcd + kube-apiserver (src/localcluster) that can be
// restarted on the same etcd, compacted, and slowed down (a delaying TCP proxy in front of it, through which the
// controllers talk), the GCS/IAM emulator in this process with the playground's bucket and controller role
// (src/playground/gcs-setup.ts), and `tidemark controller` (dist/cli/main.js) as separate processes, one or more
// replicas, that can be killed with SIGKILL and started again. `tidemark gc` runs as a process too.
//
// Nothing here touches the shared integration test cluster: every suite file starts its own stack and stops it.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import type { RequestLogEntry } from '../../src/emulator/request-log.js';
import { ensureBinaries } from '../../src/localcluster/binaries.js';
import { type LocalCluster, startLocalCluster } from '../../src/localcluster/cluster.js';
import { projectCrdFiles } from '../../src/localcluster/crd-files.js';
import { repoRoot } from '../../src/localcluster/paths.js';
import { freePorts } from '../../src/localcluster/ports.js';
import { type ManagedProcess, startProcess } from '../../src/localcluster/processes.js';
import { startTcpProxy, type TcpProxy } from '../../src/localcluster/tcp-proxy.js';
import { prepareGcs } from '../../src/playground/gcs-setup.js';

// The integration fixture's project, so that its object builders (policy(), sparkApp(), wiPrincipal()) fit.
export const PROJECT = 'tidemark-test';
export const PROJECT_NUMBER = '424242424242';
export const BUCKET = 'reliability-checkpoints';
export const LEASE_NAME = 'tidemark-controller';
/** The controller's leader Lease duration (src/kube/leader.ts default). */
export const LEASE_DURATION_MS = 15_000;

/** The built CLI the controller processes run. */
export const cliPath = (): string => join(repoRoot(), 'dist', 'cli', 'main.js');

export interface ControllerProcess {
  /** r0, r1, ... (r0-2 for the third start of replica r0). */
  name: string;
  pid: number;
  healthUrl: string;
  logFile: string;
  exited: ManagedProcess['exited'];
  /** Prometheus text from /metrics ('' when it does not answer). */
  metrics(): Promise<string>;
  /** Whether /readyz answers 200. */
  ready(): Promise<boolean>;
  /** Whether it holds the leader Lease (its leader_election_master_status metric is 1). */
  leading(): Promise<boolean>;
  /** A crash: SIGKILL to the process group, nothing flushed, the lease not released. */
  kill9(): Promise<void>;
  /** Graceful: SIGTERM (drains, releases the lease). */
  stop(): Promise<void>;
}

export interface Stack {
  cluster: LocalCluster;
  /** Admin kubeconfig straight to the API server (what the tests use to act and observe). */
  kc: KubeConfig;
  /** The delaying TCP proxy in front of the API server, through which every controller process talks. */
  apiProxy: TcpProxy;
  emu: RunningEmulator;
  bucket: string;
  controllerServiceAccount: string;
  workDir: string;
  /** Starts a controller process and waits until /readyz answers (it then runs for election). */
  startController(o?: {
    replica?: string;
    resync?: string;
    webhookAddr?: string;
    extraArgs?: string[];
  }): Promise<ControllerProcess>;
  /** Every controller process started and not yet exited. */
  controllers(): ControllerProcess[];
  /** `tidemark gc --policy NAME` as a process (as the controller's identity); resolves when it is spawned. */
  startGcProcess(policy: string, extraArgs?: string[]): ManagedProcess;
  /** Emulator admin call (JSON in and out). */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** PUT /_emulator/config. */
  setEmulatorConfig(patch: Record<string, unknown>): Promise<void>;
  /** GET /_emulator/requests?since=N. */
  requests(since?: number): Promise<{ entries: RequestLogEntry[]; lastSeq: number; dropped: number }>;
  /** The holder of the controller's leader Lease, if any. */
  leaseHolder(): Promise<string | undefined>;
  /** Stops everything this stack started and removes its files. Idempotent. */
  stop(): Promise<void>;
}

const log = (m: string) => {
  if (process.env.TIDEMARK_TEST_LOG) console.log(`[reliability] ${m}`);
};

export async function startStack(o: { bucket?: string; bucketWriteLimitPerSecond?: number } = {}): Promise<Stack> {
  const workDir = await mkdtemp(join(tmpdir(), 'tidemark-reliability-'));
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((err) => log(`cleanup failed: ${String(err)}`));
    // TIDEMARK_RELIABILITY_KEEP=1 keeps the controllers' and GC runs' logs for a look after a failure.
    if (process.env.TIDEMARK_RELIABILITY_KEEP) console.log(`[reliability] logs kept in ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  };
  try {
    const binaries = await ensureBinaries({ log });
    const crds = projectCrdFiles();
    const cluster = await startLocalCluster({
      crdFiles: [...crds.tidemark, ...crds.spark],
      log,
      binaries,
      dataDir: join(workDir, 'cluster'),
    });
    cleanups.push(() => cluster.stop());
    const apiPort = Number(new URL(cluster.server).port);
    const apiProxy = await startTcpProxy({ targetPort: apiPort });
    cleanups.push(() => apiProxy.close());
    const proxyKubeconfig = join(workDir, 'kubeconfig-proxy');
    const original = await readFile(cluster.kubeconfigPath, 'utf8');
    await writeFile(proxyKubeconfig, original.replace(cluster.server, `https://127.0.0.1:${apiProxy.port}`), {
      mode: 0o600,
    });
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);

    const adminToken = randomBytes(24).toString('base64url');
    const emu = await startEmulator({
      port: 0,
      adminToken,
      projectId: PROJECT,
      projectNumber: PROJECT_NUMBER,
      config: { bucketWriteLimitPerSecond: o.bucketWriteLimitPerSecond ?? 1 },
    });
    cleanups.push(() => emu.stop());
    const bucket = o.bucket ?? BUCKET;
    const gcs = await prepareGcs(emu.url, adminToken, { project: PROJECT, projectNumber: PROJECT_NUMBER, bucket });

    const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${emu.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    };

    // Each process gets its own metadata server, hence its own token: the emulator's request log tells the
    // processes apart by the token's fingerprint.
    const identityEnv = async (): Promise<NodeJS.ProcessEnv> => {
      const md = await admin<{ host: string }>('POST', '/_emulator/metadata-servers', {
        principal: `serviceAccount:${gcs.controllerServiceAccount}`,
      });
      return {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        KUBECONFIG: proxyKubeconfig,
        TIDEMARK_GCS_ENDPOINT: emu.url,
        GCE_METADATA_HOST: md.host,
        GOOGLE_CLOUD_PROJECT: PROJECT,
      };
    };

    const running = new Set<ControllerProcess>();
    const starts = new Map<string, number>();
    let nextReplica = 0;
    const startController: Stack['startController'] = async (so = {}) => {
      const replica = so.replica ?? `r${nextReplica++}`;
      const n = (starts.get(replica) ?? 0) + 1;
      starts.set(replica, n);
      const name = n === 1 ? replica : `${replica}-${n}`;
      const [port] = (await freePorts(1)) as [number];
      const logFile = join(workDir, `controller-${name}.log`);
      const proc = startProcess({
        name: `controller ${name}`,
        command: process.execPath,
        logFile,
        args: [
          cliPath(),
          'controller',
          '--health-addr',
          `127.0.0.1:${port}`,
          '--resync',
          so.resync ?? '30s',
          '--lease-namespace',
          'default',
          '--lease-name',
          LEASE_NAME,
          '--webhook-addr',
          so.webhookAddr ?? 'off',
          ...(so.extraArgs ?? []),
        ],
        env: await identityEnv(),
      });
      const healthUrl = `http://127.0.0.1:${port}`;
      const c: ControllerProcess = {
        name,
        pid: proc.pid,
        healthUrl,
        logFile,
        exited: proc.exited,
        metrics: () =>
          fetch(`${healthUrl}/metrics`).then(
            (r) => (r.ok ? r.text() : ''),
            () => '',
          ),
        ready: () =>
          fetch(`${healthUrl}/readyz`).then(
            (r) => r.ok,
            () => false,
          ),
        leading: async () => /^leader_election_master_status(\{[^}]*\})? 1$/m.test(await c.metrics()),
        kill9: () => proc.kill('SIGKILL'),
        stop: () => proc.stop(15_000),
      };
      running.add(c);
      void proc.exited.then(() => running.delete(c));
      cleanups.push(() => proc.stop(15_000));
      const deadline = Date.now() + 60_000;
      while (!(await c.ready())) {
        if (proc.hasExited()) throw new Error(`controller ${name} exited during start-up:\n${proc.logTail()}`);
        if (Date.now() > deadline) throw new Error(`controller ${name} not ready after 60 s:\n${proc.logTail()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      log(`controller ${name} ready (pid ${proc.pid}, log ${logFile})`);
      return c;
    };

    let gcRuns = 0;
    const gcEnv = await identityEnv();
    const startGcProcess = (policy: string, extraArgs: string[] = []) => {
      const proc = startProcess({
        name: `gc ${policy}`,
        command: process.execPath,
        logFile: join(workDir, `gc-${++gcRuns}.log`),
        args: [cliPath(), 'gc', '--policy', policy, '--lease-namespace', 'default', ...extraArgs],
        env: gcEnv,
      });
      cleanups.push(() => proc.stop(5_000));
      return proc;
    };

    const stack: Stack = {
      cluster,
      kc,
      apiProxy,
      emu,
      bucket,
      controllerServiceAccount: gcs.controllerServiceAccount,
      workDir,
      startController,
      controllers: () => [...running],
      startGcProcess,
      admin,
      setEmulatorConfig: (patch) => admin('PUT', '/_emulator/config', patch),
      requests: (since = 0) => admin('GET', `/_emulator/requests?since=${since}`),
      async leaseHolder() {
        const { CoordinationV1Api } = await import('@kubernetes/client-node');
        try {
          const lease = await kc
            .makeApiClient(CoordinationV1Api)
            .readNamespacedLease({ name: LEASE_NAME, namespace: 'default' });
          return lease.spec?.holderIdentity ?? undefined;
        } catch {
          return undefined;
        }
      },
      stop,
    };
    return stack;
  } catch (err) {
    await stop();
    throw err;
  }
}
