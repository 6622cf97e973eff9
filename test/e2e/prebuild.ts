// `npm run e2e:tools` (.ci/run's "e2e tools" phase): installs the end-to-end test's pinned PySpark and GCS connector
// into ~/.cache/tidemark/e2e/ before the tests run, so that the test downloads nothing and its cold install shows as
// its own time.
import { ensureE2eTools } from './tools.js';

const started = Date.now();
try {
  const tools = await ensureE2eTools((m) => console.error(m));
  const took = Math.round((Date.now() - started) / 1000);
  console.log(`e2e tools: ${tools.built ? 'installed' : 'cached'} in ${tools.dir} (${took}s)`);
} catch (err) {
  console.error(`e2e tools: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
