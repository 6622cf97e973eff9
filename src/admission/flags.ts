// The controller's webhook flags (CONTRACTS.md "Webhooks") and how they become an AdmissionConfig.
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { AdmissionConfig, WebhookTarget } from './index.js';

function addr(value: string): { host: string; port: number } | 'off' {
  if (value === 'off') return 'off';
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('must be HOST:PORT (e.g. 0.0.0.0:9443) or off');
  return { host: m[1] === '' ? '0.0.0.0' : (m[1] as string), port };
}

function namespacedName(value: string): { namespace: string; name: string } {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(value);
  if (!m) throw new InvalidArgumentError('must be NAMESPACE/NAME');
  return { namespace: m[1] as string, name: m[3] as string };
}

function httpsUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be a URL such as https://127.0.0.1:9443');
  }
  if (u.protocol !== 'https:' || u.pathname.replace(/\/$/, '') !== '' || u.search || u.hash) {
    throw new InvalidArgumentError('must be https://HOST:PORT without a path (the webhook paths are appended)');
  }
  return u.origin;
}

export function addWebhookOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--webhook-addr <host:port|off>',
        'admission webhook server (HTTPS, on every replica); off disables it',
      )
        .argParser(addr)
        .default({ host: '0.0.0.0', port: 9443 }, '0.0.0.0:9443')
        .env('TIDEMARK_WEBHOOK_ADDR'),
    )
    .addOption(
      new Option('--webhook-service <ns/name>', 'the Service the API server reaches the webhook through (port 443)')
        .argParser(namespacedName)
        .default({ namespace: 'tidemark-system', name: 'tidemark-webhook' }, 'tidemark-system/tidemark-webhook')
        .env('TIDEMARK_WEBHOOK_SERVICE'),
    )
    .addOption(
      new Option('--webhook-url <url>', 'instead of a Service: an https://HOST:PORT URL for the API server (no path)')
        .argParser(httpsUrl)
        .env('TIDEMARK_WEBHOOK_URL'),
    )
    .addOption(
      new Option('--webhook-secret <ns/name>', 'kubernetes.io/tls Secret the controller bootstraps and renews')
        .argParser(namespacedName)
        .default({ namespace: 'tidemark-system', name: 'tidemark-webhook-tls' }, 'tidemark-system/tidemark-webhook-tls')
        .env('TIDEMARK_WEBHOOK_SECRET'),
    )
    .addOption(
      new Option(
        '--webhook-cert-dir <dir>',
        "instead of the Secret: tls.crt/tls.key mounted by cert-manager (caBundle left to cert-manager's CA injector)",
      ).env('TIDEMARK_WEBHOOK_CERT_DIR'),
    );
}

export interface WebhookFlags {
  webhookAddr: { host: string; port: number } | 'off';
  webhookService: { namespace: string; name: string };
  webhookUrl?: string;
  webhookSecret: { namespace: string; name: string };
  webhookCertDir?: string;
}

export function webhookConfig(o: WebhookFlags): AdmissionConfig | undefined {
  if (o.webhookAddr === 'off') return undefined;
  const target: WebhookTarget = o.webhookUrl
    ? { kind: 'URL', url: o.webhookUrl }
    : { kind: 'Service', ...o.webhookService, port: 443 };
  return {
    ...o.webhookAddr,
    target,
    tls: o.webhookCertDir ? { kind: 'Files', dir: o.webhookCertDir } : { kind: 'Secret', ...o.webhookSecret },
  };
}
