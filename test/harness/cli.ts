// `npx tidemark …` as a process in tests: bin/tidemark.js runs the compiled CLI in dist/ (npm install builds it).
// ensureCliBuilt()/ensureBuilt() rebuild dist/ first when the sources are newer (under a lock, so parallel files
// build once), so a test never runs stale code.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
export const repoRoot = join(import.meta.dirname, '..', '..');
export const cliBin = join(repoRoot, 'bin', 'tidemark.js');
export const ROOT = repoRoot;
export const BIN = cliBin;

/** The newest modification time under a directory (0 when it does not exist). */
function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

async function build(out: string): Promise<void> {
  await execFileAsync('flock', ['/tmp/tidemark-build.lock', 'npx', 'tsc', '-p', 'tsconfig.build.json'], {
    cwd: repoRoot,
  }).catch((err: { stdout?: string }) => {
    // tsc still emits when another part of the tree has type errors; only a missing output is fatal.
    if (!existsSync(out)) throw new Error(`build failed: ${err.stdout ?? String(err)}`);
  });
}

/** Rebuilds dist/ when any source is newer than its output. */
export async function ensureCliBuilt(): Promise<void> {
  const built = join(repoRoot, 'dist', 'cli', 'main.js');
  if (existsSync(built) && newest(join(repoRoot, 'dist')) >= newest(join(repoRoot, 'src'))) return;
  await build(built);
}

/** Rebuilds dist/ when `built` (relative to dist/) is missing or any of `sourceDirs` (under src/) is newer. */
export async function ensureBuilt(built: string, sourceDirs: readonly string[]): Promise<void> {
  const out = join(repoRoot, 'dist', built);
  const sources = Math.max(...sourceDirs.map((d) => newest(join(repoRoot, 'src', d))));
  const outputs = Math.min(...sourceDirs.map((d) => newest(join(repoRoot, 'dist', d))));
  if (existsSync(out) && statSync(out).mtimeMs >= sources && outputs >= sources) return;
  await build(out);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tidemark ...args` to its end (30 s at most); never throws on a non-zero exit. */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [cliBin, ...args], {
      timeout: 30_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Runs `tidemark ARGS...` to completion with `input` on stdin; never throws on a non-zero exit. */
export function tidemark(
  args: readonly string[],
  options: { input?: string | Buffer; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd: options.cwd ?? repoRoot });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
    // The child may exit before reading all of a large stdin: that is an answer, not a test failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}
