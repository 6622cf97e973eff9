// `tidemark emulator` as a process: `node bin/tidemark.js emulator --port 0` prints a URL that answers, --help,
// bad flags give one line and a non-zero exit, SIGTERM/SIGINT stop it with exit 0.
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.js';
import { BIN as bin, ensureBuilt } from '../harness/cli.js';

const run = promisify(execFile);

// bin/tidemark.js runs the compiled CLI in dist/ (npm install builds it); rebuild it when the sources are newer.
beforeAll(() => ensureBuilt(join('cli', 'emulator.js'), ['cli', 'emulator']), 300_000);

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function startCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [bin, 'emulator', ...args], { env: { ...process.env, ...env } });
  children.push(child);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const next = async () => (await lines.next()).value as string;
  return { child, next, exited };
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('tidemark emulator', () => {
  it('prints a URL that answers and the generated admin token; SIGTERM stops it with exit 0', async () => {
    const { child, next, exited } = startCli(['--port', '0', '--log-level', 'warn']);
    const url = await next();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const tokenLine = await next();
    expect(tokenLine).toMatch(/^TIDEMARK_EMULATOR_ADMIN_TOKEN=\S{16,}$/);
    const token = tokenLine.split('=')[1] as string;
    const res = await fetch(`${url}/storage/v1/b?project=tidemark-dev`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect((await fetch(`${url}/storage/v1/b?project=tidemark-dev`)).status).toBe(401);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('takes the admin token, project, latency and write limit from flags (token also from the environment)', async () => {
    const { child, next, exited } = startCli(
      ['--port', '0', '--project', 'other-project', '--latency-ms', '1', '--bucket-write-limit', '0'],
      { TIDEMARK_EMULATOR_ADMIN_TOKEN: 'env-admin-token-1' },
    );
    const url = await next();
    const auth = { authorization: 'Bearer env-admin-token-1' };
    const config = await fetch(`${url}/_emulator/config`, { headers: auth });
    expect(await config.json()).toMatchObject({ latencyMs: 1, bucketWriteLimitPerSecond: 0 });
    const create = await fetch(`${url}/storage/v1/b?project=other-project`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'cli-bucket' }),
    });
    expect(create.status).toBe(200);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('--help describes the flags and exits 0', async () => {
    const r = await cli(['emulator', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--host', '--port', '--admin-token', '--project', '--latency-ms', '--bucket-write-limit']) {
      expect(r.stdout).toContain(flag);
    }
  });

  it.each([
    [['--bogus'], "unknown option '--bogus'"],
    [['--port', 'abc'], "'--port <n>' argument 'abc' is invalid"],
    [['--port', '70000'], 'from 0 to 65535'],
    [['--latency-ms', '-5'], '--latency-ms'],
    [['--project', 'Not_A_Project'], 'not a valid Google Cloud project id'],
    [['--log-level', 'loud'], "unknown level 'loud'"],
  ])('%j is one clear line on stderr and a non-zero exit', async (args, words) => {
    const r = await cli(['emulator', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(words);
    expect(r.stdout).toBe('');
  });

  it('a port in use is one clear line and a non-zero exit', async () => {
    const busy = await startEmulator();
    try {
      const port = new URL(busy.url).port;
      const r = await cli(['emulator', '--port', port]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('EADDRINUSE');
    } finally {
      await busy.stop();
    }
  });
});
