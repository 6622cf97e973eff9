// `tidemark emulator`: runs the GCS/IAM emulator in the foreground until SIGINT/SIGTERM (design §6).
import { type Command, InvalidArgumentError, Option } from 'commander';
import { destination, pino } from 'pino';
// Loaded on use: the controller image leaves the emulator out (see Dockerfile), and other commands start faster.
import type { RunningEmulator } from '../emulator/index.js';

export interface RunEmulatorOptions {
  host?: string;
  port?: number;
  adminToken?: string;
  project?: string;
  projectNumber?: string;
  latencyMs?: number;
  bucketWriteLimit?: number;
  logLevel?: string;
  /** Where the URL (and a generated admin token) go; default stdout. */
  out?: (line: string) => void;
}

/**
 * Starts the emulator and prints its URL (first line) and, when it generated one, the admin token as
 * `TIDEMARK_EMULATOR_ADMIN_TOKEN=<token>`. The playground can call this or `startEmulator` directly.
 */
export async function runEmulator(opts: RunEmulatorOptions = {}): Promise<RunningEmulator> {
  const log = pino({ name: 'tidemark-emulator', level: opts.logLevel ?? 'info' }, destination(2));
  const config: Record<string, number> = {};
  if (opts.latencyMs !== undefined) config.latencyMs = opts.latencyMs;
  if (opts.bucketWriteLimit !== undefined) config.bucketWriteLimitPerSecond = opts.bucketWriteLimit;
  const { startEmulator } = await import('../emulator/index.js').catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error('the GCS emulator is not part of this installation (the controller image leaves it out)');
  });
  const emu = await startEmulator({
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.adminToken !== undefined ? { adminToken: opts.adminToken } : {}),
    ...(opts.project !== undefined ? { projectId: opts.project } : {}),
    ...(opts.projectNumber !== undefined ? { projectNumber: opts.projectNumber } : {}),
    config,
    log,
  });
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  out(emu.url);
  if (opts.adminToken === undefined) out(`TIDEMARK_EMULATOR_ADMIN_TOKEN=${emu.adminToken}`);
  log.info({ url: emu.url, projectId: emu.projectId, projectNumber: emu.projectNumber }, 'emulator listening');
  return emu;
}

function integer(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    }
    return Number(value);
  };
}

export function register(program: Command): void {
  program
    .command('emulator')
    .description('Run the GCS/IAM emulator (Cloud Storage JSON API with IAM enforcement) until SIGINT/SIGTERM')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 = a free port)', integer(0, 65535), 0)
    .addOption(
      new Option('--admin-token <token>', 'the admin token (default: generated and printed)').env(
        'TIDEMARK_EMULATOR_ADMIN_TOKEN',
      ),
    )
    .option('--project <id>', 'project id', 'tidemark-dev')
    .option('--project-number <n>', 'project number', '123456789012')
    .option('--latency-ms <n>', 'latency added to every call', integer(0, 600_000))
    .option(
      '--bucket-write-limit <n>',
      'bucket metadata writes per second per bucket (0 = unlimited; default 1)',
      integer(0, 1_000_000),
    )
    .option('--log-level <level>', 'log level on stderr (fatal, error, warn, info, debug, trace, silent)', 'info')
    .action(async (o: RunEmulatorOptions) => {
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(o.logLevel ?? 'info')) {
        throw new Error(`--log-level: unknown level '${o.logLevel}'`);
      }
      const emu = await runEmulator(o);
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.stderr.write(`tidemark emulator: ${signal}, stopping\n`);
      await emu.stop();
    });
}
