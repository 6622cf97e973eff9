// A fault-injecting HTTP proxy in front of the real test API server, for the kube-runtime integration tests.
// The client under test talks plain HTTP to the proxy; the proxy forwards every request over TLS with the admin
// credentials and streams the answer back — unless a fault is switched on:
// - dropEvents: watch event types to swallow (e.g. DELETED: the client silently misses deletes);
// - silent: watch streams forward nothing at all (no events, no bookmarks) but stay open;
// - holdWatches: watch requests get no response at all (not even headers) but stay open;
// - failRequests: matching requests get this HTTP status with a Status body instead of reaching the server.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface Faults {
  dropEvents: Set<string>;
  silent: boolean;
  holdWatches: boolean;
  failRequests?: { status: number; match: (method: string, url: URL) => boolean };
}

export interface FaultProxy {
  faults: Faults;
  /** A KubeConfig that reaches the API server through this proxy. */
  kubeConfig: KubeConfig;
  /** Watch requests received so far. */
  watches(): number;
  /** Ends every open watch stream (as a load balancer or a restarting API server would). */
  cutWatches(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: KubeConfig): Promise<FaultProxy> {
  const cluster = upstream.getCurrentCluster();
  if (!cluster) throw new Error('upstream kubeconfig has no cluster');
  const target = new URL(cluster.server);
  const faults: Faults = { dropEvents: new Set(), silent: false, holdWatches: false };
  const open = new Set<http.ServerResponse>();
  let watchCount = 0;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', target);
    const isWatch = url.searchParams.get('watch') === 'true';
    if (isWatch) watchCount++;
    const fail = faults.failRequests;
    if (fail?.match(req.method ?? 'GET', url)) {
      res.writeHead(fail.status, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          status: 'Failure',
          code: fail.status,
          reason: 'InjectedFault',
          message: 'fault proxy',
        }),
      );
      return;
    }
    if (isWatch && faults.holdWatches) {
      open.add(res);
      res.on('close', () => open.delete(res));
      return;
    }
    const options: https.RequestOptions = { method: req.method, headers: { ...req.headers, host: target.host } };
    await upstream.applyToHTTPSOptions(options);
    const up = https.request(url, options, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (!isWatch || upRes.statusCode !== 200) {
        upRes.pipe(res);
        return;
      }
      res.flushHeaders(); // as the API server does: the watch is established before the first event
      open.add(res);
      res.on('close', () => {
        open.delete(res);
        upRes.destroy();
      });
      let buffer = '';
      upRes.setEncoding('utf8');
      upRes.on('data', (chunk: string) => {
        buffer += chunk;
        let nl = buffer.indexOf('\n');
        while (nl >= 0) {
          const line = buffer.slice(0, nl + 1);
          buffer = buffer.slice(nl + 1);
          nl = buffer.indexOf('\n');
          if (faults.silent) continue;
          const type = (JSON.parse(line) as { type?: string }).type ?? '';
          if (faults.dropEvents.has(type)) continue;
          res.write(line);
        }
      });
      upRes.on('end', () => res.end());
      upRes.on('error', () => res.destroy());
    });
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`proxy: ${err.message}`);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'proxy', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'anonymous' }],
    contexts: [{ name: 'proxy', cluster: 'proxy', user: 'anonymous' }],
    currentContext: 'proxy',
  });
  return {
    faults,
    kubeConfig,
    watches: () => watchCount,
    cutWatches: () => {
      for (const r of open) r.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const r of open) r.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
