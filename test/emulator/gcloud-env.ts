// The environment that points `gcloud storage` at the emulator, apart from clients.ts (which needs vitest) so that the
// benchmarks (bench/gc-1m) use the same one.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningEmulator } from '../../src/emulator/index.js';

/**
 * Environment for `gcloud storage` against the emulator (design §3): its own config dir, a token file, the endpoint
 * override, the project and a metadata root that answers the numeric project id.
 */
export function gcloudEnv(emu: Pick<RunningEmulator, 'url' | 'projectId'>, token: string): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-gcloud-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token);
  const host = new URL(emu.url).host;
  return {
    PATH: process.env.PATH,
    HOME: dir,
    CLOUDSDK_CONFIG: join(dir, 'config'),
    CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: tokenFile,
    CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE: `${emu.url}/storage/v1/`,
    CLOUDSDK_CORE_PROJECT: emu.projectId,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    GCE_METADATA_ROOT: host,
    GCE_METADATA_HOST: host,
  };
}
