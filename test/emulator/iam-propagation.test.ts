// IAM propagation (issue 8 item 9): with iamPropagationDelayMs set, a revoke takes the delay like a grant, on a
// bucket policy, a managed-folder policy (also when the folder is deleted) and the project policy, so code that
// assumes an instant revoke fails here as it would on Google. No waiting on the clock: a long delay shows that the
// access is still there, and lowering the delay (which applies at once) shows the revoke is the state that follows.
import { google, type storage_v1 } from 'googleapis';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { failure, googleStorage, mintToken, oauth, rootUrl, setConfig, useAdminEmulator } from './clients.js';

const B = 'propagation';
const HOUR = 3_600_000;
let emu: RunningEmulator;
let admin: storage_v1.Storage;
useAdminEmulator({ buckets: [B], config: { iamPropagationDelayMs: 0 } }, (s) => {
  emu = s.emu;
  admin = s.api;
});

const JOB = 'serviceAccount:job@tidemark-dev.iam.gserviceaccount.com';
let job: storage_v1.Storage;
beforeEach(async () => {
  job = googleStorage(emu, await mintToken(emu, JOB));
  await admin.objects.insert(
    { bucket: B, name: 'ckpt/ns/job/offsets/0', media: { body: 'data' } },
    { rootUrl: rootUrl(emu) },
  );
});

/** The job's read of its own object: 200 or the refusal's status. */
async function jobRead(): Promise<number> {
  try {
    await job.objects.get({ bucket: B, object: 'ckpt/ns/job/offsets/0', alt: 'media' });
    return 200;
  } catch (err) {
    return (await failure(() => Promise.reject(err))).status ?? 0;
  }
}

async function setBucketBindings(bindings: storage_v1.Schema$Policy['bindings']): Promise<void> {
  const p = (await admin.buckets.getIamPolicy({ bucket: B })).data;
  const keep = (p.bindings ?? []).filter((b) => b.role?.startsWith('roles/storage.legacy'));
  await admin.buckets.setIamPolicy({
    bucket: B,
    requestBody: { etag: p.etag, bindings: [...keep, ...(bindings ?? [])] },
  });
}

/** Grants with no delay, then sets a long one: everything after is a change made under the delay. */
async function grantedThenDelayed(grant: () => Promise<void>): Promise<void> {
  await grant();
  expect(await jobRead()).toBe(200);
  await setConfig(emu, { iamPropagationDelayMs: HOUR });
}

describe('a revoke takes the propagation delay, like a grant', () => {
  it('bucket policy: the revoked member keeps access until the delay has passed', async () => {
    await grantedThenDelayed(() => setBucketBindings([{ role: 'roles/storage.objectViewer', members: [JOB] }]));
    await setBucketBindings([]);
    // The read-back already shows the revoke...
    const back = (await admin.buckets.getIamPolicy({ bucket: B })).data;
    expect(JSON.stringify(back.bindings)).not.toContain(JOB);
    // ...but enforcement does not yet.
    expect(await jobRead()).toBe(200);
    await setConfig(emu, { iamPropagationDelayMs: 0 });
    expect(await jobRead()).toBe(403);
  });

  it('bucket policy: a new grant made under the delay is not in force yet', async () => {
    await setConfig(emu, { iamPropagationDelayMs: HOUR });
    await setBucketBindings([{ role: 'roles/storage.objectViewer', members: [JOB] }]);
    expect(await jobRead()).toBe(403);
    await setConfig(emu, { iamPropagationDelayMs: 0 });
    expect(await jobRead()).toBe(200);
  });

  it('managed-folder policy: emptied, and the folder deleted, the member keeps access until the delay has passed', async () => {
    const folder = 'ckpt/ns/job/';
    await grantedThenDelayed(async () => {
      await admin.managedFolders.insert({ bucket: B, requestBody: { name: folder } });
      await admin.managedFolders.setIamPolicy({
        bucket: B,
        managedFolder: folder,
        requestBody: { bindings: [{ role: 'roles/storage.objectUser', members: [JOB] }] },
      });
    });
    await admin.managedFolders.setIamPolicy({ bucket: B, managedFolder: folder, requestBody: { bindings: [] } });
    expect(await jobRead()).toBe(200);
    await setConfig(emu, { iamPropagationDelayMs: 0 });
    expect(await jobRead()).toBe(403);

    // Granted again (in force at once with no delay), then the folder itself deleted under the delay.
    await admin.managedFolders.setIamPolicy({
      bucket: B,
      managedFolder: folder,
      requestBody: { bindings: [{ role: 'roles/storage.objectUser', members: [JOB] }] },
    });
    expect(await jobRead()).toBe(200);
    await setConfig(emu, { iamPropagationDelayMs: HOUR });
    await admin.managedFolders.delete({ bucket: B, managedFolder: folder, allowNonEmpty: true });
    expect(await jobRead()).toBe(200);
    await setConfig(emu, { iamPropagationDelayMs: 0 });
    expect(await jobRead()).toBe(403);
  });

  it('project policy: a revoked project-level role keeps working until the delay has passed', async () => {
    const rm = google.cloudresourcemanager({ version: 'v1', auth: oauth(emu.adminToken), rootUrl: rootUrl(emu) });
    const setProject = async (bindings: { role: string; members: string[] }[]) => {
      const p = (await rm.projects.getIamPolicy({ resource: emu.projectId, requestBody: {} })).data;
      await rm.projects.setIamPolicy({ resource: emu.projectId, requestBody: { policy: { etag: p.etag, bindings } } });
    };
    await grantedThenDelayed(() => setProject([{ role: 'roles/storage.objectViewer', members: [JOB] }]));
    await setProject([]);
    expect(await jobRead()).toBe(200);
    await setConfig(emu, { iamPropagationDelayMs: 0 });
    expect(await jobRead()).toBe(403);
  });

  it('with a short delay the revoke lands by itself once the delay has passed', async () => {
    await grantedThenDelayed(() => setBucketBindings([{ role: 'roles/storage.objectViewer', members: [JOB] }]));
    await setConfig(emu, { iamPropagationDelayMs: 300 });
    const revokedAt = Date.now();
    await setBucketBindings([]);
    // Wait for the observable sign (the 403), never longer than the test's timeout.
    let status = await jobRead();
    while (status === 200) {
      await new Promise((r) => setTimeout(r, 50));
      status = await jobRead();
    }
    expect(status).toBe(403);
    expect(Date.now() - revokedAt).toBeGreaterThanOrEqual(300);
  });
});
