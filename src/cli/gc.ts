// `tidemark gc --policy NAME [--dry-run]`: one garbage-collection run of one policy, the controller's own code, as
// the controller's GCS identity (Application Default Credentials: after `. .tidemark/playground/env`, the
// playground's metadata server). It holds the policy's GC Lease for the run and refuses, with one line and exit 1,
// while another holder (the controller, or another `tidemark gc`) runs GC for the policy.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type Command, Option } from 'commander';
import type { AccessBackend, AccessMode } from '../access/backend.js';
import type { EventSink } from '../checkpoint/world.js';
import type { EventRecorder } from '../kube/events.js';

/**
 * The run's modules (the Google and Kubernetes clients: ~2 s of CPU to load) are loaded when the command runs, not
 * when the CLI starts: every `tidemark` invocation registers this command, and `--help` or a bad argument must not
 * pay for them.
 */
async function gcModules() {
  const [bucketCondition, managedFolder, run, gcsClient, kubeClient, events, log, rest] = await Promise.all([
    import('../access/bucket-condition-backend.js'),
    import('../access/managed-folder-backend.js'),
    import('../gc/run.js'),
    import('../gcs/client.js'),
    import('../kube/kubeconfig.js'),
    import('../kube/events.js'),
    import('../kube/log.js'),
    import('../kube/rest.js'),
  ]);
  return {
    BucketConditionBackend: bucketCondition.BucketConditionBackend,
    ManagedFolderBackend: managedFolder.ManagedFolderBackend,
    runPolicyGc: run.runPolicyGc,
    createGcs: gcsClient.createGcs,
    loadKubeConfig: kubeClient.loadKubeConfig,
    EventRecorder: events.EventRecorder,
    createLogger: log.createLogger,
    KubeRest: rest.KubeRest,
  };
}

export function register(program: Command): void {
  program
    .command('gc')
    .description("Run one policy's garbage collection now (the controller's code, as the controller's GCS identity)")
    .requiredOption('--policy <name>', 'the CheckpointPolicy')
    .option('--dry-run', 'report what would be deleted; delete nothing')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, in-cluster config, ~/.kube/config)')
    .addOption(
      new Option('--gcs-endpoint <url>', 'Cloud Storage JSON API root, e.g. an emulator (default: Google)').env(
        'TIDEMARK_GCS_ENDPOINT',
      ),
    )
    .addOption(
      new Option(
        '--lease-namespace <ns>',
        "namespace of the policy's GC Lease (the controller's lease namespace)",
      ).default(process.env.POD_NAMESPACE ?? 'default', '$POD_NAMESPACE or default'),
    )
    .addHelpText(
      'after',
      `
Prints progress and a summary; exits 0 when the run finished without errors, 1 otherwise (also when another run of
the policy holds its Lease tidemark-gc-<policy>). Authentication to Cloud Storage as for \`tidemark controller\`:
Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, GCE_METADATA_HOST) or $TIDEMARK_GCS_ACCESS_TOKEN.`,
    )
    .action(async (o) => {
      const {
        BucketConditionBackend,
        ManagedFolderBackend,
        runPolicyGc,
        createGcs,
        loadKubeConfig,
        EventRecorder,
        createLogger,
        KubeRest,
      } = await gcModules();
      const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'silent', base: { component: 'gc-cli' } });
      const { kubeConfig } = loadKubeConfig(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {});
      const rest = new KubeRest(kubeConfig);
      const identity = `tidemark-gc-cli_${hostname()}_${randomBytes(4).toString('hex')}`;
      const gcs = createGcs({
        endpoint: o.gcsEndpoint,
        accessToken: process.env.TIDEMARK_GCS_ACCESS_TOKEN || undefined,
      });
      const backends = new Map<AccessMode, AccessBackend>();
      const backend = (mode: AccessMode): AccessBackend => {
        let b = backends.get(mode);
        if (!b) {
          b = mode === 'ManagedFolder' ? new ManagedFolderBackend({ gcs }) : new BucketConditionBackend({ gcs });
          backends.set(mode, b);
        }
        return b;
      };
      const recorder = new EventRecorder({ rest, reportingInstance: identity, logger });
      const events: EventSink = {
        event(regarding, type, reason, message) {
          recorder.record(
            { ...regarding, namespace: regarding.namespace ?? undefined } as Parameters<EventRecorder['record']>[0],
            { type, reason, action: 'GarbageCollect', note: message },
          );
        },
      };
      let code = 1;
      try {
        const r = await runPolicyGc(
          {
            rest,
            gcs,
            backend,
            events,
            logger,
            leaseNamespace: o.leaseNamespace,
            identity,
            progress: (line) => console.log(line),
          },
          o.policy,
          o.dryRun ? { dryRun: true } : {},
        );
        if (r.kind === 'Busy') {
          console.error(
            `tidemark: garbage collection of policy ${o.policy} is already running (Lease tidemark-gc-${o.policy} held by ${r.holder} until at least ${r.freeAt.toISOString()}); try again later`,
          );
        } else if (r.kind === 'Skipped') {
          console.error(`tidemark: ${r.message}`);
        } else {
          code = r.report.errors.length > 0 ? 1 : 0;
        }
      } finally {
        await recorder.close();
        rest.close();
      }
      process.exit(code);
    });
}
