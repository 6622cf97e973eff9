import { describe, expect, it } from 'vitest';
import { compareFolderPolicy, desiredFolderPolicy, managedFolderName } from '../../../src/access/folder-policy.js';
import type { IamPolicy } from '../../../src/access/merge.js';

const ROLE = 'roles/storage.objectUser';
const A =
  'principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p.svc.id.goog/subject/ns/n/sa/a';
const B =
  'principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p.svc.id.goog/subject/ns/n/sa/b';

describe('desiredFolderPolicy', () => {
  it('is one unconditional binding with sorted, unique members, carrying the etag, as version 3', () => {
    expect(desiredFolderPolicy(ROLE, [B, A, B], 'CAE=')).toEqual({
      version: 3,
      etag: 'CAE=',
      bindings: [{ role: ROLE, members: [A, B] }],
    });
  });
  it('has no bindings to revoke', () => {
    expect(desiredFolderPolicy(ROLE, [])).toEqual({ version: 3, bindings: [] });
  });
  it('refuses an empty role or member', () => {
    expect(() => desiredFolderPolicy('', [A])).toThrow(/role/);
    expect(() => desiredFolderPolicy(ROLE, [''])).toThrow(/members/);
  });
});

describe('managedFolderName', () => {
  it('is the prefix itself', () => expect(managedFolderName('r/ns/job/')).toBe('r/ns/job/'));
  it('refuses a prefix without trailing slash or with a leading one', () => {
    expect(() => managedFolderName('r/ns/job')).toThrow(/end with/);
    expect(() => managedFolderName('/r/')).toThrow(/relative/);
  });
});

describe('compareFolderPolicy', () => {
  const cases: {
    reason: string;
    actual: IamPolicy | undefined;
    want: string[];
    matches: boolean;
    missing?: string[];
    extra?: string[];
    unexpected?: number;
  }[] = [
    {
      reason: 'exactly as wanted',
      actual: { bindings: [{ role: ROLE, members: [B, A] }] },
      want: [A, B],
      matches: true,
    },
    {
      reason: 'members split over two bindings of the role still match',
      actual: {
        bindings: [
          { role: ROLE, members: [A] },
          { role: ROLE, members: [B] },
        ],
      },
      want: [A, B],
      matches: true,
    },
    { reason: 'no policy yet', actual: undefined, want: [A], matches: false, missing: [A] },
    {
      reason: 'a member missing',
      actual: { bindings: [{ role: ROLE, members: [A] }] },
      want: [A, B],
      matches: false,
      missing: [B],
    },
    {
      reason: 'an extra member',
      actual: { bindings: [{ role: ROLE, members: [A, B] }] },
      want: [A],
      matches: false,
      extra: [B],
    },
    {
      reason: 'another role on the folder',
      actual: {
        bindings: [
          { role: ROLE, members: [A] },
          { role: 'roles/storage.admin', members: [B] },
        ],
      },
      want: [A],
      matches: false,
      unexpected: 1,
    },
    {
      reason: 'a conditional binding of the role does not count as the grant',
      actual: { bindings: [{ role: ROLE, members: [A], condition: { title: 't', expression: 'true' } }] },
      want: [A],
      matches: false,
      missing: [A],
      unexpected: 1,
    },
    { reason: 'revoked: empty policy wanted and found', actual: { bindings: [] }, want: [], matches: true },
    {
      reason: 'empty bindings are ignored',
      actual: { bindings: [{ role: 'roles/x', members: [] }] },
      want: [],
      matches: true,
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const r = compareFolderPolicy(c.actual, ROLE, c.want);
      expect(r.matches).toBe(c.matches);
      if (c.missing) expect(r.missing).toEqual(c.missing);
      if (c.extra) expect(r.extra).toEqual(c.extra);
      if (c.unexpected !== undefined) expect(r.unexpected).toHaveLength(c.unexpected);
    });
  }

  it('a desired policy always compares equal to itself', () => {
    expect(compareFolderPolicy(desiredFolderPolicy(ROLE, [A, B]), ROLE, [B, A]).matches).toBe(true);
  });
});
