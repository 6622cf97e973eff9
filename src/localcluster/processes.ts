import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

/** A server process started in its own process group, its output going to a log file. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** The last lines of its log, for error messages. */
  logTail(lines?: number): string;
  /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Sends `signal` to the whole group at once (e.g. SIGKILL for a crash); resolves once the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface StartProcessOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function startProcess(options: StartProcessOptions): ManagedProcess {
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', fd, fd],
      // Own process group: stop() signals the group, so anything the server forks goes too.
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      done = true;
      appendNote(options.logFile, `cannot start ${options.command}: ${err.message}`);
      resolve({ code: null, signal: null });
    });
  });
  const pid = child.pid ?? -1;
  if (pid > 0) guard(pid);
  const logTail = (lines = 30) => {
    try {
      return readFileSync(options.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  return {
    name: options.name,
    pid,
    logFile: options.logFile,
    exited,
    hasExited: () => done,
    logTail,
    async stop(graceMs = 10_000) {
      if (pid <= 0) return;
      if (!done) {
        killGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // The leader is gone; anything left in its group goes now.
      killGroup(pid, 'SIGKILL');
      unguard(pid);
    },
    async kill(signal) {
      if (pid <= 0) return;
      if (!done) killGroup(pid, signal);
      await exited;
      killGroup(pid, 'SIGKILL');
      unguard(pid);
    },
  };
}

function appendNote(file: string, note: string): void {
  try {
    appendFileSync(file, `${note}\n`);
  } catch {
    // The note only adds detail to an error that is reported anyway (the process "exited").
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

// ---- Orphan protection -------------------------------------------------------------------------------------
// 1. On a normal or error exit of this Node process ('exit' event) every group still running is killed.
// 2. A tiny watchdog process holds a pipe from us; when we die in any way (even SIGKILL) the pipe closes and the
//    watchdog kills the groups it was told about.

const guarded = new Set<number>();
let watchdog: ChildProcess | undefined;
let exitHookInstalled = false;

const WATCHDOG = `
const groups = new Set();
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  const lines = buf.split('\\n');
  buf = lines.pop();
  for (const l of lines) {
    const pid = Number(l.slice(1));
    if (l[0] === '+') groups.add(pid); else groups.delete(pid);
  }
});
const killAll = (sig) => { for (const p of groups) { try { process.kill(-p, sig); } catch {} } };
process.stdin.on('close', () => {
  killAll('SIGTERM');
  setTimeout(() => { killAll('SIGKILL'); process.exit(0); }, 3000);
});
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
`;

function tellWatchdog(line: string): void {
  if (!watchdog || watchdog.exitCode !== null) {
    watchdog = spawn(process.execPath, ['-e', WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    watchdog.on('error', () => undefined);
    watchdog.stdin?.on('error', () => undefined);
    watchdog.unref();
    (watchdog.stdin as unknown as Socket | null)?.unref?.();
    for (const pid of guarded) watchdog.stdin?.write(`+${pid}\n`);
  }
  watchdog.stdin?.write(`${line}\n`);
}

function guard(pid: number): void {
  guarded.add(pid);
  tellWatchdog(`+${pid}`);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of guarded) {
        try {
          process.kill(-p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      watchdog?.kill('SIGKILL');
    });
  }
}

function unguard(pid: number): void {
  guarded.delete(pid);
  if (watchdog && watchdog.exitCode === null) {
    watchdog.stdin?.write(`-${pid}\n`);
    if (guarded.size === 0) {
      watchdog.stdin?.end();
      watchdog.kill('SIGKILL');
      watchdog = undefined;
    }
  }
}
