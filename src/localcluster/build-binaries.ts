// `node dist/localcluster/build-binaries.js`: builds (or finds) kube-apiserver, etcd and kubectl and prints their
// directory last, e.g. for `export TIDEMARK_ENVTEST_ASSETS=$(node dist/localcluster/build-binaries.js | tail -1)`.
import { ensureBinaries } from './binaries.js';

try {
  const binaries = await ensureBinaries({ log: (m) => console.error(m) });
  console.log(binaries.dir);
} catch (err) {
  console.error(`build-binaries: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
