// `npx tidemark …` as a process: bin/tidemark.js runs the compiled CLI in dist/ (npm install builds it);
// ensureCliBuilt() rebuilds it first when the sources are newer, so a test never runs stale code.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
export const repoRoot = join(import.meta.dirname, '..', '..');
export const cliBin = join(repoRoot, 'bin', 'tidemark.js');

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

/** Rebuilds dist/ (under a lock shared with other test files) when any source is newer than its output. */
export async function ensureCliBuilt(): Promise<void> {
  const built = join(repoRoot, 'dist', 'cli', 'main.js');
  if (existsSync(built) && newest(join(repoRoot, 'dist')) >= newest(join(repoRoot, 'src'))) return;
  await execFileAsync('flock', ['/tmp/tidemark-build.lock', 'npx', 'tsc', '-p', 'tsconfig.build.json'], {
    cwd: repoRoot,
  }).catch((err: { stdout?: string }) => {
    // tsc still emits when another part of the tree has type errors; only a missing output is fatal.
    if (!existsSync(built)) throw new Error(`build failed: ${err.stdout ?? String(err)}`);
  });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tidemark ...args` to its end. */
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
