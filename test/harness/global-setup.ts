import { availableParallelism } from 'node:os';
import type { TestProject } from 'vitest/node';
import { ensureBinaries } from '../../src/localcluster/binaries.js';
import { type LocalCluster, startLocalCluster } from '../../src/localcluster/cluster.js';
import { projectCrdFiles } from '../../src/localcluster/crd-files.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * Admin kubeconfig paths of the test clusters, one per worker the test pool may run at once; a file uses the
     * one of its worker (`testKubeconfigPath()` in test/harness/kube.ts), never another.
     */
    kubeconfigs: string[];
    /** Path of the kubectl built with the clusters (same Kubernetes release). */
    kubectl: string;
    /** kube-apiserver's gitVersion, e.g. v1.37.2. */
    kubeVersion: string;
  }
}

const log = (message: string) => console.log(`[test cluster] ${message}`);

/**
 * How many test files of this project may run at once: the forks pool's worker count, worked out as vitest 3 does
 * (createForksPool: poolOptions.forks.maxForks, else maxWorkers, else one less than the cores; 1 for singleFork or
 * without file parallelism). Its workers have the ids 1..N (VITEST_POOL_ID), distinct among those running.
 */
export function concurrentFiles(project: TestProject): number {
  const own = project.config.poolOptions?.forks;
  const root = project.globalConfig;
  if (own?.singleFork || root.poolOptions?.forks?.singleFork || !root.fileParallelism) return 1;
  const cores = availableParallelism();
  const fallback = root.watch ? Math.max(Math.floor(cores / 2), 1) : Math.max(cores - 1, 1);
  return Math.max(1, root.poolOptions?.forks?.maxForks ?? root.maxWorkers ?? fallback);
}

/**
 * Starts one real etcd + kube-apiserver per worker of the integration project, each with Tidemark's and the Spark
 * Operator's CRDs installed and Established, and stops them when the run ends. Every controller a file starts sees
 * its whole cluster, so two files running at once must never share one: worker N uses cluster N.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binaries = await ensureBinaries({ log });
  const crds = projectCrdFiles();
  if (crds.tidemark.length === 0) log('no Tidemark CRDs in crds/ yet; installing only the Spark Operator CRDs');
  const count = concurrentFiles(project);
  const started = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      startLocalCluster({
        crdFiles: [...crds.tidemark, ...crds.spark],
        log: (m) => log(`${i + 1}: ${m}`),
        binaries,
      }),
    ),
  );
  const clusters = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => {
    await Promise.all(clusters.map((c) => c.stop()));
    log(`stopped ${clusters.length}`);
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  clusters.forEach((c: LocalCluster, i) => {
    log(`${i + 1}: kube-apiserver ${c.version} (etcd ${c.etcdVersion}) at ${c.server}, kubeconfig ${c.kubeconfigPath}`);
  });
  const first = clusters[0] as LocalCluster;
  project.provide(
    'kubeconfigs',
    clusters.map((c) => c.kubeconfigPath),
  );
  project.provide('kubectl', first.kubectl);
  project.provide('kubeVersion', first.version);
  return stop;
}
