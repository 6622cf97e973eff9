// Bucket IAM policies through the real clients: conditions (with and without the list-prefix attribute), versions,
// etags, refusals, the bucket write limit, and Google's 403 body.
import type { storage_v1 } from 'googleapis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import {
  createBucket,
  failure,
  googleStorage,
  mintToken,
  rootUrl,
  setConfig,
  start,
  storageClient,
} from './clients.js';

const JOB = 'serviceAccount:job@tidemark-dev.iam.gserviceaccount.com';
const LIST = 'storage.googleapis.com/objectListPrefix';
let emu: RunningEmulator;
let admin: storage_v1.Storage;
let job: storage_v1.Storage;
let n = 0;
let bucket: string;

const obj = (b: string, name: string) => `projects/_/buckets/${b}/objects/${name}`;
/** Tidemark's BucketCondition expression for prefix P (design §2). */
const prefixGrant = (b: string, p: string) =>
  `resource.name == "${obj(b, p)}" || resource.name.startsWith("${obj(b, `${p}/`)}") || ` +
  `api.getAttribute("${LIST}", "").startsWith("${p}/")`;

beforeAll(async () => {
  emu = await start();
  admin = googleStorage(emu, emu.adminToken);
  job = googleStorage(emu, await mintToken(emu, JOB));
});

afterAll(async () => {
  await emu?.stop();
});

beforeEach(async () => {
  bucket = `pol-${++n}`;
  await createBucket(emu, bucket);
  for (const name of ['p/job/a', 'p/job2/a', 'p/jo', 'q/x']) {
    await admin.objects.insert({ bucket, name, media: { body: name } }, { rootUrl: rootUrl(emu) });
  }
});

async function grant(expression: string): Promise<storage_v1.Schema$Policy> {
  const current = (await admin.buckets.getIamPolicy({ bucket, optionsRequestedPolicyVersion: 3 })).data;
  const res = await admin.buckets.setIamPolicy({
    bucket,
    requestBody: {
      version: 3,
      etag: current.etag,
      bindings: [
        ...(current.bindings ?? []),
        { role: 'roles/storage.objectUser', members: [JOB], condition: { title: 'job prefix', expression } },
      ],
    },
  });
  return res.data;
}

const put = (name: string) => job.objects.insert({ bucket, name, media: { body: 'x' } }, { rootUrl: rootUrl(emu) });
const list = (prefix?: string) => job.objects.list({ bucket, ...(prefix === undefined ? {} : { prefix }) });
const read = (name: string) => job.objects.get({ bucket, object: name, alt: 'media' });

describe('a conditional prefix grant with the list-prefix attribute (Tidemark’s form)', () => {
  it('allows the prefix and nothing one character outside it', async () => {
    const policy = await grant(prefixGrant(bucket, 'p/job'));
    expect(policy.version).toBe(3);
    await put('p/job/offsets/0');
    expect((await read('p/job/a')).data).toBe('p/job/a');
    const items = (await list('p/job/')).data.items?.map((i) => i.name);
    expect(items).toEqual(['p/job/a', 'p/job/offsets/0']);
    expect((await list('p/job/offsets/')).data.items?.map((i) => i.name)).toEqual(['p/job/offsets/0']);
    // The neighbour p/job2 shares the first characters; p/jo is a strict prefix; q/ is elsewhere.
    for (const f of [() => put('p/job2/x'), () => read('p/job2/a'), () => read('p/jo'), () => put('q/y')]) {
      expect((await failure(f)).status).toBe(403);
    }
    for (const prefix of ['p/job2/', 'p/', 'p/job', undefined]) {
      expect((await failure(() => list(prefix))).status).toBe(403);
    }
  });

  it('the startsWith("p/job") form would let the job list its neighbour p/job2/', async () => {
    await grant(`api.getAttribute("${LIST}", "").startsWith("p/job")`);
    expect((await list('p/job2/')).data.items?.map((i) => i.name)).toEqual(['p/job2/a']);
  });
});

describe('a conditional grant on resource.name alone', () => {
  it('scopes object access but cannot allow listing (list is checked on the bucket)', async () => {
    await grant(`resource.name.startsWith("${obj(bucket, 'p/job/')}")`);
    await put('p/job/x');
    expect((await read('p/job/a')).data).toBe('p/job/a');
    const { status, error } = await failure(() => list('p/job/'));
    expect(status).toBe(403);
    expect(error.message).toBe(
      `job@tidemark-dev.iam.gserviceaccount.com does not have storage.objects.list access to the Google Cloud Storage bucket. Permission 'storage.objects.list' denied on resource (or it may not exist).`,
    );
  });

  it('evaluates request.time: an expired grant denies', async () => {
    await grant('request.time < timestamp("2020-01-01T00:00:00Z")');
    expect((await failure(() => read('p/job/a'))).status).toBe(403);
  });
});

describe('versions and etags', () => {
  it('a version-1 read of a conditional policy is refused; version 3 reads it (both clients)', async () => {
    await grant(prefixGrant(bucket, 'p/job'));
    const { status, error } = await failure(() => admin.buckets.getIamPolicy({ bucket }));
    expect(status).toBe(400);
    expect(error.message).toMatch(/version 3/);
    const gcs = storageClient(emu, emu.adminToken);
    const [policy] = await gcs.bucket(bucket).iam.getPolicy({ requestedPolicyVersion: 3 });
    expect(policy.version).toBe(3);
    expect(policy.bindings.find((b) => b.condition)?.condition?.expression).toBe(prefixGrant(bucket, 'p/job'));
  });

  it('@google-cloud/storage reads, writes (its bogus resourceId ignored) and tests permissions', async () => {
    const gcs = storageClient(emu, emu.adminToken);
    const [policy] = await gcs.bucket(bucket).iam.getPolicy();
    policy.bindings.push({ role: 'roles/storage.objectViewer', members: [JOB] });
    const [written] = await gcs.bucket(bucket).iam.setPolicy(policy);
    expect(written.etag).not.toBe(policy.etag);
    const [held] = await storageClient(emu, await mintToken(emu, JOB))
      .bucket(bucket)
      .iam.testPermissions(['storage.objects.list', 'storage.objects.delete']);
    expect(held).toEqual({ 'storage.objects.list': true, 'storage.objects.delete': false });
  });

  it('every write changes the etag; a stale etag gets 412', async () => {
    const p0 = (await admin.buckets.getIamPolicy({ bucket })).data;
    const p1 = (await admin.buckets.setIamPolicy({ bucket, requestBody: p0 })).data;
    const p2 = (await admin.buckets.setIamPolicy({ bucket, requestBody: p1 })).data;
    expect(new Set([p0.etag, p1.etag, p2.etag]).size).toBe(3);
    const { status } = await failure(() => admin.buckets.setIamPolicy({ bucket, requestBody: p1 }));
    expect(status).toBe(412);
  });

  it('a version-1 write with the etag over a conditional policy is refused; without etag it overwrites and drops conditions', async () => {
    const p = await grant(prefixGrant(bucket, 'p/job'));
    const v1 = { etag: p.etag, bindings: (p.bindings ?? []).filter((b) => !b.condition) };
    const { status, error } = await failure(() => admin.buckets.setIamPolicy({ bucket, requestBody: v1 }));
    expect(status).toBe(400);
    expect(error.message).toMatch(/version 3/);
    const blind = (await admin.buckets.setIamPolicy({ bucket, requestBody: { bindings: v1.bindings } })).data;
    expect(blind.version).toBe(1);
    expect(blind.bindings?.some((b) => b.condition)).toBe(false);
    expect((await failure(() => put('p/job/x'))).status).toBe(403);
  });

  it('conditions need version 3 (400) and uniform bucket-level access (412, checked first); invalid expressions are refused', async () => {
    const binding = {
      role: 'roles/storage.objectViewer',
      members: [JOB],
      condition: { title: 't', expression: 'true' },
    };
    expect(
      (await failure(() => admin.buckets.setIamPolicy({ bucket, requestBody: { bindings: [binding] } }))).status,
    ).toBe(400);
    const fine = `pol-fine-${n}`;
    await createBucket(emu, fine, { iamConfiguration: { uniformBucketLevelAccess: { enabled: false } } });
    // Without uniform bucket-level access Google answers 412, and checks that before the policy version.
    for (const version of [1, 3]) {
      const ubla = await failure(() =>
        admin.buckets.setIamPolicy({ bucket: fine, requestBody: { version, bindings: [binding] } }),
      );
      expect(ubla.status).toBe(412);
      expect(ubla.error.message).toMatch(/Uniform bucket-level access must be enabled/);
    }
    const bad = await failure(() =>
      admin.buckets.setIamPolicy({
        bucket,
        requestBody: {
          version: 3,
          bindings: [{ ...binding, condition: { title: 't', expression: 'resource.name.startsWith(' } }],
        },
      }),
    );
    expect(bad.status).toBe(400);
    expect(bad.error.message).toMatch(/invalid expression: syntax error/);
  });
});

describe('the bucket write limit and the 403 body', () => {
  it('bucket policy writes count against ~1 write/s/bucket; managed-folder policies do not', async () => {
    await setConfig(emu, { bucketWriteLimitPerSecond: 1 });
    try {
      const p = (await admin.buckets.getIamPolicy({ bucket })).data;
      await admin.buckets.setIamPolicy({ bucket, requestBody: { bindings: p.bindings } });
      const { status, error } = await failure(() =>
        admin.buckets.setIamPolicy({ bucket, requestBody: { bindings: p.bindings } }),
      );
      expect(status).toBe(429);
      expect(error.message).toMatch(/rate limit/);
      await admin.managedFolders.insert({ bucket, requestBody: { name: 'mf/' } });
      for (let i = 0; i < 5; i++) {
        await admin.managedFolders.setIamPolicy({
          bucket,
          managedFolder: 'mf/',
          requestBody: { bindings: [{ role: 'roles/storage.objectViewer', members: [`user:u${i}@example.com`] }] },
        });
      }
    } finally {
      await setConfig(emu, { bucketWriteLimitPerSecond: 0 });
    }
  });

  it('a denial is Google’s JSON error body', async () => {
    const token = await mintToken(emu, JOB);
    const res = await fetch(`${emu.url}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=p%2Fx`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(res.status).toBe(403);
    const message =
      "job@tidemark-dev.iam.gserviceaccount.com does not have storage.objects.create access to the Google Cloud Storage object. Permission 'storage.objects.create' denied on resource (or it may not exist).";
    expect(await res.json()).toEqual({
      error: { code: 403, message, errors: [{ message, domain: 'global', reason: 'forbidden' }] },
    });
  });

  it('an unknown token is 401', async () => {
    const res = await fetch(`${emu.url}/storage/v1/b/${bucket}/o`, { headers: { authorization: 'Bearer ya29.nope' } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('Invalid Credentials');
  });
});
