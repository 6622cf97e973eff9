// Managed folders and their IAM through the real googleapis client (the only Node client that has them).
import type { storage_v1 } from 'googleapis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createBucket, failure, googleStorage, mintToken, rootUrl, start } from './clients.js';

const JOB =
  'principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tidemark-dev.svc.id.goog/subject/ns/team-a/sa/spark';
const READER = 'serviceAccount:reader@tidemark-dev.iam.gserviceaccount.com';
let emu: RunningEmulator;
let admin: storage_v1.Storage;
let job: storage_v1.Storage;
let reader: storage_v1.Storage;
let bucket: string;
let n = 0;

beforeAll(async () => {
  emu = await start();
  admin = googleStorage(emu, emu.adminToken);
  job = googleStorage(emu, await mintToken(emu, JOB));
  reader = googleStorage(emu, await mintToken(emu, READER));
});

afterAll(async () => {
  await emu?.stop();
});

beforeEach(async () => {
  bucket = `mf-${++n}`;
  await createBucket(emu, bucket);
});

const put = (gs: storage_v1.Storage, name: string) =>
  gs.objects.insert({ bucket, name, media: { body: name } }, { rootUrl: rootUrl(emu) });

async function setFolderPolicy(folder: string, bindings: storage_v1.Schema$Policy['bindings']) {
  const current = (await admin.managedFolders.getIamPolicy({ bucket, managedFolder: folder })).data;
  return (
    await admin.managedFolders.setIamPolicy({
      bucket,
      managedFolder: folder,
      requestBody: { etag: current.etag, bindings },
    })
  ).data;
}

describe('managed folder resources', () => {
  it('insert, get, list, delete; names end in / and travel percent-encoded', async () => {
    const created = (await admin.managedFolders.insert({ bucket, requestBody: { name: 'p/job' } })).data;
    expect(created).toMatchObject({
      kind: 'storage#managedFolder',
      name: 'p/job/',
      bucket,
      id: `${bucket}/p/job/`,
      metageneration: '1',
    });
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'p/job/nested/' } });
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'q/' } });
    expect((await admin.managedFolders.get({ bucket, managedFolder: 'p/job/' })).data.name).toBe('p/job/');
    const all = (await admin.managedFolders.list({ bucket })).data.items?.map((f) => f.name);
    expect(all).toEqual(['p/job/', 'p/job/nested/', 'q/']);
    const page = (await admin.managedFolders.list({ bucket, prefix: 'p/', pageSize: 1 })).data;
    expect(page.items?.map((f) => f.name)).toEqual(['p/job/']);
    const next = (
      await admin.managedFolders.list({ bucket, prefix: 'p/', pageSize: 1, pageToken: page.nextPageToken ?? '' })
    ).data;
    expect(next.items?.map((f) => f.name)).toEqual(['p/job/nested/']);
    expect((await failure(() => admin.managedFolders.insert({ bucket, requestBody: { name: 'q/' } }))).status).toBe(
      409,
    );
    expect((await failure(() => admin.managedFolders.get({ bucket, managedFolder: 'nope/' }))).status).toBe(404);
  });

  it('delete is refused while objects or nested folders lie under it, unless allowNonEmpty', async () => {
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'a/' } });
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'b/' } });
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'b/c/' } });
    await put(admin, 'a/file');
    expect((await failure(() => admin.managedFolders.delete({ bucket, managedFolder: 'a/' }))).status).toBe(409);
    expect((await failure(() => admin.managedFolders.delete({ bucket, managedFolder: 'b/' }))).status).toBe(409);
    await admin.managedFolders.delete({ bucket, managedFolder: 'a/', allowNonEmpty: true });
    await admin.managedFolders.delete({ bucket, managedFolder: 'b/c/' });
    await admin.managedFolders.delete({ bucket, managedFolder: 'b/' });
    expect((await admin.managedFolders.list({ bucket })).data.items).toBeUndefined();
    // The object outlives its folder.
    expect((await admin.objects.get({ bucket, object: 'a/file', alt: 'media' })).data).toBe('a/file');
  });

  it('a bucket with managed folders cannot be deleted', async () => {
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'keep/' } });
    expect((await failure(() => admin.buckets.delete({ bucket }))).status).toBe(409);
    await admin.managedFolders.delete({ bucket, managedFolder: 'keep/' });
    await admin.buckets.delete({ bucket });
  });

  it('needs storage.managedFolders.create: a caller without it gets 403 naming the managed folder', async () => {
    const { status, error } = await failure(() => job.managedFolders.insert({ bucket, requestBody: { name: 'x/' } }));
    expect(status).toBe(403);
    expect(error.message).toBe(
      `${JOB} does not have storage.managedFolders.create access to the Google Cloud Storage managed folder. Permission 'storage.managedFolders.create' denied on resource (or it may not exist).`,
    );
  });
});

describe('managed folder IAM', () => {
  it('a folder-only grant: write, read and list inside the folder; nothing outside', async () => {
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'p/job/' } });
    await put(admin, 'p/job2/a');
    await put(admin, 'p/top');
    await setFolderPolicy('p/job/', [{ role: 'roles/storage.objectUser', members: [JOB] }]);
    await put(job, 'p/job/offsets/0');
    await put(job, 'p/job/commits/0');
    expect((await job.objects.get({ bucket, object: 'p/job/offsets/0', alt: 'media' })).data).toBe('p/job/offsets/0');
    expect((await job.objects.list({ bucket, prefix: 'p/job/' })).data.items?.map((i) => i.name)).toEqual([
      'p/job/commits/0',
      'p/job/offsets/0',
    ]);
    const dirs = (await job.objects.list({ bucket, prefix: 'p/job/', delimiter: '/' })).data;
    expect(dirs.prefixes).toEqual(['p/job/commits/', 'p/job/offsets/']);
    await job.objects.delete({ bucket, object: 'p/job/commits/0' });
    for (const f of [
      () => put(job, 'p/job2/x'),
      () => job.objects.get({ bucket, object: 'p/job2/a', alt: 'media' }),
      () => job.objects.get({ bucket, object: 'p/top', alt: 'media' }),
      () => job.objects.list({ bucket, prefix: 'p/' }),
      () => job.objects.list({ bucket, prefix: 'p/job' }),
      () => job.objects.list({ bucket, prefix: 'p/job2/' }),
      () => job.objects.list({ bucket }),
      () => job.buckets.get({ bucket }),
    ]) {
      expect((await failure(f)).status).toBe(403);
    }
    // objectUser includes managedFolders.get on its own folder, not setIamPolicy.
    expect((await job.managedFolders.get({ bucket, managedFolder: 'p/job/' })).data.name).toBe('p/job/');
    expect((await failure(() => job.managedFolders.getIamPolicy({ bucket, managedFolder: 'p/job/' }))).status).toBe(
      403,
    );
  });

  it('nested folders add up', async () => {
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'p/' } });
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'p/job/' } });
    await setFolderPolicy('p/', [{ role: 'roles/storage.objectViewer', members: [READER] }]);
    await setFolderPolicy('p/job/', [{ role: 'roles/storage.objectCreator', members: [READER] }]);
    await put(admin, 'p/other/a');
    await put(reader, 'p/job/new');
    expect((await reader.objects.get({ bucket, object: 'p/job/new', alt: 'media' })).data).toBe('p/job/new');
    expect((await reader.objects.get({ bucket, object: 'p/other/a', alt: 'media' })).data).toBe('p/other/a');
    expect((await reader.objects.list({ bucket, prefix: 'p/' })).data.items?.length).toBe(2);
    expect((await failure(() => put(reader, 'p/other/b'))).status).toBe(403);
  });

  it('policies have etags (412 when stale), versions, testPermissions, and bump the folder metageneration', async () => {
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'f/' } });
    const p0 = (await admin.managedFolders.getIamPolicy({ bucket, managedFolder: 'f/' })).data;
    expect(p0).toMatchObject({
      kind: 'storage#policy',
      resourceId: `projects/_/buckets/${bucket}/managedFolders/f/`,
      version: 1,
    });
    expect(p0.bindings).toBeUndefined();
    const p1 = await setFolderPolicy('f/', [{ role: 'roles/storage.objectViewer', members: [READER] }]);
    expect(p1.etag).not.toBe(p0.etag);
    const stale = await failure(() =>
      admin.managedFolders.setIamPolicy({ bucket, managedFolder: 'f/', requestBody: { etag: p0.etag, bindings: [] } }),
    );
    expect(stale.status).toBe(412);
    expect((await admin.managedFolders.get({ bucket, managedFolder: 'f/' })).data.metageneration).toBe('2');
    const tested = await reader.managedFolders.testIamPermissions({
      bucket,
      managedFolder: 'f/',
      permissions: ['storage.objects.get', 'storage.objects.create', 'storage.managedFolders.get'],
    });
    expect(tested.data.permissions).toEqual(['storage.objects.get', 'storage.managedFolders.get']);
    const cond = await failure(() =>
      admin.managedFolders.setIamPolicy({
        bucket,
        managedFolder: 'f/',
        requestBody: {
          bindings: [
            { role: 'roles/storage.objectViewer', members: [READER], condition: { title: 't', expression: 'true' } },
          ],
        },
      }),
    );
    expect(cond.status).toBe(400);
  });

  it('deleting a folder drops its grants; re-creating it starts with an empty policy', async () => {
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'g/' } });
    await setFolderPolicy('g/', [{ role: 'roles/storage.objectUser', members: [JOB] }]);
    await put(job, 'g/x');
    await admin.managedFolders.delete({ bucket, managedFolder: 'g/', allowNonEmpty: true });
    expect((await failure(() => put(job, 'g/y'))).status).toBe(403);
    await admin.managedFolders.insert({ bucket, requestBody: { name: 'g/' } });
    expect((await admin.managedFolders.getIamPolicy({ bucket, managedFolder: 'g/' })).data.bindings).toBeUndefined();
    expect((await failure(() => put(job, 'g/y'))).status).toBe(403);
  });
});
