// The benchmarks' stack, built from the playground's own components (src/playground/): the real kube-apiserver + etcd
// (clusterComponent), the GCS/IAM emulator with the playground's bucket, role and controller identity (prepareGcs),
// and `tidemark controller` as its own process (makeControllerComponent), exactly as `npm start` runs them. Two
// differences, both for measurement: the emulator runs in this process (gc-1m seeds its store directly), and the
// controller can be stopped and started again (cold start) with extra flags (the deployed resync default).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { KubeRest } from '../../src/kube/rest.js';
import { clusterComponent } from '../../src/playground/cluster-component.js';
import type { PlaygroundContext, RunningComponent } from '../../src/playground/component.js';
import { makeControllerComponent } from '../../src/playground/controller-component.js';
import {
  PLAYGROUND_BUCKET,
  PLAYGROUND_PROJECT,
  PLAYGROUND_PROJECT_NUMBER,
} from '../../src/playground/emulator-component.js';
import { type PlaygroundGcs, prepareGcs } from '../../src/playground/gcs-setup.js';

export interface EmulatorCounters {
  total: number;
  httpRequests: number;
  byOp: Record<string, number>;
  byMember: Record<string, number>;
  byOpAndMember: Record<string, Record<string, number>>;
}

export interface StackOptions {
  /** Start the controller process now (default true). */
  controller?: boolean;
  log?: (line: string) => void;
}

/** The controller's flags in the benchmarks: the playground's, with the deployed resync period (not its 30 s). */
const CONTROLLER_ARGS = ['--resync', '10m'];

export class Stack {
  private controller: RunningComponent | undefined;
  controllerUrl = '';

  private constructor(
    readonly stateDir: string,
    private readonly cluster: RunningComponent,
    readonly emu: RunningEmulator,
    readonly gcs: PlaygroundGcs,
    readonly kubeconfig: string,
    readonly rest: KubeRest,
    private readonly log: (line: string) => void,
  ) {}

  static async start(o: StackOptions = {}): Promise<Stack> {
    const log = o.log ?? ((line: string) => console.log(`[stack] ${line}`));
    const stateDir = await mkdtemp(join(tmpdir(), 'tidemark-bench-'));
    const ctx = (env: Map<string, string>): PlaygroundContext => ({
      stateDir,
      log,
      env,
      signal: new AbortController().signal,
    });
    const cluster = await clusterComponent.start(ctx(new Map()));
    let emu: RunningEmulator | undefined;
    try {
      emu = await startEmulator({
        projectId: PLAYGROUND_PROJECT,
        projectNumber: PLAYGROUND_PROJECT_NUMBER,
        // Design §5: the bucket write limit on, IAM propagation delay 0; the latency is set per benchmark.
        config: { bucketWriteLimitPerSecond: 1, iamPropagationDelayMs: 0 },
      });
      const gcs = await prepareGcs(emu.url, emu.adminToken, {
        project: PLAYGROUND_PROJECT,
        projectNumber: PLAYGROUND_PROJECT_NUMBER,
        bucket: PLAYGROUND_BUCKET,
      });
      const kubeconfig = new Map(cluster.env).get('KUBECONFIG') ?? '';
      const rest = new KubeRest(loadKubeConfig({ kubeconfig }).kubeConfig);
      const stack = new Stack(stateDir, cluster, emu, gcs, kubeconfig, rest, log);
      if (o.controller ?? true) await stack.startController();
      return stack;
    } catch (err) {
      await emu?.stop();
      await cluster.stop();
      throw err;
    }
  }

  /** What `tidemark controller` / `tidemark gc` get: the playground env file's variables (design §6). */
  env(): Record<string, string> {
    return {
      KUBECONFIG: this.kubeconfig,
      TIDEMARK_GCS_ENDPOINT: this.emu.url,
      TIDEMARK_EMULATOR_ADMIN_TOKEN: this.emu.adminToken,
      GCE_METADATA_HOST: this.gcs.metadataHost,
      GOOGLE_CLOUD_PROJECT: PLAYGROUND_PROJECT,
      TIDEMARK_PLAYGROUND_BUCKET: this.gcs.bucket,
      ...(this.controllerUrl ? { TIDEMARK_CONTROLLER_URL: this.controllerUrl } : {}),
    };
  }

  get bucket(): string {
    return this.gcs.bucket;
  }

  /** The controller's IAM member, as the emulator's counters name it. */
  get controllerMember(): string {
    return `serviceAccount:${this.gcs.controllerServiceAccount}`;
  }

  async startController(nodeArgs: string[] = []): Promise<void> {
    if (this.controller) throw new Error('the controller is already running');
    const env = new Map(Object.entries(this.env()));
    // TIDEMARK_CONCURRENCY (the controller's own variable for --concurrency) is passed on, to compare settings.
    const concurrency = process.env.TIDEMARK_CONCURRENCY;
    const c = await makeControllerComponent({
      extraArgs: [...CONTROLLER_ARGS, ...(concurrency ? ['--concurrency', concurrency] : [])],
      nodeArgs,
      // A busy shared machine can take longer than the playground's 60 s.
      readyTimeoutMs: 300_000,
    }).start({
      stateDir: this.stateDir,
      log: this.log,
      env,
      signal: new AbortController().signal,
    });
    this.controller = c;
    this.controllerUrl = new Map(c.env).get('TIDEMARK_CONTROLLER_URL') ?? '';
  }

  async stopController(): Promise<void> {
    const c = this.controller;
    this.controller = undefined;
    this.controllerUrl = '';
    await c?.stop();
  }

  /** A metric of the controller's /metrics (the sum over its label sets), or undefined when absent. */
  async controllerMetric(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    if (!this.controllerUrl) throw new Error('the controller is not running');
    const text = await (await fetch(`${this.controllerUrl}/metrics`)).text();
    let sum: number | undefined;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      const ls = m[2] ?? '';
      if (!Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) continue;
      sum = (sum ?? 0) + Number(m[3]);
    }
    return sum;
  }

  async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
    const call = () =>
      fetch(`${this.emu.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.emu.adminToken}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    // Once more on a connection error: a kept-alive socket may have been closed by the server meanwhile.
    const res = await call().catch(() => call());
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** `PUT /_emulator/config` (design §6). */
  async setEmulator(patch: { latencyMs?: number; bucketWriteLimitPerSecond?: number; iamPropagationDelayMs?: number }) {
    await this.admin('PUT', '/_emulator/config', patch);
  }

  async counters(reset = false): Promise<EmulatorCounters> {
    return this.admin<EmulatorCounters>('GET', `/_emulator/counters${reset ? '?reset=true' : ''}`);
  }

  /** A token the emulator mints for `member` (`POST /_emulator/tokens`). */
  async token(member: string): Promise<string> {
    const r = await this.admin<{ access_token: string }>('POST', '/_emulator/tokens', { principal: member });
    return r.access_token;
  }

  async stop(): Promise<void> {
    await this.stopController().catch((err) => this.log(`stopping the controller: ${String(err)}`));
    this.rest.close();
    await this.emu.stop();
    await this.cluster.stop();
    await rm(this.stateDir, { recursive: true, force: true });
  }
}

/** Runs `fn` on a fresh stack and always stops it. */
export async function withStack<T>(o: StackOptions, fn: (s: Stack) => Promise<T>): Promise<T> {
  const s = await Stack.start(o);
  try {
    return await fn(s);
  } finally {
    await s.stop();
  }
}

/** Calls by method made by `member` between two counter snapshots. */
export function callsByMethod(
  before: EmulatorCounters,
  after: EmulatorCounters,
  member: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [op, byMember] of Object.entries(after.byOpAndMember)) {
    const n = (byMember[member] ?? 0) - (before.byOpAndMember[op]?.[member] ?? 0);
    if (n > 0) out[op] = n;
  }
  return out;
}
