// The Python and Go client suites' own setup: a virtualenv with the pinned google-cloud-storage
// (test/clients/python/requirements.txt) and a Go test binary built from test/clients/go, each cached under
// ~/.cache/tidemark/ in a directory keyed by a hash of what it is made from, built under a lock into a temporary
// directory that is renamed into place (the pattern of src/localcluster/binaries.ts). A fresh machine needs only
// python3 (3.9+) with venv, the Go toolchain, PyPI and the Go module proxy.
//
// Overrides: TIDEMARK_PYCLIENTS_VENV (a virtualenv that already has the requirements), TIDEMARK_GOCLIENTS_TEST
// (a built test binary), TIDEMARK_PYTHON (the interpreter to make the virtualenv with), GO (the go binary).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock, findOnPath, goBinary, isExecutable } from '../../src/localcluster/binaries.js';

export type Log = (message: string) => void;

const HERE = dirname(fileURLToPath(import.meta.url));
export const PYTHON_DIR = join(HERE, 'python');
export const GO_DIR = join(HERE, 'go');

export interface Prepared {
  /** The interpreter (Python) or the test binary (Go). */
  path: string;
  source: 'env' | 'cache' | 'built';
  /** How long preparing took, in ms (0 when it came from the cache or the environment). */
  tookMs: number;
}

export function cacheRoot(kind: string): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'tidemark', kind);
}

/** A short hash over named inputs (file contents and strings). */
export function hashOf(parts: [string, string | Buffer][]): string {
  const h = createHash('sha256');
  for (const [name, value] of parts) h.update(name).update('\0').update(value).update('\0');
  return h.digest('hex').slice(0, 12);
}

/** Runs a command, failing with the tail of its output. */
export function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const keep = (chunk: Buffer) => {
      tail.push(chunk.toString('utf8'));
      if (tail.length > 80) tail.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${tail.join('')}`));
    });
  });
}

/** Builds `entry` in cacheRoot(kind) with `build(tmpDir)` once, under a lock; returns whether it was built now. */
export async function cached(
  kind: string,
  entry: string,
  complete: (dir: string) => boolean,
  build: (tmp: string) => Promise<void>,
  log: Log,
): Promise<{ dir: string; built: boolean }> {
  const root = cacheRoot(kind);
  const dir = join(root, entry);
  if (complete(dir)) return { dir, built: false };
  await mkdir(root, { recursive: true });
  const release = await acquireLock(join(root, `${entry}.lock`), log, kind);
  try {
    if (complete(dir)) return { dir, built: false };
    const tmp = join(root, `.build-${process.pid}-${Date.now()}`);
    await rm(tmp, { recursive: true, force: true });
    try {
      await build(tmp);
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    return { dir, built: true };
  } finally {
    await release();
  }
}

export function pythonInterpreter(who = 'the Python client suite'): string {
  if (process.env.TIDEMARK_PYTHON) return process.env.TIDEMARK_PYTHON;
  const found = findOnPath('python3');
  if (!found) throw new Error(`${who} needs python3 (3.9+) on PATH (or TIDEMARK_PYTHON)`);
  return found;
}

/**
 * A virtualenv with exactly test/clients/python/requirements.txt, at ~/.cache/tidemark/pyclients/<hash>/ (the hash
 * covers the requirements and the interpreter's version). Returns its python.
 */
export async function ensurePythonClients(log: Log): Promise<Prepared> {
  const fromEnv = process.env.TIDEMARK_PYCLIENTS_VENV;
  if (fromEnv) {
    const python = join(resolve(fromEnv), 'bin', 'python');
    if (!isExecutable(python)) throw new Error(`TIDEMARK_PYCLIENTS_VENV=${fromEnv}: no executable ${python}`);
    return { path: python, source: 'env', tookMs: 0 };
  }
  const interpreter = pythonInterpreter();
  const requirements = readFileSync(join(PYTHON_DIR, 'requirements.txt'));
  const version = await captureVersion(interpreter);
  const entry = hashOf([
    ['requirements.txt', requirements],
    ['python', version],
  ]);
  const started = Date.now();
  const ready = (dir: string) => isExecutable(join(dir, 'bin', 'python')) && existsSync(join(dir, 'READY'));
  const { dir, built } = await cached(
    'pyclients',
    entry,
    ready,
    async (tmp) => {
      log(`pyclients: creating a virtualenv with ${interpreter} (${version}) and installing the pinned clients`);
      await run(interpreter, ['-m', 'venv', tmp], PYTHON_DIR);
      // `python -m pip` (not bin/pip): the venv is renamed into place afterwards, which breaks script shebangs.
      const pip = [join(tmp, 'bin', 'python'), '-m', 'pip'];
      const quiet = ['--disable-pip-version-check', '--no-input', '--quiet'];
      await run(
        pip[0] as string,
        [...pip.slice(1), 'install', ...quiet, '--require-virtualenv', '-r', 'requirements.txt'],
        PYTHON_DIR,
        {
          ...process.env,
          PIP_REQUIRE_VIRTUALENV: '1',
        },
      );
      await writeFile(join(tmp, 'READY'), `${new Date().toISOString()}\n`);
    },
    log,
  );
  return {
    path: join(dir, 'bin', 'python'),
    source: built ? 'built' : 'cache',
    tookMs: built ? Date.now() - started : 0,
  };
}

export function captureVersion(python: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.on('error', (err) => reject(new Error(`cannot run ${python}: ${err.message}`)));
    child.on('close', (code) => {
      const v = out.trim();
      if (code !== 0 || !/^3\.(\d+)\./.test(v)) reject(new Error(`${python} is not a Python 3 interpreter (${v})`));
      else if (Number(/^3\.(\d+)/.exec(v)?.[1]) < 9) reject(new Error(`${python} is Python ${v}; 3.9+ is needed`));
      else resolvePromise(v);
    });
  });
}

/**
 * The Go client suite as a test binary (`go test -c` of test/clients/go), at ~/.cache/tidemark/goclients/<hash>/
 * (the hash covers go.mod, go.sum and every .go file). Modules come from the Go module proxy on a cold build.
 */
export async function ensureGoClientTests(log: Log): Promise<Prepared> {
  const fromEnv = process.env.TIDEMARK_GOCLIENTS_TEST;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TIDEMARK_GOCLIENTS_TEST=${fromEnv} is not an executable`);
    return { path: resolve(fromEnv), source: 'env', tookMs: 0 };
  }
  const files = readdirSync(GO_DIR)
    .filter((n) => n === 'go.mod' || n === 'go.sum' || n.endsWith('.go'))
    .sort();
  const entry = hashOf(files.map((n) => [n, readFileSync(join(GO_DIR, n))]));
  const started = Date.now();
  const name = 'clients.test';
  const { dir, built } = await cached(
    'goclients',
    entry,
    (d) => isExecutable(join(d, name)),
    async (tmp) => {
      const go = goBinary();
      log(`goclients: go test -c in ${GO_DIR} (a cold build downloads cloud.google.com/go/storage and compiles it)`);
      await mkdir(tmp, { recursive: true });
      await run(go, ['test', '-c', '-o', join(tmp, name), '.'], GO_DIR);
    },
    log,
  );
  return { path: join(dir, name), source: built ? 'built' : 'cache', tookMs: built ? Date.now() - started : 0 };
}
