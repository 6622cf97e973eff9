import { describe, expect, it } from 'vitest';
import {
  applyWrite,
  initialPolicy,
  type ParsedPolicy,
  PolicyStore,
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
  const ubla = { kind: 'bucket' as const, uniformBucketLevelAccess: true };
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
      applyWrite(conditional, parse({ etag: base.etag, version: 3 }, 'project'), { kind: 'project' }),
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

  it('conditions need uniform bucket-level access on a bucket: 412, checked before the policy version', () => {
    for (const version of [1, 3]) {
      const err = refusal(() =>
        applyWrite(
          base,
          parse({ version, bindings: [{ role: 'roles/storage.objectUser', members: [SA], condition: COND }] }),
          { ...ubla, uniformBucketLevelAccess: false },
        ),
      );
      expect(err.status).toBe(412);
      expect(err.message).toMatch(/Uniform bucket-level access must be enabled/);
    }
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
});

describe('PolicyStore: enforcement lags writes by the propagation delay', () => {
  const v1 = initialPolicy([{ role: 'roles/storage.objectViewer', members: [SA] }]);
  const v2 = initialPolicy([]);
  const v3 = initialPolicy([{ role: 'roles/storage.objectUser', members: [SA] }]);
  function store(delay: number) {
    let now = 1_000;
    let d = delay;
    const s = new PolicyStore(
      () => now,
      () => d,
    );
    return {
      s,
      at: (t: number) => {
        now = t;
      },
      setDelay: (x: number) => {
        d = x;
      },
    };
  }

  it('reads see the latest write at once; enforcement sees the version current `delay` ms ago', () => {
    const { s, at } = store(100);
    s.set('k', v1);
    expect(s.get('k')).toBe(v1);
    expect(s.effective('k')).toBeUndefined();
    at(1_099);
    expect(s.effective('k')).toBeUndefined();
    at(1_100);
    expect(s.effective('k')).toBe(v1);
    s.set('k', v2); // a revoke at 1100
    expect(s.get('k')).toBe(v2);
    at(1_199);
    expect(s.effective('k')).toBe(v1);
    at(1_200);
    expect(s.effective('k')).toBe(v2);
  });

  it('a removed resource keeps its grants until the delay has passed; a re-added grant waits again', () => {
    const { s, at } = store(100);
    s.getOrCreate('f', () => v1); // first seen: in force since ever
    expect(s.effective('f')).toBe(v1);
    s.remove('f');
    expect(s.get('f')).toBeUndefined();
    expect(s.effective('f')).toBe(v1);
    at(1_050);
    s.set('f', v3);
    at(1_100);
    expect(s.effective('f')).toBeUndefined();
    at(1_150);
    expect(s.effective('f')).toBe(v3);
  });

  it('with no delay every write is enforced at once and only the latest version is kept', () => {
    const { s } = store(0);
    s.set('k', v1);
    expect(s.effective('k')).toBe(v1);
    s.set('k', v2);
    expect(s.effective('k')).toBe(v2);
  });

  it('raising the delay does not hide a policy that was in force; lowering it applies at once', () => {
    const { s, at, setDelay } = store(0);
    s.set('k', v1);
    setDelay(1_000);
    at(1_010);
    expect(s.effective('k')).toBe(v1);
    s.set('k', v2);
    expect(s.effective('k')).toBe(v1);
    setDelay(0);
    expect(s.effective('k')).toBe(v2);
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
