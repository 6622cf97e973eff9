import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ADMIN_MEMBER,
  type EmulatorConfig,
  HttpError,
  type ResourceRef,
  type StorageView,
} from '../../src/emulator/contract.js';
import { createAuthorizer, denialMessage } from '../../src/emulator/iam/authorizer.js';
import { applyWrite, parsePolicy } from '../../src/emulator/iam/policy.js';
import { bucketKey, folderKey, IamState, PROJECT_KEY } from '../../src/emulator/iam/state.js';

// A stand-in for the storage half (our own seam, not a Google client).
function fakeStorage(buckets: Record<string, { ubla: boolean; objects?: string[] }>, delayMs = 0): StorageView {
  const config: EmulatorConfig = {
    latencyMs: 0,
    bucketWriteLimitPerSecond: 0,
    iamPropagationDelayMs: delayMs,
    faults: [],
  };
  return {
    bucketExists: (b) => b in buckets,
    uniformBucketLevelAccess: (b) => buckets[b]?.ubla ?? false,
    hasObjectsUnder: (b, p) => (buckets[b]?.objects ?? []).some((o) => o.startsWith(p)),
    bucketMetadataWrite: () => {},
    config: () => config,
    projectId: 'proj',
    projectNumber: '123',
    baseUrl: () => 'http://127.0.0.1:1',
  };
}

const SA = 'serviceAccount:job@proj.iam.gserviceaccount.com';
const OTHER = 'serviceAccount:other@proj.iam.gserviceaccount.com';

function setup(delayMs = 0) {
  let now = 1_000_000;
  const storage = fakeStorage({ b: { ubla: true }, legacy: { ubla: false } }, delayMs);
  const state = new IamState(storage, 'admin-secret', () => now);
  const write = (key: string, raw: unknown, kind: 'bucket' | 'project' | 'managedFolder' = 'bucket') => {
    const current =
      key === PROJECT_KEY
        ? state.projectPolicy()
        : key.includes('/f/')
          ? state.policies.get(key)
          : state.bucketPolicy(key.slice(2));
    state.policies.set(
      key,
      applyWrite(
        current,
        parsePolicy(raw, (r) => state.roles.exists(r), kind),
        { kind, uniformBucketLevelAccess: true },
      ),
    );
  };
  const can = (member: string, permission: string, ref: ResourceRef) =>
    state.allowed(member, permission, { kind: 'storage', ref });
  return {
    state,
    write,
    can,
    tick: (ms: number) => {
      now += ms;
    },
  };
}

describe('IamState.allowed', () => {
  it('the admin member may do anything; nobody else may do anything by default', () => {
    const { can } = setup();
    expect(can(ADMIN_MEMBER, 'storage.buckets.setIamPolicy', { bucket: 'b' })).toBe(true);
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(false);
  });

  it('a bucket binding grants the role permissions on the bucket and its objects, nothing else', () => {
    const { can, write } = setup();
    write(bucketKey('b'), { bindings: [{ role: 'roles/storage.objectViewer', members: [SA] }] });
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'any/thing' })).toBe(true);
    expect(can(SA, 'storage.objects.list', { bucket: 'b', listPrefix: '' })).toBe(true);
    expect(can(SA, 'storage.objects.create', { bucket: 'b', object: 'x' })).toBe(false);
    expect(can(SA, 'storage.objects.get', { bucket: 'legacy', object: 'x' })).toBe(false);
    expect(can(OTHER, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(false);
  });

  it('project bindings are inherited by every bucket; basic roles reach buckets through the default policy', () => {
    const { can, write } = setup();
    write(
      PROJECT_KEY,
      {
        bindings: [
          { role: 'roles/storage.objectAdmin', members: [SA] },
          { role: 'roles/viewer', members: [OTHER] },
        ],
      },
      'project',
    );
    expect(can(SA, 'storage.objects.delete', { bucket: 'legacy', object: 'x' })).toBe(true);
    expect(can(SA, 'storage.objects.delete', { bucket: 'b', object: 'x' })).toBe(true);
    // roles/viewer → projectViewer:proj → legacyBucketReader + legacyObjectReader in each bucket's default policy.
    expect(can(OTHER, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(true);
    expect(can(OTHER, 'storage.objects.list', { bucket: 'b', listPrefix: '' })).toBe(true);
    expect(can(OTHER, 'storage.objects.create', { bucket: 'b', object: 'x' })).toBe(false);
  });

  it('a conditional bucket binding scopes objects by name and lists by the list-prefix attribute', () => {
    const { can, write } = setup();
    const P = 'projects/_/buckets/b/objects/p/job';
    write(bucketKey('b'), {
      version: 3,
      bindings: [
        {
          role: 'roles/storage.objectUser',
          members: [SA],
          condition: {
            title: 'job',
            expression: `resource.name == "${P}" || resource.name.startsWith("${P}/") || api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("p/job/")`,
          },
        },
      ],
    });
    expect(can(SA, 'storage.objects.create', { bucket: 'b', object: 'p/job/offsets/0' })).toBe(true);
    expect(can(SA, 'storage.objects.create', { bucket: 'b', object: 'p/job2/offsets/0' })).toBe(false);
    expect(can(SA, 'storage.objects.list', { bucket: 'b', listPrefix: 'p/job/' })).toBe(true);
    expect(can(SA, 'storage.objects.list', { bucket: 'b', listPrefix: 'p/job2/' })).toBe(false);
    expect(can(SA, 'storage.objects.list', { bucket: 'b', listPrefix: '' })).toBe(false);
    // Bucket-level permissions see resource.name = the bucket: the condition is false there.
    expect(can(SA, 'storage.managedFolders.list', { bucket: 'b' })).toBe(false);
  });

  it('managed folder grants apply to everything under the folder, nested folders adding up', () => {
    const { can, write, state } = setup();
    const now = new Date();
    state.folders.create('b', 'p/', now);
    state.folders.create('b', 'p/job/', now);
    write(
      folderKey('b', 'p/job/'),
      { bindings: [{ role: 'roles/storage.objectUser', members: [SA] }] },
      'managedFolder',
    );
    write(
      folderKey('b', 'p/'),
      { bindings: [{ role: 'roles/storage.objectViewer', members: [OTHER] }] },
      'managedFolder',
    );
    expect(can(SA, 'storage.objects.create', { bucket: 'b', object: 'p/job/x' })).toBe(true);
    expect(can(SA, 'storage.objects.create', { bucket: 'b', object: 'p/job2/x' })).toBe(false);
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'p/x' })).toBe(false);
    expect(can(SA, 'storage.objects.list', { bucket: 'b', listPrefix: 'p/job/' })).toBe(true);
    expect(can(SA, 'storage.objects.list', { bucket: 'b', listPrefix: 'p/job/commits/' })).toBe(true);
    expect(can(SA, 'storage.objects.list', { bucket: 'b', listPrefix: 'p/job' })).toBe(false);
    expect(can(SA, 'storage.objects.list', { bucket: 'b', listPrefix: 'p/' })).toBe(false);
    // OTHER reads the outer folder and, additively, the inner one.
    expect(can(OTHER, 'storage.objects.get', { bucket: 'b', object: 'p/job/x' })).toBe(true);
    expect(can(OTHER, 'storage.objects.create', { bucket: 'b', object: 'p/job/x' })).toBe(false);
    expect(can(SA, 'storage.managedFolders.get', { bucket: 'b', managedFolder: 'p/job/' })).toBe(true);
  });

  it('a deleted bucket takes its policy and folders with it', () => {
    const buckets: Record<string, { ubla: boolean }> = { b: { ubla: true } };
    const state = new IamState(fakeStorage(buckets), 'admin-secret');
    state.policies.set(
      bucketKey('b'),
      applyWrite(
        state.bucketPolicy('b'),
        parsePolicy({ bindings: [{ role: 'roles/storage.admin', members: [SA] }] }, () => true, 'bucket'),
        { kind: 'bucket' },
      ),
    );
    state.folders.create('b', 'x/', new Date());
    delete buckets.b;
    expect(state.allowed(SA, 'storage.objects.get', { kind: 'storage', ref: { bucket: 'b', object: 'x/y' } })).toBe(
      false,
    );
    buckets.b = { ubla: true };
    expect(state.folders.list('b')).toEqual([]);
    expect(state.allowed(SA, 'storage.objects.get', { kind: 'storage', ref: { bucket: 'b', object: 'x/y' } })).toBe(
      false,
    );
  });

  it('a new grant takes effect only after the propagation delay, and so does its removal', () => {
    const { can, write, tick } = setup(60_000);
    write(bucketKey('b'), { bindings: [{ role: 'roles/storage.objectViewer', members: [SA] }] });
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(false);
    tick(59_999);
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(false);
    tick(1);
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(true);
    // Rewriting the policy with the same grant keeps it in force; the new member waits.
    write(bucketKey('b'), { bindings: [{ role: 'roles/storage.objectViewer', members: [SA, OTHER] }] });
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(true);
    expect(can(OTHER, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(false);
    // A revoke: still allowed until the delay has passed.
    write(bucketKey('b'), { bindings: [] });
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(true);
    tick(59_999);
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(true);
    tick(1);
    expect(can(SA, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(false);
    expect(can(OTHER, 'storage.objects.get', { bucket: 'b', object: 'x' })).toBe(false);
  });

  it('service accounts: token creators on the account or on the project may impersonate', () => {
    const { state, write } = setup();
    const gsa = 'ctl@proj.iam.gserviceaccount.com';
    const target = { kind: 'serviceAccount' as const, email: gsa };
    expect(state.allowed(SA, 'iam.serviceAccounts.getAccessToken', target)).toBe(false);
    write(PROJECT_KEY, { bindings: [{ role: 'roles/iam.serviceAccountTokenCreator', members: [SA] }] }, 'project');
    expect(state.allowed(SA, 'iam.serviceAccounts.getAccessToken', target)).toBe(true);
    // Project bindings do not reach another project's account.
    expect(
      state.allowed(SA, 'iam.serviceAccounts.getAccessToken', {
        kind: 'serviceAccount',
        email: 'x@elsewhere.iam.gserviceaccount.com',
      }),
    ).toBe(false);
    // Owners cannot mint tokens without the token creator role (as on Google).
    write(PROJECT_KEY, { bindings: [{ role: 'roles/owner', members: [OTHER] }] }, 'project');
    expect(state.allowed(OTHER, 'iam.serviceAccounts.getAccessToken', target)).toBe(false);
  });
});

describe('createAuthorizer', () => {
  it('authenticates minted tokens and refuses unknown and expired ones with 401', () => {
    let now = 0;
    const state = new IamState(fakeStorage({}), 'admin-secret', () => now);
    const auth = createAuthorizer(state);
    const t = state.tokens.mint(SA, 10);
    expect(auth.authenticate(`Bearer ${t.token}`)).toBe(SA);
    expect(auth.authenticate('Bearer admin-secret')).toBe(ADMIN_MEMBER);
    expect(() => auth.authenticate(undefined)).toThrow(/missing required authentication credential/);
    expect(() => auth.authenticate('Bearer nope')).toThrow(/Invalid Credentials/);
    now = 10_000;
    const err = (() => {
      try {
        auth.authenticate(`Bearer ${t.token}`);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(401);
  });

  it('denies with 403 and Google’s message', () => {
    const state = new IamState(fakeStorage({ b: { ubla: true } }), 'admin-secret');
    const auth = createAuthorizer(state);
    let caught: unknown;
    try {
      auth.require(SA, 'storage.objects.create', { bucket: 'b', object: 'p/x' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(HttpError);
    const e = caught as HttpError;
    expect(e.status).toBe(403);
    expect(e.toBody()).toEqual({
      error: {
        code: 403,
        message:
          "job@proj.iam.gserviceaccount.com does not have storage.objects.create access to the Google Cloud Storage object. Permission 'storage.objects.create' denied on resource (or it may not exist).",
        errors: [{ message: e.message, domain: 'global', reason: 'forbidden' }],
      },
    });
    expect(denialMessage(SA, 'storage.objects.list', { bucket: 'b', listPrefix: '' })).toContain(
      'Google Cloud Storage bucket.',
    );
    expect(denialMessage(SA, 'storage.buckets.create', { bucket: 'b' })).toContain(
      'access to the Google Cloud project.',
    );
    expect(denialMessage(SA, 'storage.managedFolders.get', { bucket: 'b', managedFolder: 'f/' })).toContain(
      'managed folder.',
    );
  });
});

describe('property: a token minted for A never acts as B', () => {
  const member = fc.oneof(
    fc.emailAddress().map((e) => `user:${e}`),
    fc.stringMatching(/^[a-z][a-z0-9-]{4,20}$/).map((n) => `serviceAccount:${n}@proj.iam.gserviceaccount.com`),
    fc
      .tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/))
      .map(
        ([ns, ksa]) =>
          `principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/proj.svc.id.goog/subject/ns/${ns}/sa/${ksa}`,
      ),
  );
  const op = fc.constantFrom(
    ['storage.objects.get', { object: 'p/x' }],
    ['storage.objects.create', { object: 'p/y' }],
    ['storage.objects.delete', { object: 'q/z' }],
    ['storage.objects.list', { listPrefix: 'p/' }],
    ['storage.buckets.setIamPolicy', {}],
    ['storage.managedFolders.create', { managedFolder: 'p/' }],
  ) as fc.Arbitrary<[string, Partial<ResourceRef>]>;
  const role = fc.constantFrom(
    'roles/storage.admin',
    'roles/storage.objectUser',
    'roles/storage.objectViewer',
    'roles/storage.legacyBucketOwner',
  );

  it('holds for random members, grants and operations', () => {
    fc.assert(
      fc.property(member, member, role, op, (a, b, r, [permission, ref]) => {
        fc.pre(a.toLowerCase() !== b.toLowerCase());
        const state = new IamState(fakeStorage({ b: { ubla: true } }), 'admin-secret');
        state.policies.set(
          bucketKey('b'),
          applyWrite(
            state.bucketPolicy('b'),
            parsePolicy({ bindings: [{ role: r, members: [b] }] }, () => true, 'bucket'),
            { kind: 'bucket' },
          ),
        );
        const auth = createAuthorizer(state);
        const tokenA = state.tokens.mint(a).token;
        const who = auth.authenticate(`Bearer ${tokenA}`);
        expect(who).toBe(a);
        const target: ResourceRef = { bucket: 'b', ...ref };
        expect(auth.allowed(who, permission, target)).toBe(false);
        // …while B, granted the role, holds what the role says.
        expect(auth.allowed(state.tokens.lookup(state.tokens.mint(b).token) as string, permission, target)).toBe(
          state.roles.permissions(r)?.has(permission) ?? false,
        );
      }),
      { numRuns: 300 },
    );
  });
});
