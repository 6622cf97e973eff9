// Runs a client suite's program (the Go test binary, the Python runner) once against an emulator and splits its
// outcome per test, so that each test is its own vitest test with its own output.
import { spawn } from 'node:child_process';
import type { RunningEmulator } from '../../src/emulator/index.js';

export interface TestOutcome {
  status: 'pass' | 'fail' | 'skip';
  output: string;
}

export interface SuiteRun {
  exitCode: number | null;
  output: string;
  tests: Map<string, TestOutcome>;
  tookMs: number;
}

/** What a suite program needs to find the emulator. */
export function emulatorEnv(emu: RunningEmulator): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Neither suite may pick up a developer's real credentials or emulator settings.
  for (const k of ['STORAGE_EMULATOR_HOST', 'GOOGLE_APPLICATION_CREDENTIALS', 'API_ENDPOINT_OVERRIDE']) delete env[k];
  return {
    ...env,
    TIDEMARK_GCS_ENDPOINT: emu.url,
    TIDEMARK_EMULATOR_ADMIN_TOKEN: emu.adminToken,
    GOOGLE_CLOUD_PROJECT: emu.projectId,
  };
}

export function runProgram(
  cmd: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string },
): Promise<{ exitCode: number | null; output: string; tookMs: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ exitCode: code, output: Buffer.concat(chunks).toString('utf8'), tookMs: Date.now() - started }),
    );
  });
}

/** Splits `go test -v` output (tests run one after another) into per-test outcomes. */
export function parseGoTestOutput(output: string): Map<string, TestOutcome> {
  const tests = new Map<string, TestOutcome>();
  let current: { name: string; lines: string[] } | undefined;
  for (const line of output.split('\n')) {
    const run = /^=== RUN\s+(\S+)$/.exec(line);
    if (run?.[1] && !run[1].includes('/')) {
      current = { name: run[1], lines: [] };
      continue;
    }
    const end = /^--- (PASS|FAIL|SKIP): (\S+) /.exec(line);
    if (end?.[2] && current && end[2] === current.name) {
      const status = end[1] === 'PASS' ? 'pass' : end[1] === 'SKIP' ? 'skip' : 'fail';
      tests.set(current.name, { status, output: current.lines.join('\n') });
      current = undefined;
      continue;
    }
    current?.lines.push(line);
  }
  return tests;
}

/** A readable failure for a test that did not pass (or did not run). */
export function outcomeProblem(run: SuiteRun, name: string): string | undefined {
  const t = run.tests.get(name);
  if (!t) return `${name} did not run (exit code ${run.exitCode}); the program said:\n${run.output.slice(-4000)}`;
  if (t.status !== 'pass') return `${name}: ${t.status}\n${t.output}`;
  return undefined;
}
