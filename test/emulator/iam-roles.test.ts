// Every predefined role × operation → allowed or denied, through the real googleapis storage client, each role
// held by its own service account (bucket-level grants) or granted at project level (basic roles).
import { google, type storage_v1 } from 'googleapis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import {
  adminJson,
  createBucket,
  failure,
  googleStorage,
  mintToken,
  oauth,
  rootUrl,
  start,
  statusOf,
} from './clients.js';

const OPS = [
  'objects.create',
  'objects.get',
  'objects.list',
  'objects.delete',
  'objects.update',
  'buckets.get',
  'buckets.update',
  'buckets.getIamPolicy',
  'buckets.setIamPolicy',
  'managedFolders.create',
  'managedFolders.list',
  'buckets.create',
] as const;
type Op = (typeof OPS)[number];

/** What each role allows, written out from Google's role definitions (not derived from the emulator's data). */
const ALLOWED: Record<string, Op[]> = {
  'roles/storage.admin': OPS.filter((o) => o !== 'buckets.create'),
  'roles/storage.objectAdmin': [
    'objects.create',
    'objects.get',
    'objects.list',
    'objects.delete',
    'objects.update',
    'managedFolders.create',
    'managedFolders.list',
  ],
  'roles/storage.objectUser': [
    'objects.create',
    'objects.get',
    'objects.list',
    'objects.delete',
    'objects.update',
    'managedFolders.create',
    'managedFolders.list',
  ],
  'roles/storage.objectCreator': ['objects.create', 'managedFolders.create'],
  'roles/storage.objectViewer': ['objects.get', 'objects.list', 'managedFolders.list'],
  'roles/storage.folderAdmin': [
    'objects.create',
    'objects.get',
    'objects.list',
    'objects.delete',
    'objects.update',
    'managedFolders.create',
    'managedFolders.list',
  ],
  'roles/storage.legacyBucketOwner': [
    'objects.create',
    'objects.list',
    'objects.delete',
    'buckets.get',
    'buckets.update',
    'buckets.getIamPolicy',
    'buckets.setIamPolicy',
    'managedFolders.create',
    'managedFolders.list',
  ],
  'roles/storage.legacyBucketWriter': [
    'objects.create',
    'objects.list',
    'objects.delete',
    'buckets.get',
    'managedFolders.create',
    'managedFolders.list',
  ],
  'roles/storage.legacyBucketReader': ['objects.list', 'buckets.get', 'managedFolders.list'],
  'roles/storage.legacyObjectOwner': ['objects.get', 'objects.update'],
  'roles/storage.legacyObjectReader': ['objects.get'],
  'roles/storage.bucketViewer': ['buckets.get'],
};

/** Basic roles, granted in the project policy; they reach the bucket through its default convenience bindings. */
const PROJECT_ALLOWED: Record<string, Op[]> = {
  'roles/owner': [...OPS],
  'roles/editor': [...OPS],
  'roles/viewer': ['objects.get', 'objects.list', 'buckets.get', 'managedFolders.list'],
  // Impersonation roles carry no storage permission at all.
  'roles/iam.serviceAccountTokenCreator': [],
};

const BUCKET = 'roles-bucket';
let emu: RunningEmulator;
let admin: storage_v1.Storage;

function account(role: string): string {
  const id = role
    .replace(/^roles\//, '')
    .replace(/[^a-zA-Z]/g, '-')
    .toLowerCase()
    .slice(0, 28);
  return `${id}@${emu.projectId}.iam.gserviceaccount.com`;
}

beforeAll(async () => {
  emu = await start();
  admin = googleStorage(emu, emu.adminToken);
  await createBucket(emu, BUCKET);
  // Read-modify-write: the default bindings (projectOwner:… etc.) must stay for the basic roles to reach the bucket.
  const policy = (await admin.buckets.getIamPolicy({ bucket: BUCKET })).data;
  const bindings = Object.keys(ALLOWED).map((role) => ({ role, members: [`serviceAccount:${account(role)}`] }));
  await admin.buckets.setIamPolicy({
    bucket: BUCKET,
    requestBody: { ...policy, bindings: [...(policy.bindings ?? []), ...bindings] },
  });
  const rm = google.cloudresourcemanager({ version: 'v1', auth: oauth(emu.adminToken), rootUrl: rootUrl(emu) });
  await rm.projects.setIamPolicy({
    resource: emu.projectId,
    requestBody: {
      policy: {
        bindings: Object.keys(PROJECT_ALLOWED).map((role) => ({ role, members: [`serviceAccount:${account(role)}`] })),
      },
    },
  });
  for (const role of [...Object.keys(ALLOWED), ...Object.keys(PROJECT_ALLOWED)]) {
    const id = account(role).split('@')[0];
    for (const name of [`seed/${id}`, `del/${id}`]) {
      await admin.objects.insert({ bucket: BUCKET, name, media: { body: 'x' } }, { rootUrl: rootUrl(emu) });
    }
  }
});

afterAll(async () => {
  await emu?.stop();
});

/** Runs one operation as `gs`; true when it succeeded, false on 403 (anything else fails the test). */
async function attempt(gs: storage_v1.Storage, id: string, op: Op): Promise<boolean> {
  const run = async (): Promise<unknown> => {
    switch (op) {
      case 'objects.create':
        return gs.objects.insert(
          { bucket: BUCKET, name: `new/${id}`, media: { body: 'data' } },
          { rootUrl: rootUrl(emu) },
        );
      case 'objects.get':
        return gs.objects.get({ bucket: BUCKET, object: `seed/${id}`, alt: 'media' });
      case 'objects.list':
        return gs.objects.list({ bucket: BUCKET, prefix: 'seed/' });
      case 'objects.delete':
        return gs.objects.delete({ bucket: BUCKET, object: `del/${id}` });
      case 'objects.update':
        return gs.objects.patch({ bucket: BUCKET, object: `seed/${id}`, requestBody: { metadata: { touched: id } } });
      case 'buckets.get':
        return gs.buckets.get({ bucket: BUCKET });
      case 'buckets.update':
        return gs.buckets.patch({ bucket: BUCKET, requestBody: { labels: { touched: 'yes' } } });
      case 'buckets.getIamPolicy':
        return gs.buckets.getIamPolicy({ bucket: BUCKET });
      case 'buckets.setIamPolicy': {
        const current = (await admin.buckets.getIamPolicy({ bucket: BUCKET })).data;
        return gs.buckets.setIamPolicy({ bucket: BUCKET, requestBody: current });
      }
      case 'managedFolders.create':
        return gs.managedFolders.insert({ bucket: BUCKET, requestBody: { name: `mf-${id}/` } });
      case 'managedFolders.list':
        return gs.managedFolders.list({ bucket: BUCKET });
      case 'buckets.create':
        return gs.buckets.insert({
          project: emu.projectId,
          requestBody: {
            name: `new-${id.slice(0, 40)}`,
            iamConfiguration: { uniformBucketLevelAccess: { enabled: true } },
          },
        });
    }
  };
  try {
    await run();
    return true;
  } catch (err) {
    if (statusOf(err) === 403) return false;
    throw err;
  }
}

async function outcome(role: string): Promise<Record<Op, boolean>> {
  const email = account(role);
  const gs = googleStorage(emu, await mintToken(emu, `serviceAccount:${email}`));
  const id = email.split('@')[0] as string;
  const out = {} as Record<Op, boolean>;
  for (const op of OPS) out[op] = await attempt(gs, id, op);
  return out;
}

function expected(allowed: Op[]): Record<Op, boolean> {
  return Object.fromEntries(OPS.map((o) => [o, allowed.includes(o)])) as Record<Op, boolean>;
}

describe('predefined roles granted on the bucket', () => {
  it.each(Object.entries(ALLOWED))('%s', async (role, allowed) => {
    expect(await outcome(role)).toEqual(expected(allowed));
  });
});

describe('basic and IAM roles granted on the project', () => {
  it.each(Object.entries(PROJECT_ALLOWED))('%s', async (role, allowed) => {
    expect(await outcome(role)).toEqual(expected(allowed));
  });
});

describe('roles that cannot be granted on a bucket', () => {
  it.each(['roles/owner', 'roles/iam.serviceAccountTokenCreator', 'roles/storage.managedFolderAdmin', 'roles/nope'])(
    '%s is refused with 400',
    async (role) => {
      const { status, error } = await failure(() =>
        admin.buckets.setIamPolicy({
          bucket: BUCKET,
          requestBody: { bindings: [{ role, members: ['user:a@example.com'] }] },
        }),
      );
      expect(status).toBe(400);
      expect(error.message).toContain(`Role ${role} is not supported for this resource.`);
    },
  );
});

describe('a custom role', () => {
  it('grants exactly its permissions once registered', async () => {
    const email = `custom@${emu.projectId}.iam.gserviceaccount.com`;
    await adminJson(emu, '/_emulator/roles/seedLister', {
      method: 'PUT',
      body: JSON.stringify({ includedPermissions: ['storage.objects.list', 'storage.buckets.get'] }),
    });
    const policy = (await admin.buckets.getIamPolicy({ bucket: BUCKET })).data;
    policy.bindings = [
      ...(policy.bindings ?? []),
      { role: `projects/${emu.projectId}/roles/seedLister`, members: [`serviceAccount:${email}`] },
    ];
    await admin.buckets.setIamPolicy({ bucket: BUCKET, requestBody: policy });
    const gs = googleStorage(emu, await mintToken(emu, `serviceAccount:${email}`));
    const listed = await gs.objects.list({ bucket: BUCKET, prefix: 'seed/' });
    expect(listed.data.items?.length).toBeGreaterThan(0);
    expect((await gs.buckets.get({ bucket: BUCKET })).data.name).toBe(BUCKET);
    expect(
      (
        await failure(() =>
          gs.objects.get({ bucket: BUCKET, object: listed.data.items?.[0]?.name as string, alt: 'media' }),
        )
      ).status,
    ).toBe(403);
  });
});
