// Runs a real etcd + kube-apiserver on this machine, for the integration tests and the playground.
export { type Binaries, type EnsureBinariesOptions, ensureBinaries } from './binaries.js';
export { type LocalCluster, type StartLocalClusterOptions, startLocalCluster } from './cluster.js';
export { projectCrdFiles } from './crd-files.js';
export { installCrds, loadCrds } from './crds.js';
export { type Log, repoRoot, sparkCrdsDir } from './paths.js';
export { freePorts, isPortFree } from './ports.js';
