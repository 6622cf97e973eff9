// The e2e project's setup: installs the pinned PySpark and GCS connector into ~/.cache/tidemark/e2e/ once (as the
// client suites' virtualenv and the Kubernetes binaries are built once), so that `npm test` works on a fresh machine.
// The test itself never downloads; `npm run e2e:tools` (CI's "e2e tools" phase) does the same ahead of time.
import { ensureE2eTools } from './tools.js';

export default async function setup(): Promise<void> {
  try {
    const tools = await ensureE2eTools((m) => console.log(`[e2e tools] ${m}`));
    if (tools.built) console.log(`[e2e tools] installed in ${tools.dir}`);
  } catch (err) {
    // The test then fails with locateE2eTools' message saying what is missing; the setup's reason is printed here.
    console.error(`[e2e tools] could not install: ${err instanceof Error ? err.message : String(err)}`);
  }
}
