import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { startEmulator } from '../emulator/index.js';
import type { Component } from './component.js';
import { prepareGcs } from './gcs-setup.js';

export const PLAYGROUND_PROJECT = 'tidemark-playground';
export const PLAYGROUND_PROJECT_NUMBER = '123456789012';
export const PLAYGROUND_BUCKET = 'playground-checkpoints';

/** The GCS/IAM emulator (in this process), a bucket, and the controller's service account with only its role. */
export const emulatorComponent: Component = {
  name: 'gcs-emulator',
  async start({ log }) {
    const adminToken = randomBytes(24).toString('base64url');
    const emu = await startEmulator({
      port: 0,
      adminToken,
      projectId: PLAYGROUND_PROJECT,
      projectNumber: PLAYGROUND_PROJECT_NUMBER,
      // Google's limit of about one bucket-metadata write per second per bucket.
      config: { bucketWriteLimitPerSecond: 1 },
      log: pino({ level: 'warn' }),
    });
    try {
      const gcs = await prepareGcs(emu.url, adminToken, {
        project: PLAYGROUND_PROJECT,
        projectNumber: PLAYGROUND_PROJECT_NUMBER,
        bucket: PLAYGROUND_BUCKET,
      });
      log(`GCS emulator at ${emu.url}, bucket gs://${gcs.bucket}, controller identity ${gcs.controllerServiceAccount}`);
      return {
        env: [
          ['TIDEMARK_GCS_ENDPOINT', emu.url],
          ['TIDEMARK_EMULATOR_ADMIN_TOKEN', adminToken],
          // The controller's (and `tidemark gc`'s) identity: a metadata server for its service account only.
          ['GCE_METADATA_HOST', gcs.metadataHost],
          ['GOOGLE_CLOUD_PROJECT', PLAYGROUND_PROJECT],
          ['TIDEMARK_PLAYGROUND_BUCKET', gcs.bucket],
          ['TIDEMARK_PLAYGROUND_PROJECT_NUMBER', PLAYGROUND_PROJECT_NUMBER],
          ['TIDEMARK_PLAYGROUND_POOL', `${PLAYGROUND_PROJECT}.svc.id.goog`],
        ],
        hints: [
          `the bucket: curl -s -H "Authorization: Bearer $TIDEMARK_EMULATOR_ADMIN_TOKEN" $TIDEMARK_GCS_ENDPOINT/storage/v1/b/${gcs.bucket}/o`,
        ],
        stop: () => emu.stop(),
      };
    } catch (err) {
      await emu.stop();
      throw err;
    }
  },
};
