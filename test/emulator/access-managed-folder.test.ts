// ManagedFolderBackend against the emulator through googleapis, as the controller's own service account holding
// only the custom role docs/access.md describes; the job acts through @google-cloud/storage.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AccessError, type GrantRequest } from '../../src/access/backend.js';
import { ManagedFolderBackend } from '../../src/access/managed-folder-backend.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import type { Gcs } from '../../src/gcs/client.js';
import {
  actAs,
  CONTROLLER_PERMISSIONS,
  controllerCalls,
  controllerGcs,
  expectBoundary,
  expectNoAccess,
  folderPolicy,
  type GcsCallRecord,
  ROLE,
  wiPrincipal,
} from './access-support.js';
import { adminJson, counters, createBucket, googleStorage, start } from './clients.js';

const DRIVER = wiPrincipal('team-a', 'spark');
const EXECUTOR = wiPrincipal('team-a', 'executor');
const ROOT = 'checkpoints/prod';

let emu: RunningEmulator;
let bucket: string;
let gcs: Gcs;
let calls: GcsCallRecord[];
let n = 0;

beforeAll(async () => {
  emu = await start();
});
afterAll(async () => {
  await emu?.stop();
});
beforeEach(async () => {
  bucket = `mf-access-${++n}`;
  await createBucket(emu, bucket);
  ({ gcs, calls } = await controllerGcs(emu, bucket, `mf${n}`, CONTROLLER_PERMISSIONS.ManagedFolder));
  await counters(emu, true);
});

function request(job: string, members: string[], applied: string[] = []): GrantRequest {
  return {
    bucket,
    prefix: `${ROOT}/team-a/${job}/`,
    role: ROLE,
    members,
    applied,
    job: { namespace: 'team-a', name: job },
  };
}

const methods = () => calls.map((c) => `${c.method} ${c.status}`);

describe('ManagedFolderBackend', () => {
  it('creates the folder with exactly the job binding, in 4 calls through observe + apply; the job stays inside its prefix', async () => {
    const backend = new ManagedFolderBackend({ gcs });
    const req = request('job', [EXECUTOR, DRIVER]);
    expect(await backend.observe(req)).toEqual({ members: [], prefixReady: false });
    const obs = await backend.apply(req);
    expect(obs).toEqual({ members: [DRIVER, EXECUTOR].sort(), prefixReady: true });
    expect(methods()).toEqual([
      'storage.managedFolders.getIamPolicy 404',
      'storage.managedFolders.insert 200',
      'storage.managedFolders.getIamPolicy 200',
      'storage.managedFolders.setIamPolicy 200',
    ]);
    const stored = await folderPolicy(emu, bucket, `${ROOT}/team-a/job/`);
    expect(stored.bindings).toEqual([{ role: ROLE, members: [DRIVER, EXECUTOR].sort() }]);
    // A neighbour with its own folder and a different identity.
    await backend.apply(request('job2', [wiPrincipal('team-a', 'other')]));

    await expectBoundary(emu, await actAs(emu, DRIVER), bucket, `${ROOT}/team-a/job/`, `${ROOT}/team-a/job2/`);
    await expectBoundary(emu, await actAs(emu, EXECUTOR), bucket, `${ROOT}/team-a/job/`, `${ROOT}/team-a/job2/`);
  });

  it('apply alone creates a new job in 3 calls (insert, getIamPolicy for the etag, setIamPolicy)', async () => {
    const obs = await new ManagedFolderBackend({ gcs }).apply(request('job', [DRIVER]));
    expect(obs).toEqual({ members: [DRIVER], prefixReady: true });
    expect(methods()).toEqual([
      'storage.managedFolders.insert 200',
      'storage.managedFolders.getIamPolicy 200',
      'storage.managedFolders.setIamPolicy 200',
    ]);
  });

  it('applying the same grant again writes nothing (whether the last answer is remembered or read afresh)', async () => {
    const req = request('job', [DRIVER]);
    const backend = new ManagedFolderBackend({ gcs });
    await backend.apply(req);
    calls.length = 0;
    expect(await backend.apply(req)).toEqual({ members: [DRIVER], prefixReady: true });
    expect(methods()).toEqual([]); // the answer of the write is fresh: no call at all

    // A new backend (a restarted controller) knows nothing: the insert finds the folder, one read, no write.
    expect(await new ManagedFolderBackend({ gcs }).apply(req)).toEqual({ members: [DRIVER], prefixReady: true });
    expect(methods()).toEqual(['storage.managedFolders.insert 409', 'storage.managedFolders.getIamPolicy 200']);

    // After observe (the reconciler's way), apply of a grant in place costs nothing more.
    const observing = new ManagedFolderBackend({ gcs });
    calls.length = 0;
    await observing.observe(req);
    await observing.apply(req);
    expect(methods()).toEqual(['storage.managedFolders.getIamPolicy 200']);
    expect(await controllerCalls(emu, 'storage.managedFolders.setIamPolicy')).toBe(1);
  });

  it('forgets what it read once it is older than snapshotTtlMs, instead of one snapshot per folder ever touched', async () => {
    let now = 1_000_000;
    const backend = new ManagedFolderBackend({ gcs, snapshotTtlMs: 5000, now: () => now });
    for (const job of ['job-a', 'job-b', 'job-c']) await backend.apply(request(job, [DRIVER]));
    expect(backend.rememberedSnapshots).toBe(3);
    now += 5001;
    await backend.observe(request('job-d', []));
    expect(backend.rememberedSnapshots).toBe(1);
  });

  it('revoke empties the folder policy and keeps the folder and its data; the job then gets 403', async () => {
    const backend = new ManagedFolderBackend({ gcs });
    const prefix = `${ROOT}/team-a/job/`;
    await backend.apply(request('job', [DRIVER]));
    const job = await actAs(emu, DRIVER);
    await job.bucket(bucket).file(`${prefix}offsets/0`).save('x', { resumable: false });

    expect(await backend.apply(request('job', [], [DRIVER]))).toEqual({ members: [], prefixReady: true });
    expect((await folderPolicy(emu, bucket, prefix)).bindings ?? []).toEqual([]);
    await expectNoAccess(job, bucket, prefix);
    const folder = await adminJson<{ name: string }>(
      emu,
      `/storage/v1/b/${bucket}/managedFolders/${encodeURIComponent(prefix)}`,
    );
    expect(folder.name).toBe(prefix);
    const objects = await adminJson<{ items?: { name: string }[] }>(
      emu,
      `/storage/v1/b/${bucket}/o?prefix=${encodeURIComponent(prefix)}`,
    );
    expect(objects.items?.map((o) => o.name)).toEqual([`${prefix}offsets/0`]);
    expect(await backend.observe(request('job', []))).toEqual({ members: [], prefixReady: true });
  });

  it('reports bindings Tidemark did not make as foreign, and apply replaces them (as version 3) even when one is conditional', async () => {
    const backend = new ManagedFolderBackend({ gcs, snapshotTtlMs: 0 });
    const prefix = `${ROOT}/team-a/job/`;
    await backend.apply(request('job', [DRIVER]));
    const admin = googleStorage(emu, emu.adminToken);
    const current = await admin.managedFolders.getIamPolicy({
      bucket,
      managedFolder: prefix,
      optionsRequestedPolicyVersion: 3,
    });
    await admin.managedFolders.setIamPolicy({
      bucket,
      managedFolder: prefix,
      requestBody: {
        version: 3,
        etag: current.data.etag,
        bindings: [
          ...(current.data.bindings ?? []),
          { role: 'roles/storage.objectViewer', members: ['allAuthenticatedUsers'] },
          {
            role: ROLE,
            members: ['user:someone@example.com'],
            condition: { title: 'later', expression: 'request.time < timestamp("2099-01-01T00:00:00Z")' },
          },
        ],
      },
    });
    const seen = await backend.observe(request('job', [DRIVER]));
    expect(seen.members).toEqual([DRIVER]);
    expect(seen.foreign).toEqual([
      'roles/storage.objectUser if "later": user:someone@example.com',
      'roles/storage.objectViewer: allAuthenticatedUsers',
    ]);
    expect(await backend.apply(request('job', [DRIVER], [DRIVER]))).toEqual({ members: [DRIVER], prefixReady: true });
    const after = await folderPolicy(emu, bucket, prefix);
    expect(after.bindings).toEqual([{ role: ROLE, members: [DRIVER] }]);
  });

  it('a revoke for a folder that does not exist creates nothing', async () => {
    const backend = new ManagedFolderBackend({ gcs });
    expect(await backend.apply(request('never', [], [DRIVER]))).toEqual({ members: [], prefixReady: false });
    expect(await controllerCalls(emu, 'storage.managedFolders.insert')).toBe(0);
  });

  it('a concurrent writer between our read and our write (412) makes it read again; the policy ends exact', async () => {
    const backend = new ManagedFolderBackend({ gcs, conflictBackoffMs: 1 });
    const prefix = `${ROOT}/team-a/job/`;
    await backend.apply(request('job', [DRIVER]));
    // Our read (observe) ...
    expect((await backend.observe(request('job', [DRIVER, EXECUTOR]))).members).toEqual([DRIVER]);
    // ... someone else writes the folder policy (a foreign binding) ...
    const current = await folderPolicy(emu, bucket, prefix);
    await adminJson(emu, `/storage/v1/b/${bucket}/managedFolders/${encodeURIComponent(prefix)}/iam`, {
      method: 'PUT',
      body: JSON.stringify({
        etag: current.etag,
        bindings: [
          ...(current.bindings ?? []),
          { role: 'roles/storage.objectViewer', members: ['user:eve@example.com'] },
        ],
      }),
    });
    calls.length = 0;
    // ... and our write, with the etag we read, meets a 412 and is redone from a fresh read.
    const obs = await backend.apply(request('job', [DRIVER, EXECUTOR], [DRIVER]));
    expect(methods()).toEqual([
      'storage.managedFolders.setIamPolicy 412',
      'storage.managedFolders.getIamPolicy 200',
      'storage.managedFolders.setIamPolicy 200',
    ]);
    expect(obs.members).toEqual([DRIVER, EXECUTOR].sort());
    // Tidemark owns the folder: its policy is exactly the job's binding again.
    expect((await folderPolicy(emu, bucket, prefix)).bindings).toEqual([
      { role: ROLE, members: [DRIVER, EXECUTOR].sort() },
    ]);
  });

  it('gives up after maxAttempts when every write conflicts, with a transient error', async () => {
    const backend = new ManagedFolderBackend({ gcs, maxAttempts: 3, conflictBackoffMs: 1 });
    await backend.apply(request('job', [DRIVER]));
    await adminJson(emu, '/_emulator/config', {
      method: 'PUT',
      body: JSON.stringify({ faults: [{ op: 'storage.managedFolders.setIamPolicy', rate: 1, kind: 412 }] }),
    });
    try {
      const err = await backend.apply(request('job', [EXECUTOR], [DRIVER])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(AccessError);
      expect((err as Error).message).toMatch(/kept changing under us \(412 on 3 writes\)/);
    } finally {
      await adminJson(emu, '/_emulator/config', { method: 'PUT', body: JSON.stringify({ faults: [] }) });
    }
  });

  it('other failures propagate unchanged (a 503 is not an AccessError)', async () => {
    await adminJson(emu, '/_emulator/config', {
      method: 'PUT',
      body: JSON.stringify({ faults: [{ op: 'storage.managedFolders.insert', rate: 1, kind: 503 }] }),
    });
    try {
      const err = await new ManagedFolderBackend({ gcs }).apply(request('job', [DRIVER])).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(AccessError);
      expect((err as { status?: number }).status).toBe(503);
    } finally {
      await adminJson(emu, '/_emulator/config', { method: 'PUT', body: JSON.stringify({ faults: [] }) });
    }
  });

  it('problems the user must fix are AccessErrors: missing bucket, no uniform access', async () => {
    const backend = new ManagedFolderBackend({ gcs });
    const missing = await backend
      .apply({ ...request('job', [DRIVER]), bucket: 'no-such-bucket' })
      .catch((e: unknown) => e);
    // The controller's role is granted on its own bucket only: on another (missing) bucket it is denied first,
    // as on Google (permission before existence).
    expect(missing).toBeInstanceOf(AccessError);
    expect((missing as AccessError).reason).toBe('ControllerForbidden');

    const legacy = `mf-legacy-${n}`;
    await createBucket(emu, legacy, { iamConfiguration: { uniformBucketLevelAccess: { enabled: false } } });
    const { gcs: legacyGcs } = await controllerGcs(emu, legacy, `mfl${n}`, CONTROLLER_PERMISSIONS.ManagedFolder);
    const err = await new ManagedFolderBackend({ gcs: legacyGcs })
      .apply({ ...request('job', [DRIVER]), bucket: legacy })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessError);
    expect((err as AccessError).reason).toBe('UniformAccessRequired');
    expect((err as AccessError).message).toMatch(/uniform bucket-level access on gs:\/\/mf-legacy-/);
  });

  it('a bucket that does not exist, for a controller allowed project-wide, is BucketNotFound', async () => {
    const role = await adminJson<{ name: string }>(emu, `/_emulator/roles/mfproject${n}`, {
      method: 'PUT',
      body: JSON.stringify({ includedPermissions: CONTROLLER_PERMISSIONS.ManagedFolder }),
    });
    const project = await adminJson<{ etag: string; bindings?: unknown[] }>(
      emu,
      `/v1/projects/${emu.projectId}:getIamPolicy`,
      { method: 'POST', body: '{}' },
    );
    await adminJson(emu, `/v1/projects/${emu.projectId}:setIamPolicy`, {
      method: 'POST',
      body: JSON.stringify({
        policy: {
          etag: project.etag,
          bindings: [
            ...(project.bindings ?? []),
            { role: role.name, members: [`serviceAccount:tidemark-controller@tidemark-dev.iam.gserviceaccount.com`] },
          ],
        },
      }),
    });
    try {
      const err = await new ManagedFolderBackend({ gcs })
        .apply({ ...request('job', [DRIVER]), bucket: 'no-such-bucket' })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AccessError);
      expect((err as AccessError).reason).toBe('BucketNotFound');
      expect((err as AccessError).message).toMatch(/gs:\/\/no-such-bucket does not exist/);
    } finally {
      const now = await adminJson<{ etag: string }>(emu, `/v1/projects/${emu.projectId}:getIamPolicy`, {
        method: 'POST',
        body: '{}',
      });
      await adminJson(emu, `/v1/projects/${emu.projectId}:setIamPolicy`, {
        method: 'POST',
        body: JSON.stringify({ policy: { etag: now.etag, bindings: project.bindings ?? [] } }),
      });
    }
  });

  it.each(CONTROLLER_PERMISSIONS.ManagedFolder.map((p) => [p]))(
    'every listed permission is needed: without %s a new grant fails with ControllerForbidden',
    async (missing) => {
      const fewer = CONTROLLER_PERMISSIONS.ManagedFolder.filter((p) => p !== missing);
      const { gcs: weak } = await controllerGcs(emu, bucket, `mfweak${n}`, fewer);
      // Keep only the weaker role: drop the full one this test's beforeEach granted.
      await dropRole(`projects/${emu.projectId}/roles/mf${n}`);
      const err = await new ManagedFolderBackend({ gcs: weak })
        .apply(request('job', [DRIVER]))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AccessError);
      expect((err as AccessError).reason).toBe('ControllerForbidden');
      expect((err as AccessError).message).toContain(missing);
    },
  );

  it("the controller's role can be limited to managed folders under the policy root (an IAM condition)", async () => {
    await dropRole(`projects/${emu.projectId}/roles/mf${n}`);
    const { gcs: scoped } = await controllerGcs(emu, bucket, `mfscoped${n}`, CONTROLLER_PERMISSIONS.ManagedFolder, {
      title: 'tidemark-root',
      expression: `resource.name.startsWith("projects/_/buckets/${bucket}/managedFolders/${ROOT}/")`,
    });
    const backend = new ManagedFolderBackend({ gcs: scoped });
    expect((await backend.apply(request('job', [DRIVER]))).members).toEqual([DRIVER]);
    const outside = await backend
      .apply({ ...request('job', [DRIVER]), prefix: 'elsewhere/team-a/job/' })
      .catch((e: unknown) => e);
    expect(outside).toBeInstanceOf(AccessError);
    expect((outside as AccessError).reason).toBe('ControllerForbidden');
  });

  it('reports every call to onCall with its status', async () => {
    await new ManagedFolderBackend({ gcs }).apply(request('job', [DRIVER]));
    const c = await counters(emu);
    expect(calls.length).toBeGreaterThan(0);
    for (const m of new Set(calls.map((x) => x.method))) {
      expect(calls.filter((x) => x.method === m).length).toBe(
        (c as unknown as { byOpAndMember: Record<string, Record<string, number>> }).byOpAndMember[m]?.[
          'serviceAccount:tidemark-controller@tidemark-dev.iam.gserviceaccount.com'
        ],
      );
    }
  });
});

async function dropRole(role: string): Promise<void> {
  const p = await adminJson<{ etag: string; bindings?: { role: string }[] }>(
    emu,
    `/storage/v1/b/${bucket}/iam?optionsRequestedPolicyVersion=3`,
  );
  await adminJson(emu, `/storage/v1/b/${bucket}/iam`, {
    method: 'PUT',
    body: JSON.stringify({ version: 3, etag: p.etag, bindings: (p.bindings ?? []).filter((b) => b.role !== role) }),
  });
}
