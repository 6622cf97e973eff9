// `tidemark controller`: runs the controller in the foreground (in a cluster: in-cluster config; locally: a
// kubeconfig) until SIGINT/SIGTERM, then finishes in-flight reconciles, releases its lease and exits 0.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { addWebhookOptions, webhookConfig } from '../admission/flags.js';
import { createLogger } from '../kube/log.js';
import { parseDuration } from '../policy/duration.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

function duration(value: string): number {
  const d = parseDuration(value);
  if (!d.ok) throw new InvalidArgumentError(d.error);
  if (d.ms < 1000) throw new InvalidArgumentError('must be at least 1s');
  return d.ms;
}

function hostPort(value: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535)
    throw new InvalidArgumentError('must be HOST:PORT, e.g. 0.0.0.0:8081 (port 0 = any free port)');
  return { host: m[1] === '' ? '0.0.0.0' : (m[1] as string), port };
}

export function register(program: Command): void {
  const cmd = program
    .command('controller')
    .description('Run the controller: provision, grant and release checkpoints for selected Spark jobs')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, in-cluster config, ~/.kube/config)')
    .addOption(
      new Option('--gcs-endpoint <url>', 'Cloud Storage JSON API root, e.g. an emulator (default: Google)').env(
        'TIDEMARK_GCS_ENDPOINT',
      ),
    )
    .addOption(
      new Option('--concurrency <n>', 'jobs reconciled at once')
        .argParser(positiveInt)
        .default(4)
        .env('TIDEMARK_CONCURRENCY'),
    )
    .addOption(
      new Option('--resync <duration>', 'full resync period: drift repair and the orphan scan (jittered +20%)')
        .argParser(duration)
        .default(600_000, '10m')
        .env('TIDEMARK_RESYNC'),
    )
    .addOption(
      new Option('--health-addr <host:port>', '/healthz, /readyz and /metrics')
        .argParser(hostPort)
        .default({ host: '0.0.0.0', port: 8081 }, '0.0.0.0:8081')
        .env('TIDEMARK_HEALTH_ADDR'),
    )
    .option('--no-leader-elect', 'run without leader election (only one replica may run)')
    .addOption(
      new Option('--lease-namespace <ns>', 'namespace of the leader-election Lease').default(
        process.env.POD_NAMESPACE ?? 'default',
        '$POD_NAMESPACE or default',
      ),
    )
    .option('--lease-name <name>', 'name of the leader-election Lease', 'tidemark-controller')
    .addOption(
      new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'),
    );
  addWebhookOptions(cmd)
    .addHelpText(
      'after',
      `
Authentication to Cloud Storage: Application Default Credentials (on GKE the metadata server, i.e. Workload
Identity; locally GOOGLE_APPLICATION_CREDENTIALS or GCE_METADATA_HOST), or a bearer token in
$TIDEMARK_GCS_ACCESS_TOKEN.`,
    )
    .action(async (o) => {
      const logger = createLogger({ level: o.logLevel, base: { component: 'controller' } });
      // Loaded only when the command runs: `tidemark --help` and argument errors answer without loading the
      // Kubernetes and Google clients.
      const { startController } = await import('../controller/run.js');
      const running = await startController({
        kubeconfig: o.kubeconfig,
        gcs: { endpoint: o.gcsEndpoint, accessToken: process.env.TIDEMARK_GCS_ACCESS_TOKEN || undefined },
        logger,
        concurrency: o.concurrency,
        resyncMs: o.resync,
        healthHost: o.healthAddr.host,
        healthPort: o.healthAddr.port,
        leaderElection: o.leaderElect,
        leaseNamespace: o.leaseNamespace,
        leaseName: o.leaseName,
        webhook: webhookConfig(o),
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down');
        running.stop().then(
          () => process.exit(0),
          (err) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      await new Promise<never>(() => {});
    });
}
