import type { TestProject } from 'vitest/node';
import { ensureBinaries } from '../../src/localcluster/binaries.js';
import { startLocalCluster } from '../../src/localcluster/cluster.js';
import { projectCrdFiles } from '../../src/localcluster/crd-files.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the admin kubeconfig of the shared test cluster. */
    kubeconfig: string;
    /** Path of the kubectl built with the cluster (same Kubernetes release). */
    kubectl: string;
    /** kube-apiserver's gitVersion, e.g. v1.37.2. */
    kubeVersion: string;
  }
}

const log = (message: string) => console.log(`[test cluster] ${message}`);

/**
 * Starts one real etcd + kube-apiserver for the whole integration project, with Tidemark's and the Spark
 * Operator's CRDs installed and Established, and stops it when the run ends.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binaries = await ensureBinaries({ log });
  const crds = projectCrdFiles();
  if (crds.tidemark.length === 0) log('no Tidemark CRDs in crds/ yet; installing only the Spark Operator CRDs');
  const cluster = await startLocalCluster({ crdFiles: [...crds.tidemark, ...crds.spark], log, binaries });
  log(`kube-apiserver ${cluster.version} (etcd ${cluster.etcdVersion}) at ${cluster.server}`);
  log(`kubeconfig ${cluster.kubeconfigPath}`);
  project.provide('kubeconfig', cluster.kubeconfigPath);
  project.provide('kubectl', cluster.kubectl);
  project.provide('kubeVersion', cluster.version);
  return async () => {
    await cluster.stop();
    log('stopped');
  };
}
