import { describe, expect, it } from 'vitest';
import {
  displayMember,
  type MatchContext,
  memberError,
  memberMatches,
  metadataEmail,
  tokenMemberError,
} from '../../src/emulator/iam/members.js';

const POOL = 'proj.svc.id.goog';
const WI = (ns: string, ksa: string, number = '123') =>
  `principal://iam.googleapis.com/projects/${number}/locations/global/workloadIdentityPools/${POOL}/subject/ns/${ns}/sa/${ksa}`;
const SET = (selector: string, number = '123') =>
  `principalSet://iam.googleapis.com/projects/${number}/locations/global/workloadIdentityPools/${POOL}/${selector}`;

function ctx(roles: string[] = []): MatchContext {
  return { projectId: 'proj', projectNumber: '123', hasProjectRole: (r) => roles.includes(r) };
}

describe('memberError', () => {
  it.each([
    'user:a@example.com',
    'serviceAccount:ctl@proj.iam.gserviceaccount.com',
    `serviceAccount:${POOL}[ns1/ksa]`,
    'group:g@example.com',
    'domain:example.com',
    'allUsers',
    'allAuthenticatedUsers',
    'projectOwner:proj',
    WI('ns1', 'spark'),
    SET('namespace/ns1'),
    SET('*'),
  ])('accepts %s', (m) => {
    expect(memberError(m)).toBeUndefined();
  });

  it.each([
    ['a@example.com', /expected <type>:<id>/],
    ['user:not-an-email', /not an email/],
    ['robot:x', /unknown member type 'robot'/],
    ['principal://iam.googleapis.com/projects/x/pools', /expected principal:/],
    ['serviceAccount:', /not a service account email/],
  ])('refuses %s', (m, msg) => {
    expect(memberError(m)).toMatch(msg);
  });
});

describe('tokenMemberError', () => {
  it('refuses sets of principals and the admin member', () => {
    expect(tokenMemberError('allUsers')).toMatch(/one principal/);
    expect(tokenMemberError(SET('*'))).toMatch(/one principal/);
    expect(tokenMemberError('projectOwner:proj')).toMatch(/one principal/);
    expect(tokenMemberError('emulator:admin')).toMatch(/admin/);
    expect(tokenMemberError(WI('a', 'b'))).toBeUndefined();
  });
});

describe('memberMatches', () => {
  it('matches exactly, emails case-insensitively', () => {
    expect(memberMatches('user:A@example.com', 'user:a@example.com', ctx())).toBe(true);
    expect(memberMatches('user:a@example.com', 'user:b@example.com', ctx())).toBe(false);
    expect(memberMatches('user:a@example.com', 'serviceAccount:a@example.com', ctx())).toBe(false);
  });

  it('allUsers and allAuthenticatedUsers cover everyone', () => {
    expect(memberMatches('allUsers', WI('x', 'y'), ctx())).toBe(true);
    expect(memberMatches('allAuthenticatedUsers', 'user:a@example.com', ctx())).toBe(true);
  });

  it('convenience members follow the project policy, for this project only', () => {
    expect(memberMatches('projectOwner:proj', 'user:a@example.com', ctx(['roles/owner']))).toBe(true);
    expect(memberMatches('projectOwner:123', 'user:a@example.com', ctx(['roles/owner']))).toBe(true);
    expect(memberMatches('projectEditor:proj', 'user:a@example.com', ctx(['roles/owner']))).toBe(false);
    expect(memberMatches('projectOwner:other', 'user:a@example.com', ctx(['roles/owner']))).toBe(false);
  });

  it('a namespace principal set covers the KSAs of that namespace only', () => {
    expect(memberMatches(SET('namespace/team-a'), WI('team-a', 'spark'), ctx())).toBe(true);
    expect(memberMatches(SET('namespace/team-a'), WI('team-ab', 'spark'), ctx())).toBe(false);
    expect(memberMatches(SET('namespace/team-a'), WI('team-a', 'spark', '999'), ctx())).toBe(false);
    expect(memberMatches(SET('*'), WI('any', 'one'), ctx())).toBe(true);
    expect(memberMatches(SET('*'), 'serviceAccount:x@proj.iam.gserviceaccount.com', ctx())).toBe(false);
  });

  it('a KSA principal also answers to its legacy serviceAccount:POOL[ns/ksa] member', () => {
    expect(memberMatches(`serviceAccount:${POOL}[team-a/spark]`, WI('team-a', 'spark'), ctx())).toBe(true);
    expect(memberMatches(`serviceAccount:${POOL}[team-a/other]`, WI('team-a', 'spark'), ctx())).toBe(false);
  });

  it('a principal does not match a neighbour with the same prefix', () => {
    expect(memberMatches(WI('team-a', 'spark'), WI('team-a', 'spark2'), ctx())).toBe(false);
  });
});

describe('displayMember / metadataEmail', () => {
  it('shows emails bare, principals whole', () => {
    expect(displayMember('serviceAccount:x@p.iam.gserviceaccount.com')).toBe('x@p.iam.gserviceaccount.com');
    expect(displayMember(WI('a', 'b'))).toBe(WI('a', 'b'));
  });
  it('reports the pool as the email of a direct Workload Identity principal, as GKE does', () => {
    expect(metadataEmail(WI('a', 'b'), 'proj')).toBe(POOL);
    expect(metadataEmail('serviceAccount:x@p.iam.gserviceaccount.com', 'proj')).toBe('x@p.iam.gserviceaccount.com');
  });
});
