import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../localcluster/paths.js';
import { freePorts } from '../localcluster/ports.js';
import type { Component, PlaygroundContext, RunningComponent } from './component.js';

/**
 * `tidemark controller` as its own process, the way it runs in a cluster: it reads the kubeconfig, talks to the
 * emulator as its own service account (through the metadata server the emulator component registered), and never
 * sees the admin token. It serves the admission webhooks on a free port of 127.0.0.1 (URL-based configurations, TLS it
 * bootstraps into the Secret default/tidemark-webhook-tls). Its JSON logs go to .tidemark/playground/controller.log.
 */
export interface ControllerComponentOptions {
  /** More `tidemark controller` flags, after the playground's (a repeated flag's last value wins). */
  extraArgs?: readonly string[];
  /** Node flags before the script, e.g. `--cpu-prof` (the benchmarks profile with it). */
  nodeArgs?: readonly string[];
  /** How long to wait for /readyz (default 60 s). */
  readyTimeoutMs?: number;
}

/** The controller component with extra flags (the benchmarks: the deployed resync default, profiling). */
export function makeControllerComponent(opts: ControllerComponentOptions = {}): Component {
  return {
    name: 'controller',
    start: (ctx) => startController(ctx, opts),
  };
}

export const controllerComponent: Component = makeControllerComponent();

async function startController(
  { env, log, stateDir, signal }: PlaygroundContext,
  opts: ControllerComponentOptions,
): Promise<RunningComponent> {
  const need = (k: string) => {
    const v = env.get(k);
    if (!v) throw new Error(`controller: ${k} is not set by an earlier component`);
    return v;
  };
  const [port, webhookPort] = (await freePorts(2)) as [number, number];
  const logFile = join(stateDir, 'controller.log');
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      join(repoRoot(), 'dist', 'cli', 'main.js'),
      'controller',
      '--health-addr',
      `127.0.0.1:${port}`,
      '--resync',
      '30s',
      '--lease-namespace',
      'default',
      // The API server calls the admission webhooks over TLS as in a cluster, through URL-based configurations
      // pointing here; the controller bootstraps the certificate into this Secret.
      '--webhook-addr',
      `127.0.0.1:${webhookPort}`,
      '--webhook-url',
      `https://127.0.0.1:${webhookPort}`,
      '--webhook-secret',
      'default/tidemark-webhook-tls',
      ...(opts.extraArgs ?? []),
    ],
    {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        KUBECONFIG: need('KUBECONFIG'),
        TIDEMARK_GCS_ENDPOINT: need('TIDEMARK_GCS_ENDPOINT'),
        GCE_METADATA_HOST: need('GCE_METADATA_HOST'),
        GOOGLE_CLOUD_PROJECT: need('GOOGLE_CLOUD_PROJECT'),
      },
      stdio: ['ignore', fd, fd],
    },
  );
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (signal.aborted) break;
    if (child.exitCode !== null) throw new Error(`controller exited with ${child.exitCode}; see ${logFile}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`controller not ready after ${readyTimeoutMs / 1000} s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  log(
    `controller running (pid ${child.pid}), health and metrics at ${url}, admission webhooks at https://127.0.0.1:${webhookPort}, logs in ${logFile}`,
  );
  return {
    env: [['TIDEMARK_CONTROLLER_URL', url]],
    hints: [
      `controller metrics: curl -s $TIDEMARK_CONTROLLER_URL/metrics | grep ^tidemark`,
      'webhooks Tidemark keeps: kubectl get mutatingwebhookconfiguration tidemark-mutating -o yaml',
      `controller logs: tail -f ${logFile}`,
    ],
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
