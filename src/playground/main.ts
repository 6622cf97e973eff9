// `npm start`: the Tidemark playground. Runs in the foreground until SIGINT/SIGTERM (design §6).
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { repoRoot } from '../localcluster/paths.js';
import type { RunningComponent } from './component.js';
import { components } from './components.js';
import { renderEnvFile, writeFileAtomic } from './envfile.js';
import { acquirePidLock } from './lock.js';

const log = (message: string) => console.log(`[playground] ${message}`);

/** .tidemark/playground in the repository, or $TIDEMARK_PLAYGROUND_DIR (tests use a temporary one). */
function stateDirectory(): string {
  const override = process.env.TIDEMARK_PLAYGROUND_DIR;
  return override ? resolve(override) : join(repoRoot(), '.tidemark', 'playground');
}

const LOCK = 'playground.pid';

async function main(): Promise<void> {
  const started = Date.now();
  const stateDir = stateDirectory();
  const envFile = join(stateDir, 'env');
  await mkdir(stateDir, { recursive: true });
  const lock = await acquirePidLock(join(stateDir, LOCK), async (pid) => {
    log(`cleaning up after a playground that is no longer running (pid ${pid})`);
    killLeftovers(stateDir);
    await removeStateExceptLock(stateDir);
  });
  if (!lock.acquired) {
    console.error(
      `tidemark playground: already running (pid ${lock.pid}, env file ${display(envFile)}); ` +
        `stop it with Ctrl-C in its terminal or \`kill ${lock.pid}\` first`,
    );
    process.exit(1);
  }

  const running: RunningComponent[] = [];
  const abort = new AbortController();
  let starting: Promise<unknown> | undefined;
  let stopping = false;

  const shutdown = async (code: number, reason: string) => {
    if (stopping) {
      log('already stopping; please wait');
      return;
    }
    stopping = true;
    log(`${reason}: stopping`);
    await rm(envFile, { force: true });
    abort.abort();
    if (starting) await starting.catch(() => undefined);
    for (const component of [...running].reverse()) {
      try {
        await component.stop();
      } catch (err) {
        console.error(`[playground] stopping failed: ${err instanceof Error ? err.message : String(err)}`);
        code = 1;
      }
    }
    await removeStateExceptLock(stateDir);
    await lock.release();
    await rm(stateDir, { recursive: true, force: true }).catch(() => undefined);
    log('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0, 'SIGINT'));
  process.on('SIGTERM', () => void shutdown(0, 'SIGTERM'));
  process.on('SIGHUP', () => void shutdown(0, 'SIGHUP'));
  process.on('uncaughtException', (err) => {
    console.error(`[playground] unexpected error: ${err.stack ?? err.message}`);
    void shutdown(1, 'error');
  });
  process.on('unhandledRejection', (err) => {
    console.error(`[playground] unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void shutdown(1, 'error');
  });

  const env: (readonly [string, string])[] = [['TIDEMARK_PLAYGROUND_PID', String(process.pid)]];
  const hints: string[] = [];
  try {
    for (const component of components) {
      if (stopping) return;
      log(`starting ${component.name}`);
      const ctx = { stateDir, log, env: new Map(env), signal: abort.signal };
      const start = component.start(ctx).then((rc) => {
        running.push(rc);
        return rc;
      });
      starting = start;
      let rc: RunningComponent;
      try {
        rc = await start;
      } catch (err) {
        if (stopping) return;
        console.error(`tidemark playground: ${component.name} failed to start: ${errorText(err)}`);
        await shutdown(1, 'start-up failed');
        return;
      }
      starting = undefined;
      env.push(...rc.env);
      hints.push(...rc.hints);
    }
    if (stopping) return;

    // Last, and atomically: whoever sees the file may use everything in it.
    await writeFileAtomic(envFile, renderEnvFile(env));
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      [
        '',
        `Tidemark playground is up (${seconds}s). In another shell, from ${process.cwd()}:`,
        '',
        `  . ${display(envFile)}`,
        ...hints.map((h) => `  ${h}`),
        '',
        `The env file sets ${env.map(([name]) => name).join(', ')}.`,
        'Press Ctrl-C to stop; everything the playground started is stopped and its files removed.',
        '',
      ].join('\n'),
    );
  } catch (err) {
    console.error(`tidemark playground: ${errorText(err)}`);
    await shutdown(1, 'error');
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A path relative to the current directory when it lies below it. */
function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') ? path : rel;
}

async function removeStateExceptLock(stateDir: string): Promise<void> {
  const entries = await readdir(stateDir).catch(() => [] as string[]);
  await Promise.all(
    entries.filter((e) => e !== LOCK).map((e) => rm(join(stateDir, e), { recursive: true, force: true })),
  );
}

/**
 * Processes of a crashed playground whose command line points into our state directory (etcd's --data-dir,
 * kube-apiserver's certificates). Normally the watchdog of src/localcluster already killed them.
 */
function killLeftovers(stateDir: string): void {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return; // no /proc: nothing we can find
  }
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(`${stateDir}/`)) {
        log(`killing leftover process ${pid}`);
        process.kill(Number(pid), 'SIGKILL');
      }
    } catch {
      // gone or not ours to read
    }
  }
}

await main().catch((err: unknown) => {
  console.error(`tidemark playground: ${errorText(err)}`);
  process.exit(1);
});
