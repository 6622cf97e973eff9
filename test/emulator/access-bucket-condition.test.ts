// BucketConditionBackend against the emulator through googleapis, as the controller's own service account holding
// only the custom role docs/access.md describes; jobs act through @google-cloud/storage.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AccessError, type GrantRequest } from '../../src/access/backend.js';
import { BucketConditionBackend } from '../../src/access/bucket-condition-backend.js';
import { conditionTitle } from '../../src/access/condition.js';
import { IAM_LIMITS } from '../../src/access/limits.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import type { Gcs } from '../../src/gcs/client.js';
import {
  actAs,
  adminAddBinding,
  adminEditBucketPolicy,
  type Binding,
  bucketPolicy,
  CONTROLLER,
  CONTROLLER_PERMISSIONS,
  controllerCalls,
  controllerGcs,
  expectBoundary,
  expectNoAccess,
  type GcsCallRecord,
  ROLE,
  wiPrincipal,
} from './access-support.js';
import { adminJson, counters, createBucket, setConfig, start } from './clients.js';

const DRIVER = wiPrincipal('team-a', 'spark');
const EXECUTOR = wiPrincipal('team-a', 'executor');
const OTHER = wiPrincipal('team-a', 'other');
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
  bucket = `bc-access-${++n}`;
  await createBucket(emu, bucket);
  ({ gcs, calls } = await controllerGcs(emu, bucket, `bc${n}`, CONTROLLER_PERMISSIONS.BucketCondition));
  await counters(emu, true);
});
afterEach(async () => {
  await setConfig(emu, { bucketWriteLimitPerSecond: 0, faults: [] });
});

function request(job: string, members: string[], applied: string[] = [], ns = 'team-a'): GrantRequest {
  return { bucket, prefix: `${ROOT}/${ns}/${job}/`, role: ROLE, members, applied, job: { namespace: ns, name: job } };
}

/** The members of Tidemark's binding for `job` in the stored policy. */
async function storedMembers(job: string, ns = 'team-a'): Promise<string[] | undefined> {
  const p = await bucketPolicy(emu, bucket);
  const title = conditionTitle({ namespace: ns, name: job });
  const bs = (p.bindings ?? []).filter((b) => b.condition?.title === title);
  return bs.length === 0 ? undefined : bs.flatMap((b) => b.members).sort();
}

const backend = (extra: Partial<ConstructorParameters<typeof BucketConditionBackend>[0]> = {}) =>
  new BucketConditionBackend({ gcs, minWriteIntervalMs: 0, backoffBaseMs: 5, ...extra });

describe('BucketConditionBackend', () => {
  it('grants a prefix-conditional binding; the job stays inside its prefix (list prefix included); revoke → 403', async () => {
    const b = backend();
    const obs = await b.apply(request('job', [DRIVER, EXECUTOR]));
    expect(obs).toEqual({ members: [DRIVER, EXECUTOR].sort(), prefixReady: true });
    await b.apply(request('job2', [OTHER]));
    const p = await bucketPolicy(emu, bucket);
    expect(p.version).toBe(3);
    expect(p.bindings?.find((x) => x.condition?.title === 'tidemark:team-a/job')).toMatchObject({
      role: ROLE,
      members: [DRIVER, EXECUTOR].sort(),
    });

    const driver = await actAs(emu, DRIVER);
    await expectBoundary(emu, driver, bucket, `${ROOT}/team-a/job/`, `${ROOT}/team-a/job2/`);
    await expectBoundary(emu, await actAs(emu, EXECUTOR), bucket, `${ROOT}/team-a/job/`, `${ROOT}/team-a/job2/`);

    expect(await b.apply(request('job', [], [DRIVER, EXECUTOR]))).toEqual({ members: [], prefixReady: true });
    expect(await storedMembers('job')).toBeUndefined();
    await expectNoAccess(driver, bucket, `${ROOT}/team-a/job/`);
    expect(await storedMembers('job2')).toEqual([OTHER]);
  });

  it('a malformed or truncated getIamPolicy answer is an error, never an empty policy: foreign bindings survive (issue 15)', async () => {
    const foreign: Binding = { role: 'roles/storage.objectViewer', members: ['user:alice@example.com'] };
    await adminEditBucketPolicy(emu, bucket, (bs) => [...bs, foreign]);
    for (const kind of ['malformedJson', 'truncated'] as const) {
      await setConfig(emu, { faults: [{ op: 'storage.buckets.getIamPolicy', rate: 1, kind, member: CONTROLLER }] });
      const b = backend();
      await b.apply(request(`job-${kind}`, [DRIVER])).catch(() => undefined);
      await setConfig(emu, { faults: [] });
      const p = await bucketPolicy(emu, bucket);
      expect(p.bindings, `after a ${kind} getIamPolicy answer`).toContainEqual(foreign);
    }
  });

  it('foreign bindings, and a foreign member inside Tidemark’s own binding, survive every Tidemark write', async () => {
    const foreign: Binding[] = [
      { role: 'roles/storage.objectViewer', members: ['user:alice@example.com'] },
      {
        role: 'roles/storage.objectViewer',
        members: ['user:carol@example.com'],
        condition: {
          title: 'shared',
          expression: `resource.name.startsWith("projects/_/buckets/${bucket}/objects/shared/")`,
        },
      },
    ];
    await adminEditBucketPolicy(emu, bucket, (bs) => [...bs, ...foreign]);
    const b = backend();
    await Promise.all([b.apply(request('job1', [DRIVER])), b.apply(request('job2', [OTHER]))]);
    // Someone adds bob into Tidemark's binding for job1.
    await adminEditBucketPolicy(emu, bucket, (bs) =>
      bs.map((x) =>
        x.condition?.title === 'tidemark:team-a/job1' ? { ...x, members: [...x.members, 'user:bob@example.com'] } : x,
      ),
    );
    // Tidemark revokes job1 (it applied DRIVER only) and widens job2.
    const [r1, r2] = await Promise.all([
      b.apply(request('job1', [], [DRIVER])),
      b.apply(request('job2', [OTHER, EXECUTOR], [OTHER])),
    ]);
    expect(r1.members).toEqual(['user:bob@example.com']);
    expect(r2.members).toEqual([EXECUTOR, OTHER].sort());

    const p = await bucketPolicy(emu, bucket);
    for (const f of foreign) expect(p.bindings).toContainEqual(f);
    expect(p.bindings?.find((x) => x.members.includes(CONTROLLER))?.role).toMatch(/^projects\/.*\/roles\/bc\d+$/);
    expect(await storedMembers('job1')).toEqual(['user:bob@example.com']);
    expect(await storedMembers('job2')).toEqual([EXECUTOR, OTHER].sort());
  });

  it('50 jobs applied at once: one write, one read and one read-back; every grant present', async () => {
    const b = backend();
    const jobs = Array.from({ length: 50 }, (_, i) => `job-${i}`);
    const results = await Promise.all(jobs.map((j) => b.apply(request(j, [wiPrincipal('team-a', `sa-${j}`)]))));
    results.forEach((r, i) => {
      expect(r.members).toEqual([wiPrincipal('team-a', `sa-job-${i}`)]);
    });
    expect(await controllerCalls(emu, 'storage.buckets.setIamPolicy')).toBe(1);
    expect(await controllerCalls(emu, 'storage.buckets.getIamPolicy')).toBe(2);
    for (const j of jobs) expect(await storedMembers(j)).toEqual([wiPrincipal('team-a', `sa-${j}`)]);
  });

  it('applying a grant that is in place reads once and writes nothing', async () => {
    const b = backend();
    await b.apply(request('job', [DRIVER]));
    await counters(emu, true);
    expect(await b.apply(request('job', [DRIVER], [DRIVER]))).toEqual({ members: [DRIVER], prefixReady: true });
    expect(await controllerCalls(emu, 'storage.buckets.setIamPolicy')).toBe(0);
    expect(await controllerCalls(emu, 'storage.buckets.getIamPolicy')).toBe(1);
  });

  it('a newer change for the same job replaces the older one; both callers get the newer result', async () => {
    const b = backend();
    const [first, second] = await Promise.all([
      b.apply(request('job', [DRIVER])),
      b.apply(request('job', [EXECUTOR], [DRIVER])),
    ]);
    expect(first).toEqual({ members: [EXECUTOR], prefixReady: true });
    expect(second).toEqual(first);
    expect(await storedMembers('job')).toEqual([EXECUTOR]);
    expect(await controllerCalls(emu, 'storage.buckets.setIamPolicy')).toBe(1);
  });

  it('observe for many jobs at once shares one getIamPolicy', async () => {
    const b = backend();
    await b.apply(request('job-3', [DRIVER]));
    calls.length = 0;
    const seen = await Promise.all(Array.from({ length: 20 }, (_, i) => b.observe(request(`job-${i}`, [DRIVER]))));
    expect(calls).toEqual([{ method: 'storage.buckets.getIamPolicy', status: 200 }]);
    expect(seen[3]).toEqual({ members: [DRIVER], prefixReady: true });
    expect(seen[4]).toEqual({ members: [], prefixReady: true });
  });

  it('with the bucket write limit on (1/s), no 429 reaches a caller and the waves coalesce into a few writes', async () => {
    await setConfig(emu, { bucketWriteLimitPerSecond: 1 });
    // The admin writes right before us: our first write falls inside the same second and gets a 429.
    await adminAddBinding(emu, bucket, { role: 'roles/storage.objectViewer', members: ['user:alice@example.com'] });
    const b = new BucketConditionBackend({ gcs, backoffBaseMs: 50 }); // the default 1 s interval
    const wave = (from: number) =>
      Array.from({ length: 10 }, (_, i) =>
        b.apply(request(`job-${from + i}`, [wiPrincipal('team-a', `sa-${from + i}`)])),
      );
    const first = wave(0);
    await new Promise((r) => setTimeout(r, 300));
    const second = wave(10);
    await Promise.all(first);
    const third = wave(20);
    const all = await Promise.all([...first, ...second, ...third]);
    expect(all).toHaveLength(30);
    for (let i = 0; i < 30; i++) expect(await storedMembers(`job-${i}`)).toEqual([wiPrincipal('team-a', `sa-${i}`)]);
    const writes = calls.filter((c) => c.method === 'storage.buckets.setIamPolicy');
    expect(writes.some((c) => c.status === 429)).toBe(true); // the limit was hit ...
    expect(writes.filter((c) => c.status === 200).length).toBeLessThanOrEqual(4); // ... and writes coalesced
  });

  it('a stale etag (someone writes between our read and our write) is retried and both changes survive', async () => {
    // Our policy writes are held 500 ms by the emulator; the moment our read returns, the admin writes.
    await setConfig(emu, {
      faults: [{ op: 'storage.buckets.setIamPolicy', rate: 1, kind: 'slow', delayMs: 500, member: CONTROLLER }],
    });
    let adminWrite: Promise<unknown> | undefined;
    gcs.onCall = (method, status) => {
      calls.push({ method, status });
      if (method === 'storage.buckets.getIamPolicy' && !adminWrite) {
        adminWrite = adminAddBinding(emu, bucket, {
          role: 'roles/storage.objectViewer',
          members: ['user:dave@example.com'],
        });
      }
    };
    const obs = await backend().apply(request('job', [DRIVER]));
    await adminWrite;
    expect(obs.members).toEqual([DRIVER]);
    expect(calls.filter((c) => c.method === 'storage.buckets.setIamPolicy').map((c) => c.status)).toEqual([412, 200]);
    expect(await storedMembers('job')).toEqual([DRIVER]);
    expect((await bucketPolicy(emu, bucket)).bindings).toContainEqual({
      role: 'roles/storage.objectViewer',
      members: ['user:dave@example.com'],
    });
  });

  it('a grant undone between our write and our read-back goes round again and is answered once it shows', async () => {
    // Our reads are held 300 ms by the emulator; the moment our write returns, the admin removes the binding.
    await setConfig(emu, {
      faults: [{ op: 'storage.buckets.getIamPolicy', rate: 1, kind: 'slow', delayMs: 300, member: CONTROLLER }],
    });
    let undo: Promise<unknown> | undefined;
    gcs.onCall = (method, status) => {
      calls.push({ method, status });
      if (method === 'storage.buckets.setIamPolicy' && !undo) {
        undo = adminEditBucketPolicy(emu, bucket, (bs) =>
          bs.filter((x) => x.condition?.title !== 'tidemark:team-a/job'),
        );
      }
    };
    const obs = await backend().apply(request('job', [DRIVER]));
    await undo;
    expect(obs.members).toEqual([DRIVER]);
    expect(calls.filter((c) => c.method === 'storage.buckets.setIamPolicy').map((c) => c.status)).toEqual([200, 200]);
    expect(await storedMembers('job')).toEqual([DRIVER]);
  });

  it('a grant that never sticks is reported after maxRounds with a transient error', async () => {
    const undos: Promise<unknown>[] = [];
    gcs.onCall = (method, status) => {
      calls.push({ method, status });
      if (method === 'storage.buckets.setIamPolicy') {
        undos.push(
          adminEditBucketPolicy(emu, bucket, (bs) => bs.filter((x) => x.condition?.title !== 'tidemark:team-a/job')),
        );
      }
    };
    await setConfig(emu, {
      faults: [{ op: 'storage.buckets.getIamPolicy', rate: 1, kind: 'slow', delayMs: 300, member: CONTROLLER }],
    });
    const err = await backend({ maxRounds: 2 })
      .apply(request('job', [DRIVER]))
      .catch((e: unknown) => e);
    for (const u of await Promise.allSettled(undos)) expect(u.status).toBe('fulfilled');
    expect(undos).toHaveLength(2);
    expect(err).not.toBeInstanceOf(AccessError);
    expect((err as Error).message).toMatch(
      /grant for team-a\/job \(.*\) did not show in the bucket policy after 2 writes/,
    );
  });

  it('a change that would break the 20-conditions-per-role-and-member limit rejects only that job', async () => {
    const shared = 'serviceAccount:shared-spark@tidemark-dev.iam.gserviceaccount.com';
    const b = backend();
    await Promise.all(Array.from({ length: 20 }, (_, i) => b.apply(request(`job-${i}`, [shared]))));
    const [over, fine] = await Promise.allSettled([
      b.apply(request('job-20', [shared])),
      b.apply(request('job-other', [OTHER])),
    ]);
    expect(over.status).toBe('rejected');
    const err = (over as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(AccessError);
    expect((err as AccessError).reason).toBe('IamPolicyLimit');
    expect((err as AccessError).message).toMatch(/under 21 different conditions, over Google's limit of 20/);
    expect(fine).toEqual({ status: 'fulfilled', value: { members: [OTHER], prefixReady: true } });
    expect(await storedMembers('job-20')).toBeUndefined();
    expect(await storedMembers('job-other')).toEqual([OTHER]);
    expect(await storedMembers('job-19')).toEqual([shared]);
  });

  it('problems the user must fix are AccessErrors: no uniform access, missing bucket', async () => {
    const legacy = `bc-legacy-${n}`;
    await createBucket(emu, legacy, { iamConfiguration: { uniformBucketLevelAccess: { enabled: false } } });
    const { gcs: legacyGcs } = await controllerGcs(emu, legacy, `bcl${n}`, CONTROLLER_PERMISSIONS.BucketCondition);
    const err = await new BucketConditionBackend({ gcs: legacyGcs, minWriteIntervalMs: 0 })
      .apply({ ...request('job', [DRIVER]), bucket: legacy })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessError);
    expect((err as AccessError).reason).toBe('UniformAccessRequired');

    // Allowed on its own bucket only, the controller is denied on another (missing) one: permission first.
    const denied = await backend()
      .observe({ ...request('job', [DRIVER]), bucket: 'no-such-bucket' })
      .catch((e: unknown) => e);
    expect((denied as AccessError).reason).toBe('ControllerForbidden');
    expect((denied as AccessError).message).toMatch(/storage\.buckets\.getIamPolicy/);

    // Allowed project-wide, it learns the bucket is missing.
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
            { role: `projects/${emu.projectId}/roles/bc${n}`, members: [CONTROLLER] },
          ],
        },
      }),
    });
    try {
      const missing = await backend()
        .apply({ ...request('job', [DRIVER]), bucket: 'no-such-bucket' })
        .catch((e: unknown) => e);
      expect((missing as AccessError).reason).toBe('BucketNotFound');
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

  it('a failed write fails every caller of that round with the error, and the writer keeps working', async () => {
    await setConfig(emu, { faults: [{ op: 'storage.buckets.setIamPolicy', rate: 1, kind: 503 }] });
    const b = backend();
    const results = await Promise.allSettled([b.apply(request('a', [DRIVER])), b.apply(request('b', [OTHER]))]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).not.toBeInstanceOf(AccessError);
      expect(((r as PromiseRejectedResult).reason as { status?: number }).status).toBe(503);
    }
    await setConfig(emu, { faults: [] });
    expect((await b.apply(request('a', [DRIVER]))).members).toEqual([DRIVER]);
  });

  it('submit hands the change over and returns at once; the job is woken when the write is read back', async () => {
    const woken: string[] = [];
    const b = backend({ minWriteIntervalMs: 0, wake: (j) => woken.push(`${j.namespace}/${j.name}`) });
    await b.apply(request('old', [OTHER]));
    const first = b.submit(request('job', [DRIVER]));
    expect(first.kind).toBe('Pending');
    expect(b.submit(request('job', [DRIVER])).kind).toBe('Pending');
    await expect.poll(() => woken).toEqual(['team-a/job']);
    expect(await storedMembers('job')).toEqual([DRIVER]);
    expect(b.submit(request('job', [DRIVER]))).toEqual({
      kind: 'Applied',
      observation: { members: [DRIVER], prefixReady: true },
      previous: [],
    });
    // A revoke of a member Tidemark recorded: handed over, woken, answered with what the policy held before.
    expect(b.submit(request('job', [], [DRIVER])).kind).toBe('Pending');
    await expect.poll(() => woken.length).toBe(2);
    expect(b.submit(request('job', [], [DRIVER]))).toEqual({
      kind: 'Applied',
      observation: { members: [], prefixReady: true },
      previous: [DRIVER],
    });
    expect(await storedMembers('old')).toEqual([OTHER]);
  });

  it("a submitted change's error (IamPolicyLimit) wakes the job and is thrown by its next submit", async () => {
    const woken: string[] = [];
    const b = backend({
      minWriteIntervalMs: 0,
      limits: { ...IAM_LIMITS, principalsPerPolicy: 1 },
      wake: (j) => woken.push(j.name),
    });
    expect(b.submit(request('job', [DRIVER, EXECUTOR])).kind).toBe('Pending');
    await expect.poll(() => woken).toEqual(['job']);
    const err = (() => {
      try {
        b.submit(request('job', [DRIVER, EXECUTOR]));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AccessError);
    expect((err as AccessError).reason).toBe('IamPolicyLimit');
    expect(await storedMembers('job')).toBeUndefined();
  });

  it('a writer whose term ended writes nothing it had queued; its callers get the abort, later submits too', async () => {
    await setConfig(emu, { bucketWriteLimitPerSecond: 1 });
    const term = new AbortController();
    const woken: string[] = [];
    const b = backend({ minWriteIntervalMs: 1000, signal: term.signal, wake: (j) => woken.push(j.name) });
    await b.apply(request('first', [OTHER])); // the next write must wait for its slot (1 s)
    await counters(emu, true);
    expect(b.submit(request('job', [DRIVER])).kind).toBe('Pending');
    const blocking = b.apply(request('other', [EXECUTOR])).catch((e: unknown) => e);
    term.abort(new Error('leadership lost'));
    expect(((await blocking) as Error).message).toBe('leadership lost');
    await expect.poll(() => woken).toEqual(['job']);
    expect(() => b.submit(request('job', [DRIVER]))).toThrow('leadership lost');
    expect(b.submit(request('job', [DRIVER])).kind).toBe('Pending');
    await expect.poll(() => woken.length).toBe(2);
    expect(() => b.submit(request('job', [DRIVER]))).toThrow('leadership lost');
    expect(await controllerCalls(emu, 'storage.buckets.setIamPolicy')).toBe(0);
    expect(await storedMembers('job')).toBeUndefined();
  });

  it.each(CONTROLLER_PERMISSIONS.BucketCondition.map((p) => [p]))(
    'every listed permission is needed: without %s a grant fails with ControllerForbidden',
    async (missing) => {
      const fewer = CONTROLLER_PERMISSIONS.BucketCondition.filter((p) => p !== missing);
      const { gcs: weak } = await controllerGcs(emu, bucket, `bcweak${n}`, fewer);
      await adminEditBucketPolicy(emu, bucket, (bs) =>
        bs.filter((x) => x.role !== `projects/${emu.projectId}/roles/bc${n}`),
      );
      const err = await new BucketConditionBackend({ gcs: weak, minWriteIntervalMs: 0 })
        .apply(request('job', [DRIVER]))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AccessError);
      expect((err as AccessError).reason).toBe('ControllerForbidden');
      expect((err as AccessError).message).toContain(missing);
    },
  );
});
