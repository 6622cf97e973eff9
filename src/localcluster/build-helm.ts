// `node dist/localcluster/build-helm.js`: builds (or finds) the pinned helm binary and prints its path last.
import { ensureHelm } from './helm.js';

try {
  console.log(await ensureHelm({ log: (m) => console.error(m) }));
} catch (err) {
  console.error(`build-helm: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
