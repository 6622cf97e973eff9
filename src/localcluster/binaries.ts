import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { delimiter, join, relative, resolve } from 'node:path';
import { envtestModuleDir, type Log } from './paths.js';

/** Where the binaries a local cluster runs come from. */
export interface Binaries {
  dir: string;
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
  /** The Kubernetes release the binaries were built from, or undefined for binaries we did not build. */
  kubernetesVersion: string | undefined;
  source: 'env' | 'cache' | 'built';
}

export interface EnsureBinariesOptions {
  log: Log;
  /** Defaults to ~/.cache/tidemark/envtest (or $XDG_CACHE_HOME/tidemark/envtest). */
  cacheRoot?: string;
  /** The Go module to build; defaults to the repository's test/envtest. */
  moduleDir?: string;
  /** Aborting kills a running build (its temporary directory is removed). */
  signal?: AbortSignal;
}

const ASSET_VARS = ['TIDEMARK_ENVTEST_ASSETS', 'KUBEBUILDER_ASSETS'] as const;

/**
 * Finds kube-apiserver, etcd and kubectl: from $TIDEMARK_ENVTEST_ASSETS / $KUBEBUILDER_ASSETS when set, else from
 * the cache (~/.cache/tidemark/envtest/<k8s version>-<hash of the Go module>/), building them there first when
 * missing. The build goes to a temporary directory that is renamed into place, under a lock, so two concurrent
 * callers build once and a crash never leaves a half-filled cache entry.
 */
export async function ensureBinaries(options: EnsureBinariesOptions): Promise<Binaries> {
  const { log } = options;
  for (const name of ASSET_VARS) {
    const value = process.env[name];
    if (value) return fromAssetsDir(name, value, log);
  }
  const moduleDir = options.moduleDir ?? envtestModuleDir();
  const version = kubernetesVersionOf(moduleDir);
  const cacheRoot = options.cacheRoot ?? defaultCacheRoot();
  const entry = `${version}-${moduleHash(moduleDir)}`;
  const dir = join(cacheRoot, entry);
  const found = (source: 'cache' | 'built'): Binaries => ({
    dir,
    kubeApiserver: join(dir, 'kube-apiserver'),
    etcd: join(dir, 'etcd'),
    kubectl: join(dir, 'kubectl'),
    kubernetesVersion: version,
    source,
  });
  if (isComplete(dir)) {
    log(`envtest binaries: using cached ${dir}`);
    return found('cache');
  }
  await mkdir(cacheRoot, { recursive: true });
  const release = await acquireLock(join(cacheRoot, `${entry}.lock`), log);
  try {
    if (isComplete(dir)) {
      log(`envtest binaries: built by another process, using ${dir}`);
      return found('cache');
    }
    await build(moduleDir, version, cacheRoot, dir, log, options.signal);
    return found('built');
  } finally {
    await release();
  }
}

function fromAssetsDir(variable: string, value: string, log: Log): Binaries {
  const dir = resolve(value);
  for (const name of ['kube-apiserver', 'etcd']) {
    if (!isExecutable(join(dir, name))) {
      throw new Error(`${variable}=${value}: no executable ${name} in ${dir}`);
    }
  }
  let kubectl = join(dir, 'kubectl');
  if (!isExecutable(kubectl)) {
    const onPath = findOnPath('kubectl');
    if (!onPath) throw new Error(`${variable}=${value}: no kubectl in ${dir} and none on PATH`);
    log(`envtest binaries: ${dir} has no kubectl, using ${onPath}`);
    kubectl = onPath;
  }
  log(`envtest binaries: using ${dir} (from ${variable})`);
  return {
    dir,
    kubeApiserver: join(dir, 'kube-apiserver'),
    etcd: join(dir, 'etcd'),
    kubectl,
    kubernetesVersion: undefined,
    source: 'env',
  };
}

export function defaultCacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'tidemark', 'envtest');
}

/** The k8s.io/kubernetes version the module requires, e.g. v1.37.2. */
export function kubernetesVersionOf(moduleDir: string): string {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const match = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+\S*)/m.exec(goMod);
  if (!match?.[1]) throw new Error(`${moduleDir}/go.mod does not require k8s.io/kubernetes`);
  return match[1];
}

/**
 * A short hash over every go.mod, go.sum and .go file of the module (paths and contents), so any change to what
 * is built gives a new cache entry.
 */
export function moduleHash(moduleDir: string): string {
  const hash = createHash('sha256');
  for (const file of moduleFiles(moduleDir)) {
    hash.update(relative(moduleDir, file));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  hash.update(ldflags('v0.0.0'));
  return hash.digest('hex').slice(0, 12);
}

function moduleFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...moduleFiles(path));
    else if (name === 'go.mod' || name === 'go.sum' || name.endsWith('.go')) out.push(path);
  }
  return out;
}

/** -X stamps so that `kube-apiserver --version`, `/version` and `kubectl version` tell the truth. */
export function ldflags(version: string): string {
  const match = /^v(\d+)\.(\d+)/.exec(version);
  const [major, minor] = match ? [match[1], match[2]] : ['0', '0'];
  const stamps = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ]);
  return ['-s', '-w', ...stamps].join(' ');
}

const BINARIES = ['kube-apiserver', 'etcd', 'kubectl'] as const;

function isComplete(dir: string): boolean {
  return BINARIES.every((name) => isExecutable(join(dir, name)));
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export function goBinary(): string {
  if (process.env.GO) return process.env.GO;
  const onPath = findOnPath('go');
  if (onPath) return onPath;
  if (isExecutable('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('the Go toolchain is needed to build kube-apiserver and etcd: put `go` on PATH (or set GO)');
}

async function build(
  moduleDir: string,
  version: string,
  cacheRoot: string,
  dir: string,
  log: Log,
  signal: AbortSignal | undefined,
): Promise<void> {
  const go = goBinary();
  const tmp = join(cacheRoot, `.build-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  const started = Date.now();
  log(`envtest binaries: building Kubernetes ${version} and etcd into ${dir}`);
  log('envtest binaries: a cold build takes about 6-8 minutes on 2 cores; later runs reuse it');
  try {
    const flags = ldflags(version);
    const out = (name: string) => join(tmp, name);
    await goBuild(go, moduleDir, ['-ldflags', flags, '-o', out('kube-apiserver'), './cmd/kube-apiserver'], log, signal);
    await goBuild(go, moduleDir, ['-ldflags', flags, '-o', out('kubectl'), './cmd/kubectl'], log, signal);
    await goBuild(go, join(moduleDir, 'etcd'), ['-ldflags', '-s -w', '-o', out('etcd'), '.'], log, signal);
    await writeFile(
      join(tmp, 'BUILD-INFO'),
      `kubernetes ${version}\nmodule ${moduleDir}\nbuilt ${new Date().toISOString()} in ${seconds(started)}\n`,
    );
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  log(`envtest binaries: built in ${seconds(started)}`);
}

export function seconds(since: number): string {
  const s = Math.round((Date.now() - since) / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** `go build -v` in cwd; prints a progress line every 20 s (packages compiled so far) and fails with Go's output. */
export function goBuild(go: string, cwd: string, args: string[], log: Log, signal?: AbortSignal): Promise<void> {
  const target = args[args.length - 1] === '.' ? 'etcd' : (args[args.length - 1] ?? '').replace('./cmd/', '');
  const started = Date.now();
  log(`envtest binaries: go build ${target} ...`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(go, ['build', '-v', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], signal });
    let packages = 0;
    const tail: string[] = [];
    let partial = '';
    const onData = (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (/^[\w.-]+(\/[\w.~+-]+)*$/.test(line.trim())) packages++;
        tail.push(line);
        if (tail.length > 60) tail.shift();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setInterval(() => {
      log(`envtest binaries: building ${target}: ${packages} packages compiled, ${seconds(started)} elapsed`);
    }, 20_000);
    child.on('error', (err) => {
      clearInterval(timer);
      reject(
        err.name === 'AbortError'
          ? new Error(`go build ${target} aborted`)
          : new Error(`cannot run ${go}: ${err.message}`),
      );
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      if (code === 0) {
        log(`envtest binaries: ${target} done (${packages} packages compiled, ${seconds(started)})`);
        resolvePromise();
        return;
      }
      if (partial) tail.push(partial);
      const why = signal ? `killed by ${signal}` : `exit code ${code}`;
      reject(new Error(`go build ${target} in ${cwd} failed (${why}):\n${tail.join('\n')}`));
    });
  });
}

/**
 * A lock directory (mkdir is atomic) holding the owner's pid. A lock whose owner is gone is broken and taken over.
 */
export async function acquireLock(path: string, log: Log, label = 'envtest binaries'): Promise<() => Promise<void>> {
  let lastNotice = 0;
  for (;;) {
    try {
      await mkdir(path);
      await writeFile(join(path, 'owner'), `${process.pid} ${hostname()}\n`);
      return () => rm(path, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readFile(join(path, 'owner'), 'utf8').catch(() => undefined);
    const pid = owner ? Number.parseInt(owner, 10) : Number.NaN;
    const sameHost = owner?.trim().split(' ')[1] === hostname();
    if (owner !== undefined && sameHost && Number.isInteger(pid) && !isAlive(pid)) {
      log(`${label}: removing stale build lock of pid ${pid}`);
      await rm(path, { recursive: true, force: true });
      continue;
    }
    if (owner === undefined && existsSync(path)) {
      // Just created by another process that has not written its pid yet, or left empty by a crash
      // between mkdir and write: give it a moment, then treat an old empty lock as stale.
      const age = Date.now() - statSync(path).mtimeMs;
      if (age > 10_000) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
    }
    if (Date.now() - lastNotice > 30_000) {
      log(`${label}: waiting for the build of another process (${owner?.trim() ?? 'starting'}) ...`);
      lastNotice = Date.now();
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
