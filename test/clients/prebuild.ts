// `npx vite-node test/clients/prebuild.ts`: prepares the Python and Go client suites' cached environments before
// the tests run (.ci/run's "client suites" phase), so their cold install shows as its own time; the suites would
// otherwise prepare them in their beforeAll.
import { ensureGoClientTests, ensurePythonClients } from './toolchain.js';

const log = (m: string) => console.error(m);
let failed = false;
for (const [name, prepare] of [
  ['python (google-cloud-storage)', ensurePythonClients],
  ['go (cloud.google.com/go/storage)', ensureGoClientTests],
] as const) {
  const started = Date.now();
  try {
    const p = await prepare(log);
    console.log(`${name}: ${p.source} ${p.path} (${Math.round((Date.now() - started) / 1000)}s)`);
  } catch (err) {
    failed = true;
    console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
process.exit(failed ? 1 : 0);
