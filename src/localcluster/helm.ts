// The helm binary the chart tests render charts/tidemark/ with, built from its Go module the way the Kubernetes
// binaries are (./binaries.ts): test/helm/go.mod pins helm.sh/helm/v3, the binary is cached in
// ~/.cache/tidemark/helm/<version>-<hash of the module>/helm, built under a lock into a temporary directory renamed
// into place. $TIDEMARK_HELM names a helm binary to use instead.
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { acquireLock, defaultCacheRoot, goBinary, goBuild, isExecutable, moduleHash, seconds } from './binaries.js';
import { type Log, repoRoot } from './paths.js';

export const HELM_PACKAGE = 'helm.sh/helm/v3/cmd/helm';

/** test/helm: the Go module that pins Helm. */
export function helmModuleDir(root = repoRoot()): string {
  return join(root, 'test', 'helm');
}

/** The Helm version test/helm/go.mod requires, e.g. v3.22.0. */
export function helmVersionOf(moduleDir: string): string {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const match = /^\s*helm\.sh\/helm\/v3\s+(v\d+\.\d+\.\d+\S*)/m.exec(goMod);
  if (!match?.[1]) throw new Error(`${moduleDir}/go.mod does not require helm.sh/helm/v3`);
  return match[1];
}

/** The path of a helm binary, building it first when it is not cached. */
export async function ensureHelm(options: { log: Log; cacheRoot?: string; moduleDir?: string }): Promise<string> {
  const { log } = options;
  if (process.env.TIDEMARK_HELM) {
    if (!isExecutable(process.env.TIDEMARK_HELM))
      throw new Error(`TIDEMARK_HELM=${process.env.TIDEMARK_HELM} is not executable`);
    return process.env.TIDEMARK_HELM;
  }
  const moduleDir = options.moduleDir ?? helmModuleDir();
  const version = helmVersionOf(moduleDir);
  const cacheRoot = options.cacheRoot ?? join(dirname(defaultCacheRoot()), 'helm');
  const entry = `${version}-${moduleHash(moduleDir)}`;
  const binary = join(cacheRoot, entry, 'helm');
  if (isExecutable(binary)) return binary;
  await mkdir(cacheRoot, { recursive: true });
  const release = await acquireLock(join(cacheRoot, `${entry}.lock`), log);
  try {
    if (isExecutable(binary)) return binary;
    const tmp = join(cacheRoot, `.build-${process.pid}-${Date.now()}`);
    await mkdir(tmp, { recursive: true });
    const started = Date.now();
    log(`helm: building Helm ${version} into ${dirname(binary)} (cold: several minutes; later runs reuse it)`);
    try {
      const flags = `-s -w -X helm.sh/helm/v3/internal/version.version=${version}`;
      await goBuild(
        goBinary(),
        moduleDir,
        ['-trimpath', '-ldflags', flags, '-o', join(tmp, 'helm'), HELM_PACKAGE],
        log,
      );
      await rename(tmp, dirname(binary));
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    log(`helm: built in ${seconds(started)}`);
    return binary;
  } finally {
    await release();
  }
}
