import { join } from 'node:path';
import { ensureBinaries } from '../localcluster/binaries.js';
import { startLocalCluster } from '../localcluster/cluster.js';
import { projectCrdFiles } from '../localcluster/crd-files.js';
import type { Component } from './component.js';

/** etcd + kube-apiserver with Tidemark's and the Spark Operator's CRDs. Contributes KUBECONFIG. */
export const clusterComponent: Component = {
  name: 'kubernetes',
  async start({ stateDir, log, signal }) {
    const binaries = await ensureBinaries({ log, signal });
    const crds = projectCrdFiles();
    if (crds.tidemark.length === 0) log('warning: no CRD files in crds/; starting without Tidemark CRDs');
    const cluster = await startLocalCluster({
      crdFiles: [...crds.tidemark, ...crds.spark],
      log,
      binaries,
      dataDir: join(stateDir, 'cluster'),
    });
    return {
      env: [
        ['KUBECONFIG', cluster.kubeconfigPath],
        ['TIDEMARK_KUBECTL', cluster.kubectl],
      ],
      hints: [
        'kubectl get checkpointpolicies',
        'kubectl get crds',
        'kubectl get sparkapplications -A',
        `kubectl of the same release (${cluster.version}): "$TIDEMARK_KUBECTL" get ckpt -A`,
      ],
      stop: () => cluster.stop(),
    };
  },
};
