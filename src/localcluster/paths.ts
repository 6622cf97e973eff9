import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One line of human-readable progress (the harness and the playground print these). */
export type Log = (message: string) => void;

/**
 * The repository root: the nearest ancestor of this module that holds test/envtest/go.mod.
 * Works both from src/localcluster (vitest) and from dist/localcluster (compiled).
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'test', 'envtest', 'go.mod')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find the Tidemark repository root above ${fileURLToPath(import.meta.url)}`);
    }
    dir = parent;
  }
}

/** The Go module that builds kube-apiserver, kubectl and (in ./etcd) etcd. */
export function envtestModuleDir(root = repoRoot()): string {
  return join(root, 'test', 'envtest');
}

/** The Spark Operator CRDs vendored in test/fixtures, unless TIDEMARK_SPARK_CRDS_DIR says otherwise. */
export function sparkCrdsDir(root = repoRoot()): string {
  const override = process.env.TIDEMARK_SPARK_CRDS_DIR;
  if (override) return resolve(override);
  return resolve(root, 'test', 'fixtures', 'spark-operator-v2.5.2');
}
