import { describe, expect, it } from 'vitest';
import {
  applyWrite,
  initialPolicy,
  type ParsedPolicy,
  PolicyWriteError,
  parsePolicy,
  readVersion,
} from '../../src/emulator/iam/policy.js';
import { RoleRegistry } from '../../src/emulator/iam/roles.js';

const roles = new RoleRegistry('proj');
const exists = (r: string) => roles.exists(r);
const SA = 'serviceAccount:a@proj.iam.gserviceaccount.com';
const COND = { title: 't', expression: 'resource.name.startsWith("projects/_/buckets/b/objects/p/")' };

function parse(raw: unknown, kind: 'bucket' | 'project' | 'managedFolder' | 'serviceAccount' = 'bucket'): ParsedPolicy {
  return parsePolicy(raw, exists, kind);
}

function refusal(fn: () => unknown): PolicyWriteError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PolicyWriteError) return err;
    throw err;
  }
  throw new Error('expected a PolicyWriteError');
}

describe('parsePolicy', () => {
  it('merges bindings with the same role and condition and drops empty ones', () => {
    const p = parse({
      bindings: [
        { role: 'roles/storage.objectViewer', members: [SA] },
        { role: 'roles/storage.objectViewer', members: [SA, 'user:b@example.com'] },
        { role: 'roles/storage.objectAdmin', members: [] },
      ],
    });
    expect(p.bindings).toEqual([{ role: 'roles/storage.objectViewer', members: [SA, 'user:b@example.com'] }]);
    expect(p.version).toBe(1);
  });

  it.each([
    [{ version: 2 }, /valid versions are 0, 1 and 3/],
    [{ bindings: {} }, /must be an array/],
    [{ bindings: [{ members: [SA] }] }, /role is required/],
    [{ bindings: [{ role: 'roles/storage.nope', members: [SA] }] }, /roles\/storage.nope is not supported/],
    [{ bindings: [{ role: 'roles/owner', members: [SA] }] }, /roles\/owner is not supported for this resource/],
    [{ bindings: [{ role: 'roles/storage.admin', members: ['bob'] }] }, /Invalid member 'bob'/],
    [
      { version: 3, bindings: [{ role: 'roles/storage.admin', members: [SA], condition: { expression: 'true' } }] },
      /title is required/,
    ],
    [
      {
        version: 3,
        bindings: [
          { role: 'roles/storage.admin', members: [SA], condition: { title: 'x', expression: 'resource.nam == "a"' } },
        ],
      },
      /invalid expression: unsupported attribute 'resource.nam'/,
    ],
  ])('refuses %j', (raw, msg) => {
    const err = refusal(() => parse(raw));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(msg);
  });

  it('allows basic roles on the project only', () => {
    expect(parse({ bindings: [{ role: 'roles/owner', members: [SA] }] }, 'project').bindings).toHaveLength(1);
  });

  it('enforces 1,500 principals per policy', () => {
    const members = Array.from({ length: 1501 }, (_, i) => `user:u${i}@example.com`);
    expect(refusal(() => parse({ bindings: [{ role: 'roles/storage.objectViewer', members }] })).message).toMatch(
      /1501 principals; a policy may have at most 1500/,
    );
  });

  it('enforces 20 bindings per role and principal', () => {
    const bindings = Array.from({ length: 21 }, (_, i) => ({
      role: 'roles/storage.objectUser',
      members: [SA],
      condition: { title: `c${i}`, expression: `resource.name == "${i}"` },
    }));
    expect(refusal(() => parse({ version: 3, bindings })).message).toMatch(/more than 20 bindings/);
  });
});

describe('applyWrite', () => {
  const ubla = { kind: 'bucket' as const, uniformBucketLevelAccess: true, now: 1000 };
  const base = initialPolicy([{ role: 'roles/storage.objectViewer', members: [SA] }]);
  const conditional = applyWrite(
    base,
    parse({
      version: 3,
      etag: base.etag,
      bindings: [{ role: 'roles/storage.objectUser', members: [SA], condition: COND }],
    }),
    ubla,
  );

  it('changes the etag on every write, even an identical one', () => {
    const again = applyWrite(
      base,
      parse({ etag: base.etag, bindings: [{ role: 'roles/storage.objectViewer', members: [SA] }] }),
      ubla,
    );
    expect(again.etag).not.toBe(base.etag);
    const third = applyWrite(again, parse({ etag: again.etag, bindings: [] }), ubla);
    expect(new Set([base.etag, again.etag, third.etag]).size).toBe(3);
  });

  it('a stale etag is 412 on storage and 409 ABORTED on Resource Manager', () => {
    expect(refusal(() => applyWrite(conditional, parse({ etag: base.etag, version: 3 }), ubla)).status).toBe(412);
    const err = refusal(() =>
      applyWrite(conditional, parse({ etag: base.etag, version: 3 }, 'project'), { kind: 'project', now: 0 }),
    );
    expect(err.status).toBe(409);
    expect(err.message).toMatch(/There were concurrent policy changes/);
  });

  it('conditions need version 3', () => {
    const err = refusal(() =>
      applyWrite(
        base,
        parse({ bindings: [{ role: 'roles/storage.objectUser', members: [SA], condition: COND }] }),
        ubla,
      ),
    );
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/require policy version 3/);
  });

  it('conditions need uniform bucket-level access on a bucket', () => {
    const err = refusal(() =>
      applyWrite(
        base,
        parse({ version: 3, bindings: [{ role: 'roles/storage.objectUser', members: [SA], condition: COND }] }),
        { ...ubla, uniformBucketLevelAccess: false },
      ),
    );
    expect(err.message).toMatch(/uniform bucket-level access/);
  });

  it('a version-1 write with the etag over a conditional policy is refused', () => {
    const err = refusal(() => applyWrite(conditional, parse({ etag: conditional.etag, bindings: [] }), ubla));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/must use policy version 3/);
  });

  it('a write without etag overwrites blindly and drops the conditions', () => {
    const blind = applyWrite(
      conditional,
      parse({ bindings: [{ role: 'roles/storage.objectViewer', members: [SA] }] }),
      ubla,
    );
    expect(blind.version).toBe(1);
    expect(blind.bindings.some((b) => b.condition)).toBe(false);
  });

  it('keeps when each grant first appeared, and stamps new ones with now', () => {
    const p1 = applyWrite(undefined, parse({ bindings: [{ role: 'roles/storage.objectViewer', members: [SA] }] }), {
      ...ubla,
      now: 100,
    });
    const p2 = applyWrite(
      p1,
      parse({ bindings: [{ role: 'roles/storage.objectViewer', members: [SA, 'user:b@example.com'] }] }),
      { ...ubla, now: 500 },
    );
    expect(p2.bindings[0]?.since).toEqual([100, 500]);
    // Removing a grant and adding it back starts its clock again.
    const p3 = applyWrite(p2, parse({ bindings: [] }), { ...ubla, now: 600 });
    const p4 = applyWrite(p3, parse({ bindings: [{ role: 'roles/storage.objectViewer', members: [SA] }] }), {
      ...ubla,
      now: 700,
    });
    expect(p4.bindings[0]?.since).toEqual([700]);
  });
});

describe('readVersion', () => {
  const plain = initialPolicy([{ role: 'roles/storage.objectViewer', members: [SA] }]);
  const cond = initialPolicy([{ role: 'roles/storage.objectViewer', members: [SA], condition: COND }]);
  it('answers 1 for a policy without conditions whatever was asked', () => {
    expect(readVersion(plain, undefined)).toBe(1);
    expect(readVersion(plain, '3')).toBe(1);
  });
  it('refuses a version-1 read of a policy with conditions', () => {
    expect(() => readVersion(cond, '1')).toThrow(/cannot be returned in policy version 1/);
    expect(() => readVersion(cond, null)).toThrow(PolicyWriteError);
    expect(readVersion(cond, '3')).toBe(3);
  });
  it('refuses invalid versions', () => {
    expect(() => readVersion(plain, '2')).toThrow(/Invalid requested policy version 2/);
  });
});

describe('RoleRegistry', () => {
  it('knows the predefined roles with Google permission lists', () => {
    const r = new RoleRegistry('proj');
    expect(r.permissions('roles/storage.objectViewer')).toEqual(
      new Set([
        'resourcemanager.projects.get',
        'resourcemanager.projects.list',
        'storage.folders.get',
        'storage.folders.list',
        'storage.managedFolders.get',
        'storage.managedFolders.list',
        'storage.objects.get',
        'storage.objects.list',
      ]),
    );
    expect(r.permissions('roles/storage.legacyObjectReader')).toEqual(new Set(['storage.objects.get']));
    expect(r.permissions('roles/owner')?.has('iam.serviceAccounts.getAccessToken')).toBe(false);
  });

  it('registers custom roles of its project', () => {
    const r = new RoleRegistry('proj');
    const role = r.putCustom('ckptWriter', {
      includedPermissions: ['storage.objects.create', 'storage.objects.create'],
    });
    expect(role).toEqual({
      name: 'projects/proj/roles/ckptWriter',
      title: 'ckptWriter',
      includedPermissions: ['storage.objects.create'],
    });
    expect(r.exists('projects/proj/roles/ckptWriter')).toBe(true);
    expect(() => r.putCustom('projects/other/roles/x1', { includedPermissions: ['a.b.c'] })).toThrow(
      /must belong to project proj/,
    );
    expect(() => r.putCustom('x', { includedPermissions: ['a.b.c'] })).toThrow(/3 to 64 characters/);
    expect(() => r.putCustom('abc', { includedPermissions: ['storage.objects'] })).toThrow(/not valid/);
    expect(() => r.putCustom('abc', { includedPermissions: [] })).toThrow(/non-empty/);
    r.reset();
    expect(r.exists('projects/proj/roles/ckptWriter')).toBe(false);
  });
});
