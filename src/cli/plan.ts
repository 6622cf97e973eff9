// `tidemark plan -f PATH...`: offline, what Tidemark would do with a set of manifests (see src/plan/report.ts).
// Exit codes: 0 nothing to fix, 1 findings, 2 the input could not be read or the command line is wrong.
import { type Command, Option } from 'commander';
import { PlanInputError, readInputs, readStdin } from '../plan/input.js';
import { sortManifests } from '../plan/manifests.js';
import { OUTPUTS, type Output, render } from '../plan/render.js';
import { EXIT_CODES, planManifests } from '../plan/report.js';

export function register(program: Command): void {
  program
    .command('plan')
    .description(
      'Offline: which policy selects each job in the given manifests, its checkpoint URI, members, role and access mode',
    )
    .requiredOption(
      '-f, --filename <path...>',
      'YAML/JSON files or directories (recursively), "-" for stdin; multi-document files and Lists are read',
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUTS).default('table'))
    .option('-n, --namespace <namespace>', 'namespace of namespaced objects that name none', 'default')
    .addHelpText(
      'after',
      `
Reads CheckpointPolicies, SparkApplications, ScheduledSparkApplications, ServiceAccounts and Namespaces; other
kinds are skipped (listed in the notes). No cluster and no cloud are contacted. A namespace missing from the
input is known only by its name (label kubernetes.io/metadata.name); Checkpoints already in a cluster are not seen.

Exit codes:
  0  every policy valid, every selected job provisioned (jobs no policy selects are fine)
  1  findings: a policy the API server would refuse or the controller finds invalid, overlapping policy roots,
     a job with a policy conflict or another block, an identity allowedServiceAccounts refuses
  2  the input could not be read (missing file, not YAML, unknown kind, over 4 MiB, directory loop) or bad usage

Example:
  kubectl kustomize overlays/prod | npx tidemark plan -f - -o json`,
    )
    // One line for a usage error (the help would bury it in CI logs; --help prints it).
    .showHelpAfterError(false)
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : EXIT_CODES.badInput);
    })
    .action(async (o: { filename: string[]; output: Output; namespace: string }) => {
      try {
        const stdin = o.filename.includes('-') ? await readStdin(process.stdin) : undefined;
        const docs = readInputs(o.filename, { stdin });
        const report = planManifests(sortManifests(docs, { defaultNamespace: o.namespace }));
        process.stdout.write(render(report, o.output));
        process.exitCode = report.exitCode;
      } catch (err) {
        const message =
          err instanceof PlanInputError
            ? err.message
            : `cannot plan: ${err instanceof Error ? err.message : String(err)}`;
        process.stderr.write(`tidemark plan: ${message.split('\n')[0]}\n`);
        process.exitCode = EXIT_CODES.badInput;
      }
    });
}
