import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileAllowedServiceAccounts,
  GSA_ANNOTATION,
  type IdentityAccess,
  type IdentityResult,
  jobServiceAccounts,
  resolveJobIdentities,
  resolveServiceAccounts,
  type ServiceAccountLike,
} from '../../../src/policy/identity.js';
import type { SparkApplicationSpecLike } from '../../../src/policy/job.js';

const WI = { projectNumber: '123456789012', pool: 'my-project.svc.id.goog' };
const principal = (ns: string, ksa: string) =>
  `principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/my-project.svc.id.goog/subject/ns/${ns}/sa/${ksa}`;

describe('jobServiceAccounts', () => {
  const cases: {
    reason: string;
    spec: SparkApplicationSpecLike | undefined;
    want: { driver: string; executor: string };
  }[] = [
    { reason: 'nothing set: default for both', spec: undefined, want: { driver: 'default', executor: 'default' } },
    {
      reason: 'empty strings mean unset',
      spec: { driver: { serviceAccount: '' } },
      want: { driver: 'default', executor: 'default' },
    },
    {
      reason: 'executor falls back to the driver',
      spec: { driver: { serviceAccount: 'spark' } },
      want: { driver: 'spark', executor: 'spark' },
    },
    {
      reason: 'both set',
      spec: { driver: { serviceAccount: 'drv' }, executor: { serviceAccount: 'exe' } },
      want: { driver: 'drv', executor: 'exe' },
    },
    {
      reason: 'executor set, driver default',
      spec: { executor: { serviceAccount: 'exe' } },
      want: { driver: 'default', executor: 'exe' },
    },
  ];
  for (const c of cases) it(c.reason, () => expect(jobServiceAccounts(c.spec)).toEqual(c.want));
});

describe('resolveServiceAccounts: the precedence of the Spark Operator v2.5.2 and Spark (issue 8 item 10)', () => {
  const DRV = 'spark.kubernetes.authenticate.driver.serviceAccountName';
  const EXE = 'spark.kubernetes.authenticate.executor.serviceAccountName';
  const tpl = (spec: Record<string, string>) => ({ template: { spec } });
  const cases: {
    reason: string;
    spec: SparkApplicationSpecLike;
    driver: [string, string];
    executor: [string, string];
    disagree?: RegExp;
  }[] = [
    {
      reason: 'spec.driver.serviceAccount alone: both roles (executors fall back to the driver conf)',
      spec: { driver: { serviceAccount: 'a' } },
      driver: ['a', 'spec.driver.serviceAccount'],
      executor: ['a', 'spec.driver.serviceAccount'],
    },
    {
      reason: 'sparkConf driver key alone',
      spec: { sparkConf: { [DRV]: 'c' } },
      driver: ['c', `sparkConf["${DRV}"]`],
      executor: ['c', `sparkConf["${DRV}"]`],
    },
    {
      reason:
        'the driver pod template alone: the driver runs as it, executors as default (Spark falls back to the driver conf only)',
      spec: { driver: tpl({ serviceAccountName: 't' }) },
      driver: ['t', 'spec.driver.template.spec.serviceAccountName'],
      executor: ['default', 'default'],
    },
    {
      reason: 'the deprecated serviceAccount field of the driver template counts too',
      spec: { driver: tpl({ serviceAccount: 't' }) },
      driver: ['t', 'spec.driver.template.spec.serviceAccount'],
      executor: ['default', 'default'],
    },
    {
      reason:
        'spec.driver.serviceAccount beats the sparkConf key (the operator passes it after sparkConf; the last --conf wins)',
      spec: { driver: { serviceAccount: 'a' }, sparkConf: { [DRV]: 'c' } },
      driver: ['a', 'spec.driver.serviceAccount'],
      executor: ['a', 'spec.driver.serviceAccount'],
      disagree: /driver.*"a".*"c"/,
    },
    {
      reason: 'the sparkConf key beats the driver template (Spark overrides the template for the driver)',
      spec: { driver: tpl({ serviceAccountName: 't' }), sparkConf: { [DRV]: 'c' } },
      driver: ['c', `sparkConf["${DRV}"]`],
      executor: ['c', `sparkConf["${DRV}"]`],
      disagree: /"c".*"t"/,
    },
    {
      reason: 'spec.executor.serviceAccount',
      spec: { driver: { serviceAccount: 'a' }, executor: { serviceAccount: 'e' } },
      driver: ['a', 'spec.driver.serviceAccount'],
      executor: ['e', 'spec.executor.serviceAccount'],
    },
    {
      reason: 'sparkConf executor key',
      spec: { sparkConf: { [EXE]: 'x' } },
      driver: ['default', 'default'],
      executor: ['x', `sparkConf["${EXE}"]`],
    },
    {
      reason: 'spec.executor.serviceAccount beats the sparkConf executor key',
      spec: { executor: { serviceAccount: 'e' }, sparkConf: { [EXE]: 'x' } },
      driver: ['default', 'default'],
      executor: ['e', 'spec.executor.serviceAccount'],
      disagree: /executor/,
    },
    {
      reason: 'executor template serviceAccountName alone is kept',
      spec: { executor: tpl({ serviceAccountName: 'et' }) },
      driver: ['default', 'default'],
      executor: ['et', 'spec.executor.template.spec.serviceAccountName'],
    },
    {
      reason: 'executor template serviceAccountName is overwritten by a conf (Spark reads only the deprecated field)',
      spec: { driver: { serviceAccount: 'a' }, executor: tpl({ serviceAccountName: 'et' }) },
      driver: ['a', 'spec.driver.serviceAccount'],
      executor: ['a', 'spec.driver.serviceAccount'],
      disagree: /"et"/,
    },
    {
      reason: 'executor template with the deprecated serviceAccount field wins over every conf',
      spec: { executor: { serviceAccount: 'e', ...tpl({ serviceAccount: 'et' }) } },
      driver: ['default', 'default'],
      executor: ['et', 'spec.executor.template.spec.serviceAccount'],
      disagree: /"e"/,
    },
    {
      reason: 'sources that agree are no disagreement',
      spec: { driver: { serviceAccount: 'a', ...tpl({ serviceAccountName: 'a' }) }, sparkConf: { [DRV]: 'a' } },
      driver: ['a', 'spec.driver.serviceAccount'],
      executor: ['a', 'spec.driver.serviceAccount'],
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const r = resolveServiceAccounts(c.spec);
      expect([r.driver.name, r.driver.source]).toEqual(c.driver);
      expect([r.executor.name, r.executor.source]).toEqual(c.executor);
      if (c.disagree) expect(r.disagreement).toMatch(c.disagree);
      else expect(r.disagreement).toBeUndefined();
    });
  }

  it('the grant goes to the identities the pods run as (driver template → that KSA)', () => {
    const r = resolveJobIdentities({
      namespace: 'team-a',
      spec: { driver: tpl({ serviceAccountName: 'spark' }), sparkConf: { [DRV]: 'other' } },
      access: { identity: 'KubernetesServiceAccount', workloadIdentity: WI },
      serviceAccount: () => undefined,
    });
    expect(r.ok && r.members).toEqual([principal('team-a', 'other')]);
    expect(r.ok && r.disagreement).toMatch(/IdentitySourcesDisagree|"other".*"spark"/);
  });
});

function sas(list: Record<string, string | undefined>): (name: string) => ServiceAccountLike | undefined {
  return (name) => {
    if (!Object.hasOwn(list, name)) return undefined;
    const email = list[name];
    const annotations: Record<string, string> = {};
    if (email !== undefined) annotations[GSA_ANNOTATION] = email;
    return { metadata: { name, annotations } };
  };
}

describe('resolveJobIdentities', () => {
  const gsa = (allowed: string[]): IdentityAccess => ({
    identity: 'GoogleServiceAccount',
    allowedServiceAccounts: allowed,
  });
  const ksa: IdentityAccess = { identity: 'KubernetesServiceAccount', workloadIdentity: WI };
  const cases: {
    reason: string;
    access: IdentityAccess;
    spec?: SparkApplicationSpecLike;
    accounts?: Record<string, string | undefined>;
    want: Partial<IdentityResult> & { ok: boolean };
  }[] = [
    {
      reason: 'KSA mode, default identity: both roles share one principal',
      access: { workloadIdentity: WI },
      want: { ok: true, members: [principal('team-a', 'default')], driver: 'default', executor: 'default' },
    },
    {
      reason: 'KSA mode with distinct driver and executor: two principals, sorted',
      access: ksa,
      spec: { driver: { serviceAccount: 'zeta' }, executor: { serviceAccount: 'alpha' } },
      want: { ok: true, members: [principal('team-a', 'alpha'), principal('team-a', 'zeta')] },
    },
    {
      reason: 'KSA mode does not need the KSA to exist',
      access: ksa,
      spec: { driver: { serviceAccount: 'later' } },
      accounts: {},
      want: { ok: true, members: [principal('team-a', 'later')] },
    },
    {
      reason: 'KSA mode without workloadIdentity',
      access: { identity: 'KubernetesServiceAccount' },
      want: { ok: false, reason: 'InvalidWorkloadIdentity' },
    },
    {
      reason: 'KSA mode with a non-numeric project number',
      access: { workloadIdentity: { projectNumber: 'my-project', pool: WI.pool } },
      want: { ok: false, reason: 'InvalidWorkloadIdentity' },
    },
    {
      reason: 'KSA mode with a pool containing a slash',
      access: { workloadIdentity: { projectNumber: '1', pool: 'a/b' } },
      want: { ok: false, reason: 'InvalidWorkloadIdentity' },
    },
    {
      reason: 'an invalid service account name is refused, not rewritten',
      access: ksa,
      spec: { driver: { serviceAccount: 'Bad_Name' } },
      want: { ok: false, reason: 'InvalidServiceAccountName' },
    },
    {
      reason: 'GSA mode, annotated and allowed by pattern',
      access: gsa(['*@proj.iam.gserviceaccount.com']),
      spec: { driver: { serviceAccount: 'spark' } },
      accounts: { spark: 'etl@proj.iam.gserviceaccount.com' },
      want: { ok: true, members: ['serviceAccount:etl@proj.iam.gserviceaccount.com'] },
    },
    {
      reason: 'GSA mode, two KSAs mapping to one GSA: one member',
      access: gsa(['etl@proj.iam.gserviceaccount.com']),
      spec: { driver: { serviceAccount: 'd' }, executor: { serviceAccount: 'e' } },
      accounts: { d: 'etl@proj.iam.gserviceaccount.com', e: 'etl@proj.iam.gserviceaccount.com' },
      want: { ok: true, members: ['serviceAccount:etl@proj.iam.gserviceaccount.com'] },
    },
    {
      reason: 'GSA mode, KSA missing',
      access: gsa(['*@proj.iam.gserviceaccount.com']),
      accounts: {},
      want: { ok: false, reason: 'ServiceAccountMissing' },
    },
    {
      reason: 'GSA mode, KSA without the annotation',
      access: gsa(['*@proj.iam.gserviceaccount.com']),
      accounts: { default: undefined },
      want: { ok: false, reason: 'ServiceAccountAnnotationMissing' },
    },
    {
      reason: 'GSA mode, annotation empty',
      access: gsa(['*@proj.iam.gserviceaccount.com']),
      accounts: { default: '' },
      want: { ok: false, reason: 'ServiceAccountAnnotationMissing' },
    },
    {
      reason: 'GSA mode, annotation not an email',
      access: gsa(['*@proj.iam.gserviceaccount.com']),
      accounts: { default: 'etl' },
      want: { ok: false, reason: 'InvalidServiceAccountAnnotation' },
    },
    {
      reason: 'GSA mode, GSA of another project',
      access: gsa(['*@proj.iam.gserviceaccount.com']),
      accounts: { default: 'etl@other.iam.gserviceaccount.com' },
      want: { ok: false, reason: 'ServiceAccountNotAllowed' },
    },
    {
      reason: 'GSA mode with an empty allow list allows nothing',
      access: gsa([]),
      accounts: { default: 'etl@proj.iam.gserviceaccount.com' },
      want: { ok: false, reason: 'ServiceAccountNotAllowed' },
    },
    {
      reason: 'GSA mode: the executor is checked too',
      access: gsa(['etl@proj.iam.gserviceaccount.com']),
      spec: { driver: { serviceAccount: 'd' }, executor: { serviceAccount: 'e' } },
      accounts: { d: 'etl@proj.iam.gserviceaccount.com', e: 'admin@proj.iam.gserviceaccount.com' },
      want: { ok: false, reason: 'ServiceAccountNotAllowed' },
    },
    {
      reason: 'GSA mode with an invalid pattern',
      access: gsa(['*']),
      accounts: { default: 'etl@proj.iam.gserviceaccount.com' },
      want: { ok: false, reason: 'InvalidAllowedServiceAccounts' },
    },
    {
      reason: 'unknown identity mode',
      access: { identity: 'Magic' },
      want: { ok: false, reason: 'InvalidIdentityMode' },
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const r = resolveJobIdentities({
        namespace: 'team-a',
        spec: c.spec,
        access: c.access,
        serviceAccount: sas(c.accounts ?? {}),
      });
      expect(r).toMatchObject(c.want);
    });
  }

  it('reports every failing KSA with its role in one message', () => {
    const r = resolveJobIdentities({
      namespace: 'team-a',
      spec: { driver: { serviceAccount: 'd' }, executor: { serviceAccount: 'e' } },
      access: gsa(['*@proj.iam.gserviceaccount.com']),
      serviceAccount: sas({ e: undefined }),
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems.map((p) => [p.serviceAccount, p.reason])).toEqual([
        ['d', 'ServiceAccountMissing'],
        ['e', 'ServiceAccountAnnotationMissing'],
      ]);
      expect(r.message).toContain('ServiceAccount team-a/d (driver)');
      expect(r.message).toContain('ServiceAccount team-a/e (executor)');
    }
  });
});

describe('allowedServiceAccounts patterns', () => {
  const cases: { reason: string; pattern: string; email: string; want: boolean }[] = [
    { reason: 'exact email', pattern: 'a@p.iam.gserviceaccount.com', email: 'a@p.iam.gserviceaccount.com', want: true },
    {
      reason: 'exact email, other name',
      pattern: 'a@p.iam.gserviceaccount.com',
      email: 'b@p.iam.gserviceaccount.com',
      want: false,
    },
    {
      reason: 'local glob',
      pattern: '*@p.iam.gserviceaccount.com',
      email: 'etl-1@p.iam.gserviceaccount.com',
      want: true,
    },
    {
      reason: '* does not cross @ into another project',
      pattern: '*@p.iam.gserviceaccount.com',
      email: 'a@evilp.iam.gserviceaccount.com',
      want: false,
    },
    {
      reason: 'anchored at the end',
      pattern: '*@p.iam.gserviceaccount.com',
      email: 'a@p.iam.gserviceaccount.com.evil.io',
      want: false,
    },
    {
      reason: 'no subdomain injection',
      pattern: '*@p.iam.gserviceaccount.com',
      email: 'a@x.p.iam.gserviceaccount.com',
      want: false,
    },
    {
      reason: 'prefix glob needs a non-empty run',
      pattern: 'spark-*@p.iam.gserviceaccount.com',
      email: 'spark-@p.iam.gserviceaccount.com',
      want: false,
    },
    {
      reason: 'prefix glob',
      pattern: 'spark-*@p.iam.gserviceaccount.com',
      email: 'spark-etl@p.iam.gserviceaccount.com',
      want: true,
    },
    {
      reason: 'prefix glob refuses other names',
      pattern: 'spark-*@p.iam.gserviceaccount.com',
      email: 'sparkx@p.iam.gserviceaccount.com',
      want: false,
    },
    {
      reason: 'dots in the pattern are literal',
      pattern: '*@p.iam.gserviceaccount.com',
      email: 'a@pxiam.gserviceaccount.com',
      want: false,
    },
    {
      reason: '** is the same run as *',
      pattern: 'etl-**@p.iam.gserviceaccount.com',
      email: 'etl-1@p.iam.gserviceaccount.com',
      want: true,
    },
    {
      reason: 'glob inside the name',
      pattern: 'etl-*-prod@p.iam.gserviceaccount.com',
      email: 'etl-x-prod@p.iam.gserviceaccount.com',
      want: true,
    },
    {
      reason: 'glob inside the name keeps both ends',
      pattern: 'etl-*-prod@p.iam.gserviceaccount.com',
      email: 'etl-x-prod2@p.iam.gserviceaccount.com',
      want: false,
    },
    {
      reason: 'only service-account emails match, even a glob',
      pattern: '*@p.iam.gserviceaccount.com',
      email: 'a b@p.iam.gserviceaccount.com',
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      const m = compileAllowedServiceAccounts([c.pattern]);
      if (!m.ok) throw new Error(m.errors.join());
      expect(m.matches(c.email)).toBe(c.want);
    });
  }

  const invalid: [string, RegExp][] = [
    ['*', /exactly one "@"/],
    ['*@*', /never a wildcard/],
    ['*@*.iam.gserviceaccount.com', /never a wildcard/],
    ['*@proj-*.iam.gserviceaccount.com', /never a wildcard/],
    ['a@b@c.com', /not a service account email/],
    ['*@P.iam.gserviceaccount.com', /not a service account domain/],
    ['A@p.iam.gserviceaccount.com', /not a service account email/],
    ['*@p..com', /not a service account domain/],
    ['*@com', /not a service account domain/],
    ['(.*)@p.iam.gserviceaccount.com', /before "@"/],
  ];
  for (const [p, err] of invalid) {
    it(`refuses pattern ${p}`, () => {
      const m = compileAllowedServiceAccounts([p]);
      expect(m.ok).toBe(false);
      if (!m.ok) expect(m.errors.join()).toMatch(err);
    });
  }

  it('a local-part glob matches exactly the emails of that domain (property)', () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
    const m = compileAllowedServiceAccounts(['*@proj.iam.gserviceaccount.com']);
    if (!m.ok) throw new Error();
    fc.assert(
      fc.property(label, fc.array(label, { minLength: 2, maxLength: 4 }), (local, domainLabels) => {
        const domain = domainLabels.join('.');
        expect(m.matches(`${local}@${domain}`)).toBe(domain === 'proj.iam.gserviceaccount.com');
      }),
    );
  });

  it('a name glob never lets an @ through and stays anchored (property)', () => {
    const m = compileAllowedServiceAccounts(['etl-*@p.iam.gserviceaccount.com']);
    if (!m.ok) throw new Error();
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', '.', '@', '-', '1') }),
        fc.constantFrom('', '.evil.io', 'x'),
        (mid, tail) => {
          const email = `etl-${mid}@p.iam.gserviceaccount.com${tail}`;
          const want = tail === '' && /^[a-z0-9._-]*[a-z0-9]$/.test(mid) && !mid.includes('@');
          expect(m.matches(email)).toBe(want);
        },
      ),
    );
  });
});
