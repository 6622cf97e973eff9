// The IAM routes called directly (no HTTP server): response shapes and error codes. The same behaviour through
// the real Google clients is covered in test/emulator/iam-*.test.ts.
import { describe, expect, it } from 'vitest';
import {
  ADMIN_MEMBER,
  type EmulatorConfig,
  type EmuRequest,
  type EmuResponse,
  HttpError,
  type IamPart,
  type StorageView,
} from '../../src/emulator/contract.js';
import { createIam } from '../../src/emulator/iam/index.js';

const SA = 'serviceAccount:job@proj.iam.gserviceaccount.com';

function setup() {
  const buckets = new Map<string, { ubla: boolean; objects: string[] }>([
    ['b', { ubla: true, objects: [] }],
    ['fine', { ubla: false, objects: [] }],
  ]);
  let writes = 0;
  const config: EmulatorConfig = { latencyMs: 0, bucketWriteLimitPerSecond: 0, iamPropagationDelayMs: 0, faults: [] };
  const storage: StorageView = {
    bucketExists: (b) => buckets.has(b),
    uniformBucketLevelAccess: (b) => buckets.get(b)?.ubla ?? false,
    hasObjectsUnder: (b, p) => (buckets.get(b)?.objects ?? []).some((o) => o.startsWith(p)),
    bucketMetadataWrite: () => {
      writes++;
    },
    config: () => config,
    projectId: 'proj',
    projectNumber: '123',
    baseUrl: () => 'http://127.0.0.1:4443',
  };
  const iam = createIam(storage, { adminToken: 'admin-secret' });
  return { iam, buckets, writes: () => writes };
}

async function call(
  iam: IamPart,
  method: string,
  path: string,
  opts: {
    params?: Record<string, string>;
    member?: string;
    body?: unknown;
    query?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<EmuResponse> {
  const route = iam.routes.find((r) => r.method === method && r.path === path);
  if (!route) throw new Error(`no route ${method} ${path}`);
  const req: EmuRequest = {
    method,
    url: new URL(`http://127.0.0.1:4443${path}?${opts.query ?? ''}`),
    params: opts.params ?? {},
    query: new URLSearchParams(opts.query ?? ''),
    headers: opts.headers ?? {},
    body: Buffer.from(opts.body === undefined ? '' : JSON.stringify(opts.body)),
    member: route.auth === 'none' ? undefined : (opts.member ?? ADMIN_MEMBER),
  };
  return route.handler(req);
}

async function failure(p: Promise<unknown>): Promise<HttpError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error('expected an HttpError');
}

const IAM = '/storage/v1/b/:bucket/iam';

describe('bucket IAM routes', () => {
  it('a new bucket has Google’s default policy', async () => {
    const { iam } = setup();
    const r = await call(iam, 'GET', IAM, { params: { bucket: 'b' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      kind: 'storage#policy',
      resourceId: 'projects/_/buckets/b',
      version: 1,
      bindings: [
        { role: 'roles/storage.legacyBucketOwner', members: ['projectEditor:proj', 'projectOwner:proj'] },
        { role: 'roles/storage.legacyBucketReader', members: ['projectViewer:proj'] },
        { role: 'roles/storage.legacyObjectOwner', members: ['projectEditor:proj', 'projectOwner:proj'] },
        { role: 'roles/storage.legacyObjectReader', members: ['projectViewer:proj'] },
      ],
    });
    expect((r.body as { etag: string }).etag).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it('PUT counts a bucket-metadata write, returns the new policy with a new etag; 404 for a missing bucket', async () => {
    const { iam, writes } = setup();
    const before = (await call(iam, 'GET', IAM, { params: { bucket: 'b' } })).body as { etag: string };
    const r = await call(iam, 'PUT', IAM, {
      params: { bucket: 'b' },
      body: { etag: before.etag, bindings: [{ role: 'roles/storage.objectViewer', members: [SA] }] },
    });
    expect(writes()).toBe(1);
    expect(r.body).toMatchObject({ version: 1, bindings: [{ role: 'roles/storage.objectViewer', members: [SA] }] });
    expect((r.body as { etag: string }).etag).not.toBe(before.etag);
    expect((await failure(call(iam, 'GET', IAM, { params: { bucket: 'nope' } }))).status).toBe(404);
  });

  it('a caller without getIamPolicy gets 403 even for a missing bucket', async () => {
    const { iam } = setup();
    const e = await failure(call(iam, 'GET', IAM, { params: { bucket: 'nope' }, member: SA }));
    expect(e.status).toBe(403);
    expect(e.message).toBe(
      "job@proj.iam.gserviceaccount.com does not have storage.buckets.getIamPolicy access to the Google Cloud Storage bucket. Permission 'storage.buckets.getIamPolicy' denied on resource (or it may not exist).",
    );
  });

  it('conditions: need v3 and UBLA; a v1 read then fails; a stale etag is 412', async () => {
    const { iam } = setup();
    const cond = { title: 'p', expression: 'resource.name.startsWith("projects/_/buckets/b/objects/p/")' };
    const binding = { role: 'roles/storage.objectUser', members: [SA], condition: cond };
    expect(
      (await failure(call(iam, 'PUT', IAM, { params: { bucket: 'b' }, body: { bindings: [binding] } }))).status,
    ).toBe(400);
    for (const version of [1, 3]) {
      const noUbla = await failure(
        call(iam, 'PUT', IAM, { params: { bucket: 'fine' }, body: { version, bindings: [binding] } }),
      );
      expect(noUbla.status).toBe(412);
      expect(noUbla.message).toMatch(/Uniform bucket-level access must be enabled/);
    }
    const set = await call(iam, 'PUT', IAM, { params: { bucket: 'b' }, body: { version: 3, bindings: [binding] } });
    expect(set.body).toMatchObject({ version: 3, bindings: [binding] });
    expect((await failure(call(iam, 'GET', IAM, { params: { bucket: 'b' } }))).status).toBe(400);
    const v3 = await call(iam, 'GET', IAM, { params: { bucket: 'b' }, query: 'optionsRequestedPolicyVersion=3' });
    expect(v3.body).toMatchObject({ version: 3, bindings: [binding] });
    const e = await failure(
      call(iam, 'PUT', IAM, { params: { bucket: 'b' }, body: { version: 3, etag: 'CAE=', bindings: [] } }),
    );
    expect(e.status).toBe(412);
    expect(e.reason).toBe('conditionNotMet');
  });

  it('testPermissions answers the subset held, at bucket level', async () => {
    const { iam } = setup();
    await call(iam, 'PUT', IAM, {
      params: { bucket: 'b' },
      body: { bindings: [{ role: 'roles/storage.objectViewer', members: [SA] }] },
    });
    const r = await call(iam, 'GET', `${IAM}/testPermissions`, {
      params: { bucket: 'b' },
      member: SA,
      query: 'permissions=storage.objects.list&permissions=storage.objects.create&permissions=storage.buckets.get',
    });
    expect(r.body).toEqual({ kind: 'storage#testIamPermissionsResponse', permissions: ['storage.objects.list'] });
    expect(
      (await failure(call(iam, 'GET', `${IAM}/testPermissions`, { params: { bucket: 'b' }, member: SA }))).status,
    ).toBe(400);
  });
});

describe('managed folder routes', () => {
  const MF = '/storage/v1/b/:bucket/managedFolders';
  it('insert, get, list with paging, IAM, delete (409 when not empty unless allowNonEmpty)', async () => {
    const { iam, buckets } = setup();
    const created = await call(iam, 'POST', MF, { params: { bucket: 'b' }, body: { name: 'p/job' } });
    expect(created.body).toMatchObject({
      kind: 'storage#managedFolder',
      name: 'p/job/',
      bucket: 'b',
      id: 'b/p/job/',
      metageneration: '1',
    });
    expect((await failure(call(iam, 'POST', MF, { params: { bucket: 'b' }, body: { name: 'p/job/' } }))).status).toBe(
      409,
    );
    expect(
      (await failure(call(iam, 'POST', MF, { params: { bucket: 'fine' }, body: { name: 'x/' } }))).message,
    ).toMatch(/uniform bucket-level access/);
    for (const n of ['p/a/', 'p/b/', 'q/']) await call(iam, 'POST', MF, { params: { bucket: 'b' }, body: { name: n } });
    const page1 = (await call(iam, 'GET', MF, { params: { bucket: 'b' }, query: 'prefix=p/&pageSize=2' })).body as {
      items: { name: string }[];
      nextPageToken?: string;
    };
    expect(page1.items.map((i) => i.name)).toEqual(['p/a/', 'p/b/']);
    const page2 = (
      await call(iam, 'GET', MF, {
        params: { bucket: 'b' },
        query: `prefix=p/&pageSize=2&pageToken=${page1.nextPageToken}`,
      })
    ).body as { items: { name: string }[]; nextPageToken?: string };
    expect(page2.items.map((i) => i.name)).toEqual(['p/job/']);
    expect(page2.nextPageToken).toBeUndefined();

    const set = await call(iam, 'PUT', `${MF}/:folder/iam`, {
      params: { bucket: 'b', folder: 'p/job/' },
      body: { bindings: [{ role: 'roles/storage.objectUser', members: [SA] }] },
    });
    expect(set.body).toMatchObject({
      kind: 'storage#policy',
      resourceId: 'projects/_/buckets/b/managedFolders/p/job/',
    });
    const got = await call(iam, 'GET', `${MF}/:folder`, { params: { bucket: 'b', folder: 'p/job/' } });
    expect(got.body).toMatchObject({ metageneration: '2' });
    expect(iam.authorizer.allowed(SA, 'storage.objects.create', { bucket: 'b', object: 'p/job/x' })).toBe(true);

    buckets.get('b')?.objects.push('p/job/x');
    expect(
      (await failure(call(iam, 'DELETE', `${MF}/:folder`, { params: { bucket: 'b', folder: 'p/job/' } }))).status,
    ).toBe(409);
    expect(
      (
        await failure(
          call(iam, 'DELETE', `${MF}/:folder`, {
            params: { bucket: 'b', folder: 'p/job/' },
            query: 'ifMetagenerationMatch=1',
          }),
        )
      ).status,
    ).toBe(412);
    const del = await call(iam, 'DELETE', `${MF}/:folder`, {
      params: { bucket: 'b', folder: 'p/job/' },
      query: 'allowNonEmpty=true',
    });
    expect(del.status).toBe(204);
    expect(iam.authorizer.allowed(SA, 'storage.objects.create', { bucket: 'b', object: 'p/job/x' })).toBe(false);
    expect(iam.hasManagedFolders?.('b')).toBe(true);
    iam.bucketDeleted?.('b');
    expect(iam.hasManagedFolders?.('b')).toBe(false);
  });
});

describe('Resource Manager routes', () => {
  const GET = '/v1/projects/:project:getIamPolicy';
  const SET = '/v1/projects/:project:setIamPolicy';
  it('a stale etag is 409 ABORTED; a v1 read of conditions folds them into _withcond_ roles', async () => {
    const { iam } = setup();
    const p0 = (await call(iam, 'POST', GET, { params: { project: 'proj' } })).body as { etag: string };
    const cond = { title: 't', expression: 'request.time < timestamp("2999-01-01T00:00:00Z")' };
    await call(iam, 'POST', SET, {
      params: { project: 'proj' },
      body: {
        policy: {
          version: 3,
          etag: p0.etag,
          bindings: [{ role: 'roles/storage.admin', members: [SA], condition: cond }],
        },
      },
    });
    const e = await failure(
      call(iam, 'POST', SET, { params: { project: 'proj' }, body: { policy: { etag: p0.etag } } }),
    );
    expect(e.status).toBe(409);
    expect(e.toBody()).toMatchObject({ error: { status: 'ABORTED', code: 409 } });
    const v1 = (await call(iam, 'POST', GET, { params: { project: '123' } })).body as { bindings: { role: string }[] };
    expect(v1.bindings[0]?.role).toMatch(/^roles\/storage\.admin_withcond_[0-9a-f]{20}$/);
    const v3 = await call(iam, 'POST', GET, {
      params: { project: 'proj' },
      body: { options: { requestedPolicyVersion: 3 } },
    });
    expect(v3.body).toMatchObject({ version: 3, bindings: [{ role: 'roles/storage.admin', condition: cond }] });
    expect(iam.authorizer.allowed(SA, 'storage.buckets.delete', { bucket: 'fine' })).toBe(true);
    const other = await failure(call(iam, 'POST', GET, { params: { project: 'someone-else' }, member: SA }));
    expect(other.status).toBe(403);
  });
});

describe('IAM Credentials route', () => {
  const GEN = '/v1/projects/:project/serviceAccounts/:email:generateAccessToken';
  it('needs getAccessToken on the account and answers accessToken + RFC 3339 expireTime', async () => {
    const { iam } = setup();
    const gsa = 'ctl@proj.iam.gserviceaccount.com';
    const params = { project: '-', email: gsa };
    const body = { scope: ['https://www.googleapis.com/auth/cloud-platform'], lifetime: '600s' };
    const denied = await failure(call(iam, 'POST', GEN, { params, member: SA, body }));
    expect(denied.status).toBe(403);
    expect(denied.toBody()).toMatchObject({
      error: {
        status: 'PERMISSION_DENIED',
        details: [{ reason: 'IAM_PERMISSION_DENIED', metadata: { permission: 'iam.serviceAccounts.getAccessToken' } }],
      },
    });
    await call(iam, 'POST', '/v1/projects/:project/serviceAccounts/:email:setIamPolicy', {
      params,
      body: { policy: { bindings: [{ role: 'roles/iam.serviceAccountTokenCreator', members: [SA] }] } },
    });
    const ok = await call(iam, 'POST', GEN, { params, member: SA, body });
    const { accessToken, expireTime } = ok.body as { accessToken: string; expireTime: string };
    expect(expireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(iam.authorizer.authenticate(`Bearer ${accessToken}`)).toBe(`serviceAccount:${gsa}`);
    expect((await failure(call(iam, 'POST', GEN, { params, member: SA, body: { scope: [] } }))).status).toBe(400);
    expect(
      (await failure(call(iam, 'POST', GEN, { params, member: SA, body: { ...body, lifetime: '7200s' } }))).status,
    ).toBe(400);
    expect(
      (await failure(call(iam, 'POST', GEN, { params: { project: '-', email: 'bob@example.com' }, member: SA, body })))
        .status,
    ).toBe(404);
  });
});

describe('admin routes', () => {
  it('mints tokens for one member only', async () => {
    const { iam } = setup();
    const r = await call(iam, 'POST', '/_emulator/tokens', { body: { principal: SA } });
    const { access_token, expires_in } = r.body as { access_token: string; expires_in: number };
    expect(expires_in).toBe(3600);
    expect(iam.authorizer.authenticate(`Bearer ${access_token}`)).toBe(SA);
    expect((await failure(call(iam, 'POST', '/_emulator/tokens', { body: { principal: 'allUsers' } }))).status).toBe(
      400,
    );
    expect((await failure(call(iam, 'POST', '/_emulator/tokens', { body: {} }))).status).toBe(400);
    iam.reset();
    expect(() => iam.authorizer.authenticate(`Bearer ${access_token}`)).toThrow(/Invalid Credentials/);
    expect(iam.authorizer.authenticate('Bearer admin-secret')).toBe(ADMIN_MEMBER);
  });

  it('custom roles are grantable once registered', async () => {
    const { iam } = setup();
    const role = 'projects/proj/roles/ckptLister';
    const put = { params: { bucket: 'b' }, body: { bindings: [{ role, members: [SA] }] } };
    expect((await failure(call(iam, 'PUT', IAM, put))).message).toMatch(/not supported/);
    await call(iam, 'PUT', '/_emulator/roles/:role*', {
      params: { role: 'ckptLister' },
      body: { includedPermissions: ['storage.objects.list'] },
    });
    await call(iam, 'PUT', IAM, put);
    expect(iam.authorizer.allowed(SA, 'storage.objects.list', { bucket: 'b', listPrefix: '' })).toBe(true);
    expect(iam.authorizer.allowed(SA, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(false);
  });

  it('the emulator root serves project facts but no identity', async () => {
    const { iam } = setup();
    const headers = { 'metadata-flavor': 'Google' };
    const id = await call(iam, 'GET', '/computeMetadata/v1/:rest*', {
      params: { rest: 'project/numeric-project-id' },
      headers,
    });
    expect(id).toMatchObject({ status: 200, body: '123', headers: { 'Metadata-Flavor': 'Google' } });
    const tok = await call(iam, 'GET', '/computeMetadata/v1/:rest*', {
      params: { rest: 'instance/service-accounts/default/token' },
      headers,
    });
    expect(tok.status).toBe(404);
    const noFlavor = await call(iam, 'GET', '/computeMetadata/v1/:rest*', { params: { rest: 'project/project-id' } });
    expect(noFlavor.status).toBe(403);
  });
});
