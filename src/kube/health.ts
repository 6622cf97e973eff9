import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Informer } from './informer.js';
import { type Logger, silentLogger } from './log.js';

/** A named health check: ok, or not with a reason. A check that throws counts as failed. */
export interface Check {
  name: string;
  check(): { ok: boolean; message?: string } | Promise<{ ok: boolean; message?: string }>;
}

/** Liveness of an informer: its watch is open and not silent, or has not been down for too long. */
export function informerLiveness(informer: Informer): Check {
  return {
    name: `informer:${informer.name}`,
    check() {
      const h = informer.health();
      return informer.isHealthy()
        ? { ok: true }
        : {
            ok: false,
            message: `no live watch for ${Math.round(h.downForMs / 1000)} s (${h.lastError ?? 'no error'})`,
          };
    },
  };
}

/** Readiness of an informer: its cache has been filled once. */
export function informerSynced(informer: Informer): Check {
  return {
    name: `informer-synced:${informer.name}`,
    check: () => (informer.hasSynced() ? { ok: true } : { ok: false, message: 'not synced yet' }),
  };
}

export interface HealthServerOptions {
  /** /healthz: the process is alive (these checks pass). */
  liveness?: Check[];
  /** /readyz: the process can serve (caches synced). A standby replica is ready too. */
  readiness?: Check[];
  /** /metrics is served from this registry (not prom-client's global one). */
  registry: Registry;
  host?: string;
  port?: number;
  logger?: Logger;
}

export interface HealthServer {
  readonly url: string;
  readonly port: number;
  /** Checks can be added after start (e.g. informers created later). */
  addLiveness(c: Check): void;
  addReadiness(c: Check): void;
  close(): Promise<void>;
}

async function runChecks(checks: Check[]): Promise<{ ok: boolean; lines: string[] }> {
  const lines: string[] = [];
  let ok = true;
  for (const c of checks) {
    try {
      const r = await c.check();
      ok &&= r.ok;
      lines.push(r.ok ? `[+]${c.name} ok` : `[-]${c.name} failed: ${r.message ?? 'no reason given'}`);
    } catch (err) {
      ok = false;
      lines.push(`[-]${c.name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { ok, lines };
}

/**
 * Serves /healthz, /readyz (kube-apiserver's style: 200 "ok" or 500 with one [+]/[-] line per check; `?verbose`
 * lists the checks on success too) and /metrics (Prometheus text format).
 */
export async function startHealthServer(o: HealthServerOptions): Promise<HealthServer> {
  const liveness = [...(o.liveness ?? [])];
  const readiness = [...(o.readiness ?? [])];
  const logger = o.logger ?? silentLogger();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n');
    const checks =
      url.pathname === '/healthz' || url.pathname === '/livez'
        ? liveness
        : url.pathname === '/readyz'
          ? readiness
          : undefined;
    if (checks) {
      runChecks(checks).then(
        ({ ok, lines }) => {
          const verbose = url.searchParams.has('verbose') || !ok;
          const body = verbose
            ? `${lines.join('\n')}\n${url.pathname.slice(1)} ${ok ? 'check passed' : 'check failed'}\n`
            : 'ok\n';
          reply(ok ? 200 : 500, 'text/plain; charset=utf-8', body);
        },
        (err: unknown) => reply(500, 'text/plain', `${String(err)}\n`),
      );
      return;
    }
    if (url.pathname === '/metrics') {
      o.registry.metrics().then(
        (text) => reply(200, o.registry.contentType, text),
        (err: unknown) => {
          logger.error({ err }, 'metrics collection failed');
          reply(500, 'text/plain', `metrics collection failed: ${String(err)}\n`);
        },
      );
      return;
    }
    reply(404, 'text/plain', 'not found: try /healthz, /readyz or /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.host ?? '127.0.0.1';
  logger.info({ port, host }, 'health server listening');
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    addLiveness: (c) => liveness.push(c),
    addReadiness: (c) => readiness.push(c),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
