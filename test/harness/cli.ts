// Running `bin/tidemark.js` as a process in tests. It runs the compiled CLI in dist/ (npm install builds it);
// ensureBuilt rebuilds dist/ when the given source folders are newer (under a lock, so parallel files build once).
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'tidemark.js');

/** The newest modification time under a directory. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Rebuilds dist/ when `built` (relative to dist/) is missing or any of `sourceDirs` (under src/) is newer. */
export async function ensureBuilt(built: string, sourceDirs: readonly string[]): Promise<void> {
  const out = join(ROOT, 'dist', built);
  const sources = Math.max(...sourceDirs.map((d) => newest(join(ROOT, 'src', d))));
  const outputs = Math.min(
    ...sourceDirs.map((d) => (existsSync(join(ROOT, 'dist', d)) ? newest(join(ROOT, 'dist', d)) : 0)),
  );
  if (existsSync(out) && statSync(out).mtimeMs >= sources && outputs >= sources) return;
  await execFileP('flock', ['/tmp/tidemark-build.lock', 'npx', 'tsc', '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
  }).catch((err: { stdout?: string }) => {
    // tsc still emits when another part of the tree has type errors; only a missing output is fatal.
    if (!existsSync(out)) throw new Error(`build failed: ${err.stdout ?? String(err)}`);
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tidemark ARGS...` to completion with `input` on stdin; never throws on a non-zero exit. */
export function tidemark(
  args: readonly string[],
  options: { input?: string | Buffer; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT });
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
