// Buckets through the real clients: insert/get/list/patch/update/delete, the fields Tidemark relies on,
// storageLayout, and Google's ~1 metadata write per second per bucket.
import type { Storage } from '@google-cloud/storage';
import type { storage_v1 } from 'googleapis';
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { adminFetch, createBucket, failure, setConfig, useAdminEmulator } from './clients.js';

let emu: RunningEmulator;
let gcs: Storage;
let api: storage_v1.Storage;

useAdminEmulator({ config: { bucketWriteLimitPerSecond: 0 } }, (x) => {
  ({ emu, gcs, api } = x);
});

describe('buckets', () => {
  it('insert with the fields Tidemark uses, then get returns them', async () => {
    const res = await api.buckets.insert({
      project: emu.projectId,
      requestBody: {
        name: 'ckpt-bucket',
        location: 'europe-west1',
        iamConfiguration: { uniformBucketLevelAccess: { enabled: true } },
        softDeletePolicy: { retentionDurationSeconds: '0' },
        lifecycle: { rule: [{ action: { type: 'Delete' }, condition: { age: 30 } }] },
        hierarchicalNamespace: { enabled: true },
        labels: { team: 'data' },
      },
    });
    expect(res.data).toMatchObject({
      kind: 'storage#bucket',
      name: 'ckpt-bucket',
      id: 'ckpt-bucket',
      projectNumber: emu.projectNumber,
      location: 'EUROPE-WEST1',
      locationType: 'region',
      storageClass: 'STANDARD',
      metageneration: '1',
      softDeletePolicy: { retentionDurationSeconds: '0' },
      hierarchicalNamespace: { enabled: true },
      lifecycle: { rule: [{ action: { type: 'Delete' }, condition: { age: 30 } }] },
      labels: { team: 'data' },
    });
    expect(res.data.iamConfiguration?.uniformBucketLevelAccess?.enabled).toBe(true);
    expect(res.data.iamConfiguration?.uniformBucketLevelAccess?.lockedTime).toBeTruthy();
    const [meta] = await gcs.bucket('ckpt-bucket').getMetadata();
    expect(meta.etag).toBe(res.data.etag);
    const [exists] = await gcs.bucket('ckpt-bucket').exists();
    expect(exists).toBe(true);
  });

  it('defaults: US multi-region, UBLA off, 7-day soft delete, flat namespace', async () => {
    await gcs.createBucket('plain-bucket');
    const [m] = await gcs.bucket('plain-bucket').getMetadata();
    expect(m).toMatchObject({
      location: 'US',
      locationType: 'multi-region',
      softDeletePolicy: { retentionDurationSeconds: '604800' },
      hierarchicalNamespace: { enabled: false },
    });
    expect(m.iamConfiguration?.uniformBucketLevelAccess?.enabled).toBe(false);
  });

  it('refuses bad names, duplicates, a missing project, and HNS without UBLA', async () => {
    expect(
      (await failure(() => api.buckets.insert({ project: emu.projectId, requestBody: { name: 'Bad_Name' } }))).status,
    ).toBe(400);
    await createBucket(emu, 'dup-bucket');
    const dup = await failure(() =>
      api.buckets.insert({ project: emu.projectId, requestBody: { name: 'dup-bucket' } }),
    );
    expect(dup.status).toBe(409);
    const noProject = await adminFetch(emu, '/storage/v1/b', {
      method: 'POST',
      body: JSON.stringify({ name: 'abc-def' }),
    });
    expect(noProject.status).toBe(400);
    const hns = await failure(() =>
      api.buckets.insert({
        project: emu.projectId,
        requestBody: { name: 'hns-bucket', hierarchicalNamespace: { enabled: true } },
      }),
    );
    expect(hns.status).toBe(400);
  });

  it('list with prefix and paging', async () => {
    for (const n of ['aa-1', 'aa-2', 'aa-3', 'bb-1']) await createBucket(emu, n);
    const res = await api.buckets.list({ project: emu.projectId, prefix: 'aa-', maxResults: 2 });
    expect(res.data.items?.map((b) => b.name)).toEqual(['aa-1', 'aa-2']);
    const next = await api.buckets.list({
      project: emu.projectId,
      prefix: 'aa-',
      pageToken: res.data.nextPageToken as string,
    });
    expect(next.data.items?.map((b) => b.name)).toEqual(['aa-3']);
    const [all] = await gcs.getBuckets();
    expect(all.map((b) => b.name)).toEqual(['aa-1', 'aa-2', 'aa-3', 'bb-1']);
  });

  it('patch changes fields, bumps metageneration and etag; ifMetagenerationMatch guards it', async () => {
    await createBucket(emu, 'patch-bucket', { labels: { a: '1' } });
    const p = await api.buckets.patch({
      bucket: 'patch-bucket',
      ifMetagenerationMatch: '1',
      requestBody: {
        labels: { b: '2' },
        lifecycle: { rule: [{ action: { type: 'Delete' }, condition: { age: 1 } }] },
        softDeletePolicy: { retentionDurationSeconds: '0' },
      },
    });
    expect(p.data.metageneration).toBe('2');
    expect(p.data.labels).toEqual({ a: '1', b: '2' });
    expect(p.data.lifecycle?.rule).toHaveLength(1);
    const stale = await failure(() =>
      api.buckets.patch({ bucket: 'patch-bucket', ifMetagenerationMatch: '1', requestBody: { labels: { c: '3' } } }),
    );
    expect(stale.status).toBe(412);
    // The storage client's lifecycle helper is a patch too.
    await gcs.bucket('patch-bucket').addLifecycleRule({ action: { type: 'Delete' }, condition: { age: 2 } });
    const [m] = await gcs.bucket('patch-bucket').getMetadata();
    expect(m.lifecycle?.rule).toHaveLength(2);
    const cannot = await failure(() =>
      api.buckets.patch({ bucket: 'patch-bucket', requestBody: { hierarchicalNamespace: { enabled: true } } }),
    );
    expect(cannot.status).toBe(400);
  });

  it('update (PUT) replaces: fields left out go back to defaults', async () => {
    await createBucket(emu, 'update-bucket', { labels: { a: '1' } });
    const u = await api.buckets.update({ bucket: 'update-bucket', requestBody: { storageClass: 'NEARLINE' } });
    expect(u.data.storageClass).toBe('NEARLINE');
    expect(u.data.labels).toBeUndefined();
  });

  it('delete only when empty (409 otherwise); 404 afterwards', async () => {
    await createBucket(emu, 'del-bucket');
    await gcs.bucket('del-bucket').file('x').save('x', { resumable: false });
    const notEmpty = await failure(() => gcs.bucket('del-bucket').delete());
    expect(notEmpty.status).toBe(409);
    await gcs.bucket('del-bucket').file('x').delete();
    await gcs.bucket('del-bucket').delete();
    expect((await failure(() => api.buckets.get({ bucket: 'del-bucket' }))).status).toBe(404);
  });

  it('getStorageLayout (gcloud rm -r and the connector need it)', async () => {
    await createBucket(emu, 'layout-bucket', { hierarchicalNamespace: { enabled: true } });
    const res = await api.buckets.getStorageLayout({ bucket: 'layout-bucket' });
    expect(res.data).toEqual({
      kind: 'storage#storageLayout',
      bucket: 'layout-bucket',
      location: 'US',
      locationType: 'multi-region',
      hierarchicalNamespace: { enabled: true },
    });
    expect((await failure(() => api.buckets.getStorageLayout({ bucket: 'no-bucket' }))).status).toBe(404);
  });
});

describe('bucket metadata write rate', () => {
  it('answers 429 rateLimitExceeded beyond the configured writes per second per bucket', async () => {
    await setConfig(emu, { bucketWriteLimitPerSecond: 1 });
    await createBucket(emu, 'rate-bucket');
    await createBucket(emu, 'rate-other');
    await api.buckets.patch({ bucket: 'rate-bucket', requestBody: { labels: { n: '1' } } });
    const limited = await failure(() =>
      api.buckets.patch({ bucket: 'rate-bucket', requestBody: { labels: { n: '2' } } }),
    );
    expect(limited.status).toBe(429);
    expect(limited.error.message).toContain('exceeds the rate limit');
    // The refused write changed nothing; other buckets have their own budget.
    const [m] = await gcs.bucket('rate-bucket').getMetadata();
    expect(m.labels).toEqual({ n: '1' });
    expect(m.metageneration).toBe('2');
    await api.buckets.patch({ bucket: 'rate-other', requestBody: { labels: { n: '1' } } });
    // IAM policy writes count against the same budget.
    const policy = await api.buckets.getIamPolicy({ bucket: 'rate-bucket' });
    const iam = await failure(() => api.buckets.setIamPolicy({ bucket: 'rate-bucket', requestBody: policy.data }));
    expect(iam.status).toBe(429);
    await setConfig(emu, { bucketWriteLimitPerSecond: 0 });
    for (let i = 0; i < 5; i++)
      await api.buckets.patch({ bucket: 'rate-bucket', requestBody: { labels: { i: String(i) } } });
  });
});
