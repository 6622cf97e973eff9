// The webhook HTTPS server: one route per webhook path, AdmissionReview in, AdmissionReview out. It serves whatever
// the TLS source currently holds (a renewed certificate is picked up without a restart). Every request gets a
// review back: malformed input is a denial with code 400 and a message, a handler failure a denial with code 500
// and its message — the API server never sees a dropped connection or an HTTP error from here, except 404 for an
// unknown path and 413 for a body larger than the API server could ever send.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Counter, Histogram } from 'prom-client';
import type { Logger } from '../kube/log.js';
import type { TlsSource } from './cert-keeper.js';
import { type AdmissionRequest, type Decision, deny, parseReview, reviewResponse, toResponse } from './review.js';

export type Handler = (req: AdmissionRequest) => Promise<Decision> | Decision;

/** The API server sends at most ~3 MiB (etcd's object limit is 1.5 MiB, the request limit 3 MiB); allow some slack. */
const MAX_BODY = 8 * 1024 * 1024;

export interface WebhookServerOptions {
  host: string;
  port: number;
  tls: TlsSource;
  routes: Record<string, Handler>;
  logger: Logger;
  metrics?: { requests: Counter<'path' | 'allowed'>; latency: Histogram<'path'> };
}

export interface WebhookServer {
  /** `https://host:port` as bound (port 0 resolved). */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startWebhookServer(o: WebhookServerOptions): Promise<WebhookServer> {
  const first = o.tls.current();
  const server = https.createServer({ cert: first.cert, key: first.key, minVersion: 'TLSv1.2' }, (req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const route = o.routes[path];
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (!route || req.method !== 'POST') {
      reply(404, { message: `no webhook at ${req.method} ${path}` });
      return;
    }
    const started = performance.now();
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(c);
    });
    req.on('error', (err) => o.logger.warn({ err, path }, 'webhook request failed while reading'));
    req.on('end', () => {
      if (tooLarge) {
        reply(413, { message: `request body larger than ${MAX_BODY} bytes` });
        return;
      }
      const parsed = parseReview(Buffer.concat(chunks).toString('utf8'));
      if (!parsed.ok) {
        // Without a uid there is no review to answer; say what is wrong.
        reply(400, { message: parsed.error });
        return;
      }
      const request = parsed.request;
      Promise.resolve()
        .then(() => route(request))
        .catch((err: unknown): Decision => {
          o.logger.error({ err, path, uid: request.uid }, 'webhook handler failed');
          return deny(500, `Tidemark admission failed: ${err instanceof Error ? err.message : String(err)}`);
        })
        .then((decision) => {
          o.metrics?.requests.inc({ path, allowed: String(decision.allowed) });
          o.metrics?.latency.observe({ path }, (performance.now() - started) / 1000);
          reply(200, reviewResponse(toResponse(request.uid, decision)));
        });
    });
  });
  o.tls.onChange((m) => {
    try {
      server.setSecureContext({ cert: m.cert, key: m.key, minVersion: 'TLSv1.2' });
      o.logger.info('webhook server: serving certificate reloaded');
    } catch (err) {
      o.logger.error({ err }, 'webhook server: new certificate refused; still serving the previous one');
    }
  });
  server.on('tlsClientError', (err) => o.logger.debug({ err }, 'webhook TLS handshake failed'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `https://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
