// Admission in the controller process: the webhook server on every replica (admission never depends on who
// leads), and the leader's duties — the webhook configurations, certificate renewal, and the driver-pod gate
// controller. run.ts makes one call here.
import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';
import type { EventSink } from '../checkpoint/world.js';
import type { Logger } from '../kube/log.js';
import type { KubeRest } from '../kube/rest.js';
import { FileTlsSource } from './cert-files.js';
import { SecretTlsSource, type TlsSource } from './cert-keeper.js';
import { serviceDnsNames, urlNames } from './certs.js';
import { ConfigKeeper } from './config-keeper.js';
import { Paths, type WebhookTarget } from './configurations.js';
import { type RunningGateController, startGateController } from './gate-controller.js';
import { checkpointPolicyHandler, driverPodHandler, sparkApplicationHandler } from './handlers.js';
import { startWebhookServer, type WebhookServer } from './server.js';
import { type AdmissionCaches, AdmissionView } from './view.js';

export type { WebhookTarget } from './configurations.js';

export interface AdmissionConfig {
  /** Where the webhook server listens (port 0: any free port). */
  host: string;
  port: number;
  /** Where the API server reaches it. */
  target: WebhookTarget;
  tls:
    | {
        kind: 'Secret';
        namespace: string;
        name: string;
        servingValidityMs?: number | undefined;
        caValidityMs?: number | undefined;
        /** How often every replica re-reads the Secret and the leader checks for renewal (default 60 s). */
        pollMs?: number | undefined;
      }
    | { kind: 'Files'; dir: string };
  /** A driver pod held this long gets a Warning Event (default 5 min). */
  gateEventAfterMs?: number | undefined;
}

export interface AdmissionDeps {
  config: AdmissionConfig;
  rest: KubeRest;
  caches: AdmissionCaches;
  events: EventSink;
  logger: Logger;
  registry?: Registry | undefined;
}

export interface RunningAdmission {
  server: WebhookServer;
  tls: TlsSource;
  /** The leader's duties: configurations, renewal, gate controller. */
  startLeading(): void;
  stopLeading(): Promise<void>;
  /** Stops the leader's duties (if any) and the server. */
  stop(): Promise<void>;
}

export async function startAdmission(d: AdmissionDeps): Promise<RunningAdmission> {
  const { config, logger } = d;
  const log = logger.child({ component: 'admission' });
  const names =
    config.target.kind === 'URL'
      ? urlNames(config.target.url)
      : { dnsNames: serviceDnsNames(config.target.namespace, config.target.name), ipAddresses: [] };
  const tls: TlsSource =
    config.tls.kind === 'Files'
      ? await FileTlsSource.start(config.tls.dir, log)
      : await SecretTlsSource.start({
          rest: d.rest,
          namespace: config.tls.namespace,
          name: config.tls.name,
          cert: { ...names, servingValidityMs: config.tls.servingValidityMs, caValidityMs: config.tls.caValidityMs },
          logger: log,
          pollMs: config.tls.pollMs,
        });
  const view = new AdmissionView(d.caches, d.rest);
  const deps = { view, events: d.events };
  const metrics = d.registry
    ? {
        requests: new Counter({
          name: 'tidemark_admission_requests_total',
          help: 'Admission reviews answered, by webhook path and whether the request was allowed',
          labelNames: ['path', 'allowed'] as const,
          registers: [d.registry],
        }),
        latency: new Histogram({
          name: 'tidemark_admission_duration_seconds',
          help: 'Time to answer an admission review, by webhook path',
          labelNames: ['path'] as const,
          registers: [d.registry],
        }),
      }
    : undefined;
  const server = await startWebhookServer({
    host: config.host,
    port: config.port,
    tls,
    logger: log,
    metrics,
    routes: {
      [Paths.sparkApplication]: sparkApplicationHandler(deps),
      [Paths.driverPod]: driverPodHandler(deps),
      [Paths.checkpointPolicy]: checkpointPolicyHandler(deps),
    },
  });
  log.info({ url: server.url }, 'webhook server listening');

  const keeper = new ConfigKeeper({
    rest: d.rest,
    target: config.target,
    caBundle: () => (config.tls.kind === 'Secret' ? tls.current().caBundle : undefined),
    policies: () => view.policies(),
    logger: log,
  });

  let leading: { stop(): Promise<void> } | undefined;
  const startLeading = () => {
    if (leading) return;
    const abort = new AbortController();
    // Syncs are serialised and coalesced: a burst of policy changes costs one write per configuration.
    let running: Promise<void> = Promise.resolve();
    let pending = false;
    const sync = () => {
      if (pending || abort.signal.aborted) return;
      pending = true;
      running = running.then(async () => {
        pending = false;
        if (abort.signal.aborted) return;
        try {
          await keeper.sync();
        } catch (err) {
          log.error({ err }, 'webhook configurations: sync failed (retrying in 10 s)');
          setTimeout(sync, 10_000).unref();
        }
      });
    };
    const unsubscribe = d.caches.policies.onChange(() => sync());
    const unsubscribeTls = tls.onChange(() => sync());
    sync();
    const renewEvery = config.tls.kind === 'Secret' ? (config.tls.pollMs ?? 60_000) : 0;
    const renewTimer =
      renewEvery > 0
        ? setInterval(() => {
            running = running.then(() =>
              abort.signal.aborted
                ? undefined
                : tls
                    .renewIfDue((bundle) => keeper.sync(bundle))
                    .catch((err) => log.error({ err }, 'webhook TLS: renewal failed')),
            );
          }, renewEvery)
        : undefined;
    renewTimer?.unref();
    let gate: RunningGateController | undefined;
    const gateStarting = startGateController({
      rest: d.rest,
      view,
      triggers: {
        checkpoints: d.caches.checkpoints,
        others: [d.caches.policies, d.caches.namespaces, d.caches.serviceAccounts, d.caches.sparkApplications],
      },
      events: d.events,
      logger: log,
      registry: d.registry,
      eventAfterMs: config.gateEventAfterMs,
    }).then(
      (g) => {
        gate = g;
      },
      (err) => log.error({ err }, 'driver gate controller failed to start'),
    );
    leading = {
      async stop() {
        abort.abort();
        if (typeof unsubscribe === 'function') unsubscribe();
        unsubscribeTls();
        if (renewTimer) clearInterval(renewTimer);
        await gateStarting;
        await gate?.stop();
        await running;
      },
    };
  };
  const stopLeading = async () => {
    const l = leading;
    leading = undefined;
    await l?.stop();
  };
  return {
    server,
    tls,
    startLeading,
    stopLeading,
    async stop() {
      await stopLeading();
      await server.close();
      tls.stop();
    },
  };
}
