// The HTTP core asks the IAM half for exactly the permission Google checks, per method (docs/emulator.md has the
// table): each case is one principal holding a predefined or custom role, allowed or refused through the real clients.
import type { storage_v1 } from 'googleapis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import {
  adminJson,
  createBucket,
  failure,
  googleStorage,
  mintToken,
  rootUrl,
  start,
  storageClient,
} from './clients.js';

let emu: RunningEmulator;
let admin: storage_v1.Storage;
const B = 'perm-bucket';
const OTHER = 'perm-other';
const sa = (name: string) => `${name}@tidemark-dev.iam.gserviceaccount.com`;

const principals = {
  viewer: 'roles/storage.objectViewer',
  creator: 'roles/storage.objectCreator',
  user: 'roles/storage.objectUser',
  bucketGetOnly: 'projects/tidemark-dev/roles/bucketGetOnly',
  listOnly: 'projects/tidemark-dev/roles/listOnly',
} as const;
type Who = keyof typeof principals | 'nobody' | 'scoped';
const clients = {} as Record<Who, storage_v1.Storage>;

beforeAll(async () => {
  emu = await start();
  admin = googleStorage(emu, emu.adminToken);
});
afterAll(() => emu.stop());

beforeEach(async () => {
  await adminJson(emu, '/_emulator/reset', { method: 'POST' });
  await adminJson(emu, '/_emulator/roles/bucketGetOnly', {
    method: 'PUT',
    body: JSON.stringify({ includedPermissions: ['storage.buckets.get'] }),
  });
  await adminJson(emu, '/_emulator/roles/listOnly', {
    method: 'PUT',
    body: JSON.stringify({ includedPermissions: ['storage.objects.list'] }),
  });
  await createBucket(emu, B);
  await createBucket(emu, OTHER);
  for (const who of [...Object.keys(principals), 'nobody', 'scoped'] as Who[]) {
    clients[who] = googleStorage(emu, await mintToken(emu, `serviceAccount:${sa(who)}`));
  }
  const policy = (await admin.buckets.getIamPolicy({ bucket: B, optionsRequestedPolicyVersion: 3 })).data;
  policy.version = 3;
  policy.bindings = [
    ...(policy.bindings ?? []),
    ...Object.entries(principals).map(([who, role]) => ({ role, members: [`serviceAccount:${sa(who)}`] })),
    {
      // Tidemark's BucketCondition grant for prefix ns/job/ (design §2).
      role: 'roles/storage.objectUser',
      members: [`serviceAccount:${sa('scoped')}`],
      condition: {
        title: 'ns/job',
        expression:
          'resource.name.startsWith("projects/_/buckets/perm-bucket/objects/ns/job/") || ' +
          'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("ns/job/")',
      },
    },
  ];
  await admin.buckets.setIamPolicy({ bucket: B, requestBody: policy });
  for (const n of ['src', 'ns/job/a', 'ns/other/b']) {
    await admin.objects.insert({ bucket: B, name: n, media: { body: n } }, { rootUrl: rootUrl(emu) });
  }
});

const allowed = async (p: Promise<unknown>): Promise<void> => {
  await p;
};
const denied = async (fn: () => Promise<unknown>, permission: string, who: Who): Promise<void> => {
  const { status, error } = await failure(fn);
  expect(status).toBe(403);
  expect(error.message).toContain(`${sa(who)} does not have ${permission} access`);
  expect(error.message).toContain(`Permission '${permission}' denied on resource (or it may not exist).`);
};
const insert = (who: Who, name: string, extra: Record<string, string> = {}) =>
  clients[who].objects.insert({ bucket: B, name, media: { body: 'x' }, ...extra }, { rootUrl: rootUrl(emu) });

describe('objects', () => {
  it('insert needs storage.objects.create, and storage.objects.delete to overwrite', async () => {
    await allowed(insert('creator', 'new-object'));
    await denied(() => insert('creator', 'src'), 'storage.objects.delete', 'creator');
    await denied(() => insert('viewer', 'new-2'), 'storage.objects.create', 'viewer');
    await allowed(insert('user', 'src'));
    // The object the 403 is about, as Google words it.
    const { error } = await failure(() => insert('viewer', 'new-3'));
    expect(error.message).toBe(
      `${sa('viewer')} does not have storage.objects.create access to the Google Cloud Storage object. ` +
        "Permission 'storage.objects.create' denied on resource (or it may not exist).",
    );
  });

  it('a resumable upload checks create at initiation (as the initiator) and the overwrite at completion', async () => {
    const token = await mintToken(emu, `serviceAccount:${sa('creator')}`);
    const gcs = storageClient(emu, token);
    await gcs.bucket(B).file('resumable-new').save('ok');
    const { status } = await failure(() => gcs.bucket(B).file('src').save('overwrite'));
    expect(status).toBe(403);
    const viewer = storageClient(emu, await mintToken(emu, `serviceAccount:${sa('viewer')}`));
    expect((await failure(() => viewer.bucket(B).file('v').save('x'))).status).toBe(403);
  });

  it('get (metadata and media) needs storage.objects.get', async () => {
    await allowed(clients.viewer.objects.get({ bucket: B, object: 'src' }));
    await allowed(clients.viewer.objects.get({ bucket: B, object: 'src', alt: 'media' }));
    await denied(() => clients.creator.objects.get({ bucket: B, object: 'src' }), 'storage.objects.get', 'creator');
    await denied(
      () => clients.creator.objects.get({ bucket: B, object: 'src', alt: 'media' }),
      'storage.objects.get',
      'creator',
    );
    // A missing object is a 403 for someone who may not read it, a 404 for someone who may.
    expect((await failure(() => clients.nobody.objects.get({ bucket: B, object: 'missing' }))).status).toBe(403);
    expect((await failure(() => clients.viewer.objects.get({ bucket: B, object: 'missing' }))).status).toBe(404);
  });

  it('list needs storage.objects.list, checked with the request prefix as objectListPrefix', async () => {
    await allowed(clients.viewer.objects.list({ bucket: B }));
    await denied(() => clients.creator.objects.list({ bucket: B }), 'storage.objects.list', 'creator');
    const own = await clients.scoped.objects.list({ bucket: B, prefix: 'ns/job/' });
    expect(own.data.items?.map((o) => o.name)).toEqual(['ns/job/a']);
    await denied(() => clients.scoped.objects.list({ bucket: B }), 'storage.objects.list', 'scoped');
    await denied(() => clients.scoped.objects.list({ bucket: B, prefix: 'ns/' }), 'storage.objects.list', 'scoped');
    await denied(
      () => clients.scoped.objects.list({ bucket: B, prefix: 'ns/other/' }),
      'storage.objects.list',
      'scoped',
    );
  });

  it('a prefix-scoped principal writes and reads inside its prefix only', async () => {
    await allowed(insert('scoped', 'ns/job/new'));
    await allowed(clients.scoped.objects.get({ bucket: B, object: 'ns/job/a' }));
    await denied(() => insert('scoped', 'ns/jobx'), 'storage.objects.create', 'scoped');
    await denied(
      () => clients.scoped.objects.get({ bucket: B, object: 'ns/other/b' }),
      'storage.objects.get',
      'scoped',
    );
    await denied(() => clients.scoped.objects.delete({ bucket: B, object: 'src' }), 'storage.objects.delete', 'scoped');
    await allowed(clients.scoped.objects.delete({ bucket: B, object: 'ns/job/a' }));
  });

  it('delete needs storage.objects.delete; patch and update need storage.objects.update', async () => {
    await denied(
      () => clients.creator.objects.delete({ bucket: B, object: 'src' }),
      'storage.objects.delete',
      'creator',
    );
    await denied(
      () => clients.viewer.objects.patch({ bucket: B, object: 'src', requestBody: { metadata: { a: 'b' } } }),
      'storage.objects.update',
      'viewer',
    );
    await denied(
      () => clients.viewer.objects.update({ bucket: B, object: 'src', requestBody: {} }),
      'storage.objects.update',
      'viewer',
    );
    await allowed(clients.user.objects.patch({ bucket: B, object: 'src', requestBody: { metadata: { a: 'b' } } }));
    await allowed(clients.user.objects.delete({ bucket: B, object: 'src' }));
  });

  it('rewrite and copy need get on the source and create (+ delete when overwriting) on the destination', async () => {
    const rewrite = (who: Who, dest: string, destBucket = B) =>
      clients[who].objects.rewrite({
        sourceBucket: B,
        sourceObject: 'src',
        destinationBucket: destBucket,
        destinationObject: dest,
      });
    await denied(() => rewrite('creator', 'copy-1'), 'storage.objects.get', 'creator');
    await denied(() => rewrite('viewer', 'copy-1'), 'storage.objects.create', 'viewer');
    await allowed(rewrite('user', 'copy-1'));
    await denied(() => rewrite('user', 'x', OTHER), 'storage.objects.create', 'user');
    await denied(
      () =>
        clients.viewer.objects.copy({
          sourceBucket: B,
          sourceObject: 'src',
          destinationBucket: B,
          destinationObject: 'copy-2',
        }),
      'storage.objects.create',
      'viewer',
    );
  });

  it('move needs get + delete on the source and create on the destination', async () => {
    await admin.objects.insert({ bucket: B, name: 'ns/job/m', media: { body: 'm' } }, { rootUrl: rootUrl(emu) });
    await denied(
      () => clients.viewer.objects.move({ bucket: B, sourceObject: 'src', destinationObject: 'moved' }),
      'storage.objects.delete',
      'viewer',
    );
    await denied(
      () => clients.scoped.objects.move({ bucket: B, sourceObject: 'ns/job/m', destinationObject: 'outside' }),
      'storage.objects.create',
      'scoped',
    );
    await allowed(clients.scoped.objects.move({ bucket: B, sourceObject: 'ns/job/m', destinationObject: 'ns/job/m2' }));
  });

  it('compose needs get on every source and create on the destination', async () => {
    const compose = (who: Who, sources: string[], dest: string) =>
      clients[who].objects.compose({
        destinationBucket: B,
        destinationObject: dest,
        requestBody: { sourceObjects: sources.map((name) => ({ name })) },
      });
    await denied(() => compose('scoped', ['ns/job/a', 'src'], 'ns/job/c'), 'storage.objects.get', 'scoped');
    await denied(() => compose('scoped', ['ns/job/a'], 'c'), 'storage.objects.create', 'scoped');
    await allowed(compose('scoped', ['ns/job/a', 'ns/job/a'], 'ns/job/c'));
  });
});

describe('buckets', () => {
  it('get needs storage.buckets.get; storageLayout needs storage.objects.list (for its prefix)', async () => {
    await allowed(clients.bucketGetOnly.buckets.get({ bucket: B }));
    await denied(
      () => clients.bucketGetOnly.buckets.getStorageLayout({ bucket: B }),
      'storage.objects.list',
      'bucketGetOnly',
    );
    await allowed(clients.listOnly.buckets.getStorageLayout({ bucket: B }));
    await denied(() => clients.listOnly.buckets.get({ bucket: B }), 'storage.buckets.get', 'listOnly');
    await allowed(clients.scoped.buckets.getStorageLayout({ bucket: B, prefix: 'ns/job/' }));
    await denied(() => clients.scoped.buckets.getStorageLayout({ bucket: B }), 'storage.objects.list', 'scoped');
  });

  it('insert and list need project-level storage.buckets.create / storage.buckets.list', async () => {
    await denied(
      () => clients.user.buckets.insert({ project: emu.projectId, requestBody: { name: 'users-bucket' } }),
      'storage.buckets.create',
      'user',
    );
    await denied(() => clients.user.buckets.list({ project: emu.projectId }), 'storage.buckets.list', 'user');
    await allowed(admin.buckets.insert({ project: emu.projectId, requestBody: { name: 'admins-bucket' } }));
  });

  it('patch and update need storage.buckets.update; delete needs storage.buckets.delete', async () => {
    await denied(
      () => clients.user.buckets.patch({ bucket: B, requestBody: { labels: { a: 'b' } } }),
      'storage.buckets.update',
      'user',
    );
    await denied(() => clients.user.buckets.update({ bucket: B, requestBody: {} }), 'storage.buckets.update', 'user');
    await denied(() => clients.user.buckets.delete({ bucket: OTHER }), 'storage.buckets.delete', 'user');
  });
});
