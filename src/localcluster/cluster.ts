import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { type Binaries, ensureBinaries } from './binaries.js';
import { type ClusterCerts, generateClusterCerts } from './certs.js';
import { installCrds, loadCrds } from './crds.js';
import { renderKubeconfig } from './kubeconfig.js';
import type { Log } from './paths.js';
import { freePorts } from './ports.js';
import { type ManagedProcess, startProcess } from './processes.js';

export interface StartLocalClusterOptions {
  /** CRD YAML files to install (multi-document allowed); the start waits until each is Established. */
  crdFiles: readonly string[];
  log: Log;
  /** Where certificates, etcd data, logs and the kubeconfig go; a new temp dir when omitted. Removed by stop(). */
  dataDir?: string;
  /** Binaries to run; ensureBinaries() when omitted. */
  binaries?: Binaries;
  /** How long to wait for /readyz. */
  readyTimeoutMs?: number;
}

export interface LocalCluster {
  /** Admin kubeconfig (client certificate in system:masters, certificates embedded). */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** kube-apiserver's gitVersion from /version, e.g. v1.37.2. */
  version: string;
  /** etcd's server version from its /version. */
  etcdVersion: string;
  /** Path of the kubectl binary that goes with this cluster. */
  kubectl: string;
  dataDir: string;
  /** Process ids of etcd and kube-apiserver (each leads its own process group). */
  pids: number[];
  /** Every port the cluster listens on (apiserver, etcd client, etcd peer). */
  ports: number[];
  /** Milliseconds from starting kube-apiserver to its /readyz answering ok. */
  readyAfterMs: number;
  kubeConfig(): KubeConfig;
  /** etcd's client URL (http://127.0.0.1:<port>). */
  etcdUrl: string;
  /**
   * Stops kube-apiserver (SIGTERM, or SIGKILL when `kill` is set) and starts it again on the same port and the same
   * etcd, as a rolling control-plane upgrade or a crash would; resolves once /readyz answers ok again. Clients keep
   * their kubeconfig. `downMs` keeps it down that long before the restart.
   */
  restartApiServer(o?: { kill?: boolean; downMs?: number }): Promise<void>;
  /**
   * Compacts etcd's history up to its current revision (physically), so that any watch resumed from an older
   * resourceVersion is answered 410 Gone ("too old resource version") once the API server's watch cache is rebuilt.
   * Returns the revision compacted to.
   */
  compactEtcd(): Promise<number>;
  /** Stops both processes (and their groups), waits for them to exit, removes dataDir. Idempotent. */
  stop(): Promise<void>;
}

const ATTEMPTS = 3;

/**
 * Starts etcd and kube-apiserver on free 127.0.0.1 ports the way controller-runtime's envtest does: a fresh CA,
 * serving and admin client certificates, a service-account key pair, RBAC (+Node) authorization. Waits for
 * /readyz, writes the kubeconfig, installs the CRDs.
 */
export async function startLocalCluster(options: StartLocalClusterOptions): Promise<LocalCluster> {
  const binaries = options.binaries ?? (await ensureBinaries({ log: options.log }));
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, binaries);
    } catch (err) {
      const retry = err instanceof PortInUseError && attempt < ATTEMPTS;
      if (!retry) throw err;
      options.log(`local cluster: a port was taken meanwhile (${err.message}); retrying with new ports`);
    }
  }
}

class PortInUseError extends Error {}

async function startOnce(options: StartLocalClusterOptions, binaries: Binaries): Promise<LocalCluster> {
  const { log } = options;
  const dataDir = options.dataDir ? resolve(options.dataDir) : await mkdtemp(join(tmpdir(), 'tidemark-cluster-'));
  await mkdir(dataDir, { recursive: true });
  const processes: ManagedProcess[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // API server first, so it does not log a storm of etcd errors on its way down.
    for (const p of [...processes].reverse()) await p.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const pki = join(dataDir, 'pki');
    await mkdir(pki, { recursive: true });
    const certs = await generateClusterCerts();
    const files = await writeCerts(pki, certs);
    const [apiPort, etcdClientPort, etcdPeerPort] = (await freePorts(3)) as [number, number, number];

    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = startProcess({
      name: 'etcd',
      command: binaries.etcd,
      logFile: join(dataDir, 'etcd.log'),
      args: [
        '--name=default',
        `--data-dir=${join(dataDir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        // A throwaway test store: no fsync (as envtest does), quiet logs.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
    });
    processes.push(etcd);
    const etcdVersion = await waitForEtcd(etcd, etcdUrl);

    const server = `https://127.0.0.1:${apiPort}`;
    const apiStarted = Date.now();
    const startApiServer = () =>
      startProcess({
        name: 'kube-apiserver',
        command: binaries.kubeApiserver,
        logFile: join(dataDir, 'kube-apiserver.log'),
        args: apiServerArgs({ etcdUrl, apiPort, pki, files, server }),
      });
    let apiserver = startApiServer();
    processes.push(apiserver);
    const tls = { ca: certs.ca.cert, cert: certs.admin.cert, key: certs.admin.key };
    const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
    await waitForReadyz(apiserver, server, tls, readyTimeoutMs);
    const readyAfterMs = Date.now() - apiStarted;
    const version = ((await getJson(`${server}/version`, tls)) as { gitVersion?: string }).gitVersion ?? 'unknown';
    log(`local cluster: kube-apiserver ${version} (etcd ${etcdVersion}) ready at ${server} in ${readyAfterMs} ms`);

    const kubeconfigPath = join(dataDir, 'kubeconfig');
    await writeFile(
      kubeconfigPath,
      renderKubeconfig({
        server,
        caPem: certs.ca.cert,
        clientCertPem: certs.admin.cert,
        clientKeyPem: certs.admin.key,
        name: 'tidemark-local',
      }),
      { mode: 0o600 },
    );
    const kubeConfig = () => {
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      return kc;
    };
    if (options.crdFiles.length > 0) {
      await installCrds(kubeConfig(), await loadCrds(options.crdFiles), log);
    }
    const pids = processes.map((p) => p.pid);
    const restartApiServer = async (o: { kill?: boolean; downMs?: number } = {}) => {
      if (stopped) throw new Error('the local cluster is stopped');
      const old = apiserver;
      if (o.kill) await old.kill('SIGKILL');
      else await old.stop();
      if (o.downMs) await new Promise((r) => setTimeout(r, o.downMs));
      apiserver = startApiServer();
      processes[processes.indexOf(old)] = apiserver;
      pids[pids.indexOf(old.pid)] = apiserver.pid;
      await waitForReadyz(apiserver, server, tls, readyTimeoutMs);
      log(`local cluster: kube-apiserver restarted at ${server}`);
    };
    return {
      kubeconfigPath,
      server,
      version,
      etcdVersion,
      kubectl: binaries.kubectl,
      dataDir,
      etcdUrl,
      restartApiServer,
      compactEtcd: () => compactEtcd(etcdUrl),
      pids,
      ports: [apiPort, etcdClientPort, etcdPeerPort],
      readyAfterMs,
      kubeConfig,
      stop,
    };
  } catch (err) {
    // Keep the logs in the message: the directory goes away with stop().
    const inUse = processes.some((p) => /address already in use/.test(p.logTail(200)));
    await stop();
    if (inUse) throw new PortInUseError(err instanceof Error ? err.message : String(err));
    throw err;
  }
}

async function writeCerts(dir: string, certs: ClusterCerts) {
  const files = {
    caCert: join(dir, 'ca.crt'),
    servingCert: join(dir, 'apiserver.crt'),
    servingKey: join(dir, 'apiserver.key'),
    saKey: join(dir, 'sa.key'),
    saPublic: join(dir, 'sa.pub'),
  };
  await writeFile(files.caCert, certs.ca.cert);
  await writeFile(files.servingCert, certs.serving.cert);
  await writeFile(files.servingKey, certs.serving.key, { mode: 0o600 });
  await writeFile(files.saKey, certs.serviceAccount.key, { mode: 0o600 });
  await writeFile(files.saPublic, certs.serviceAccount.publicKey);
  return files;
}

function apiServerArgs(o: {
  etcdUrl: string;
  apiPort: number;
  pki: string;
  files: Awaited<ReturnType<typeof writeCerts>>;
  server: string;
}): string[] {
  const { files } = o;
  return [
    `--etcd-servers=${o.etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // The "kubernetes" Service endpoint may not be a loopback address; nothing here needs it.
    '--endpoint-reconciler-type=none',
    `--secure-port=${o.apiPort}`,
    `--cert-dir=${o.pki}`,
    `--tls-cert-file=${files.servingCert}`,
    `--tls-private-key-file=${files.servingKey}`,
    `--client-ca-file=${files.caCert}`,
    `--service-account-key-file=${files.saPublic}`,
    `--service-account-signing-key-file=${files.saKey}`,
    `--service-account-issuer=${o.server}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    // No controller-manager creates the default ServiceAccounts, so the ServiceAccount admission plugin would
    // refuse every Pod (envtest disables it for the same reason).
    '--disable-admission-plugins=ServiceAccount',
    '--profiling=false',
  ];
}

/** etcd v3's JSON gateway: the current revision, then a physical compaction up to it. */
async function compactEtcd(etcdUrl: string): Promise<number> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`etcd ${path}: HTTP ${res.status}: ${text}`);
    return JSON.parse(text) as { header?: { revision?: string } };
  };
  const range = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64'), limit: 1 });
  const revision = Number(range.header?.revision);
  if (!Number.isInteger(revision) || revision < 1) throw new Error(`etcd: no revision in ${JSON.stringify(range)}`);
  await post('/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}

function processFailure(p: ManagedProcess, what: string): Error {
  return new Error(`${p.name} ${what}; last lines of ${p.logFile}:\n${p.logTail()}`);
}

async function waitForEtcd(etcd: ManagedProcess, url: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (etcd.hasExited()) throw processFailure(etcd, 'exited during start-up');
    try {
      const res = await fetch(`${url}/health`);
      const body = (await res.json()) as { health?: string };
      if (res.ok && body.health === 'true') {
        const v = (await (await fetch(`${url}/version`)).json()) as { etcdserver?: string };
        return v.etcdserver ?? 'unknown';
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw processFailure(etcd, `not healthy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Tls {
  ca: string;
  cert: string;
  key: string;
}

function get(url: string, tls: Tls): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { ...tls, method: 'GET', timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function getJson(url: string, tls: Tls): Promise<unknown> {
  const res = await get(url, tls);
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}: ${res.body}`);
  return JSON.parse(res.body);
}

async function waitForReadyz(p: ManagedProcess, server: string, tls: Tls, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    if (p.hasExited()) throw processFailure(p, 'exited during start-up');
    try {
      const res = await get(`${server}/readyz`, tls);
      if (res.status === 200 && res.body.trim() === 'ok') return;
      last = `HTTP ${res.status}: ${res.body.slice(0, 500)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw processFailure(p, `not ready after ${timeoutMs} ms (last /readyz: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
