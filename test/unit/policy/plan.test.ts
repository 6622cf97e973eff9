import { describe, expect, it } from 'vitest';
import { parseTidemarkCondition } from '../../../src/access/condition.js';
import type { CheckpointPolicy, CheckpointPolicySpec } from '../../../src/api/index.js';
import { resolvePolicy } from '../../../src/policy/effective.js';
import { GSA_ANNOTATION } from '../../../src/policy/identity.js';
import type { LogicalJob } from '../../../src/policy/job.js';
import { findOrphanPrefixes } from '../../../src/policy/naming.js';
import { type JobFacts, type JobPlan, PolicySet, planJob } from '../../../src/policy/plan.js';
import { POLICY_ANNOTATION } from '../../../src/policy/select.js';

const WI = { projectNumber: '123456789012', pool: 'my-project.svc.id.goog' };

function pol(name: string, spec: Partial<CheckpointPolicySpec> = {}): CheckpointPolicy {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'CheckpointPolicy',
    metadata: { name, generation: 3 },
    spec: {
      namespaceSelector: { matchLabels: { env: 'prod' } },
      jobSelector: { matchLabels: { 'tidemark.dev/checkpoint': 'true' } },
      storage: { bucket: 'ckpt-bucket', rootPrefix: 'checkpoints/prod' },
      access: { workloadIdentity: WI },
      ...spec,
    },
  };
}

describe('resolvePolicy', () => {
  it('applies the CRD defaults and parses durations', () => {
    const r = resolvePolicy(pol('p'));
    expect(r).toEqual({
      ok: true,
      policy: expect.objectContaining({
        name: 'p',
        generation: 3,
        mode: 'ManagedFolder',
        role: 'roles/storage.objectUser',
        identity: 'KubernetesServiceAccount',
        workloadIdentity: WI,
        propagationHoldMs: 60_000,
        retentionMs: 168 * 3_600_000,
        gc: { schedule: '0 3 * * *', dryRun: false, maxDeletesPerRun: 100 },
      }),
    });
  });

  const bad: { reason: string; spec: Partial<CheckpointPolicySpec>; err: RegExp }[] = [
    {
      reason: 'an invalid selector',
      spec: { jobSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } },
      err: /spec.jobSelector: .*non-empty/,
    },
    { reason: 'a bad bucket', spec: { storage: { bucket: 'X', rootPrefix: 'r' } }, err: /spec.storage.bucket/ },
    { reason: 'a bad root', spec: { storage: { bucket: 'ckpt', rootPrefix: 'r/' } }, err: /spec.storage.rootPrefix/ },
    { reason: 'KSA identity without workloadIdentity', spec: { access: {} }, err: /workloadIdentity/ },
    {
      reason: 'GSA identity with no allowed accounts',
      spec: { access: { identity: 'GoogleServiceAccount' } },
      err: /allowedServiceAccounts: required/,
    },
    {
      reason: 'GSA identity with a domain wildcard',
      spec: { access: { identity: 'GoogleServiceAccount', allowedServiceAccounts: ['*@*.iam.gserviceaccount.com'] } },
      err: /never a wildcard/,
    },
    { reason: 'a bad hold', spec: { access: { workloadIdentity: WI, propagationHold: '1y' } }, err: /propagationHold/ },
    { reason: 'a bad retention', spec: { retention: { afterRelease: '-1h' } }, err: /afterRelease/ },
    {
      reason: 'a bad role',
      spec: { access: { workloadIdentity: WI, role: 'storage.admin' } },
      err: /spec.access.role/,
    },
    { reason: 'zero deletes per run', spec: { gc: { maxDeletesPerRun: 0 } }, err: /maxDeletesPerRun/ },
  ];
  for (const c of bad) {
    it(`reports ${c.reason}`, () => {
      const r = resolvePolicy(pol('p', c.spec));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors.join('\n')).toMatch(c.err);
    });
  }
});

const T1 = '2026-01-01T00:00:00Z';
const T2 = '2026-01-02T00:00:00Z';
const ingest: LogicalJob = { kind: 'SparkApplication', namespace: 'team-a', name: 'ingest' };

function facts(over: Partial<JobFacts> = {}): JobFacts {
  return {
    job: ingest,
    source: {
      labels: { 'tidemark.dev/checkpoint': 'true' },
      annotations: {},
      spec: { driver: { serviceAccount: 'spark' } },
    },
    namespaceLabels: { env: 'prod' },
    serviceAccount: () => undefined,
    ...over,
  };
}

describe('planJob', () => {
  it('provisions a selected job: Checkpoint spec, labels, members (ManagedFolder has no condition)', () => {
    const plan = planJob(new PolicySet([pol('prod')]), facts());
    expect(plan).toMatchObject({
      kind: 'Provision',
      via: 'Selectors',
      bind: { kind: 'Bind' },
      checkpoint: {
        name: 'ingest',
        namespace: 'team-a',
        labels: { 'tidemark.dev/policy': 'prod', 'tidemark.dev/job-kind': 'SparkApplication' },
        spec: {
          policyName: 'prod',
          jobRef: { kind: 'SparkApplication', name: 'ingest' },
          bucket: 'ckpt-bucket',
          prefix: 'checkpoints/prod/team-a/ingest/',
          uri: 'gs://ckpt-bucket/checkpoints/prod/team-a/ingest/',
          access: { mode: 'ManagedFolder', role: 'roles/storage.objectUser' },
          members: [
            'principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/my-project.svc.id.goog/subject/ns/team-a/sa/spark',
          ],
        },
      },
    });
    expect(plan.kind === 'Provision' && plan.condition).toBeUndefined();
  });

  it('gives BucketCondition mode the job’s condition', () => {
    const plan = planJob(
      new PolicySet([pol('prod', { access: { mode: 'BucketCondition', workloadIdentity: WI } })]),
      facts(),
    );
    expect(plan.kind).toBe('Provision');
    if (plan.kind === 'Provision') {
      expect(parseTidemarkCondition(plan.condition)).toEqual({
        bucket: 'ckpt-bucket',
        prefix: 'checkpoints/prod/team-a/ingest/',
        namespace: 'team-a',
        name: 'ingest',
      });
    }
  });

  it('still provisions, with nothing to grant and the reason, when the GSA is not allowed', () => {
    const policy = pol('prod', {
      access: { identity: 'GoogleServiceAccount', allowedServiceAccounts: ['*@proj.iam.gserviceaccount.com'] },
    });
    const plan = planJob(
      new PolicySet([policy]),
      facts({
        serviceAccount: (n) =>
          n === 'spark'
            ? { metadata: { name: n, annotations: { [GSA_ANNOTATION]: 'x@other.iam.gserviceaccount.com' } } }
            : undefined,
      }),
    );
    expect(plan).toMatchObject({ kind: 'Provision', members: [], problem: { reason: 'ServiceAccountNotAllowed' } });
    expect(plan.kind === 'Provision' && plan.checkpoint.spec.members).toEqual([]);
  });

  it('says when the job’s service-account sources disagree, and grants the account the driver runs as', () => {
    const plan = planJob(
      new PolicySet([pol('prod')]),
      facts({
        source: {
          labels: { 'tidemark.dev/checkpoint': 'true' },
          annotations: {},
          spec: { driver: { template: { spec: { serviceAccountName: 'from-template' } } } },
        },
      }),
    );
    expect(plan).toMatchObject({ kind: 'Provision', identityWarning: undefined });
    const both = planJob(
      new PolicySet([pol('prod')]),
      facts({
        source: {
          labels: { 'tidemark.dev/checkpoint': 'true' },
          annotations: {},
          spec: {
            driver: { serviceAccount: 'spark', template: { spec: { serviceAccountName: 'from-template' } } },
          },
        },
      }),
    );
    expect(both).toMatchObject({ kind: 'Provision', identityWarning: { reason: 'IdentitySourcesDisagree' } });
    expect(both.kind === 'Provision' && both.members.every((m) => m.endsWith('/sa/spark'))).toBe(true);
  });

  describe('overlapping roots (issue 8 item 3)', () => {
    const at = (p: CheckpointPolicy, creationTimestamp: string): CheckpointPolicy => ({
      ...p,
      metadata: { ...p.metadata, creationTimestamp: new Date(creationTimestamp) },
    });
    const devOnly = { namespaceSelector: { matchLabels: { env: 'dev' } } };

    it('a job selected by the later of two overlapping policies is Blocked with RootOverlap, naming the other', () => {
      const older = at(pol('older', { ...devOnly, storage: { bucket: 'ckpt-bucket', rootPrefix: 'checkpoints' } }), T1);
      const later = at(pol('prod'), T2); // checkpoints/prod, nested in checkpoints
      const plan = planJob(new PolicySet([later, older]), facts());
      expect(plan).toMatchObject({ kind: 'Blocked', reason: 'RootOverlap', policy: 'prod' });
      expect(plan.kind === 'Blocked' && plan.message).toContain('"older"');
    });

    it('the earlier policy provisions nothing under the later policy’s deeper root (job team-a/* vs root …/team-a)', () => {
      const outer = at(pol('prod', { storage: { bucket: 'ckpt-bucket', rootPrefix: 'checkpoints' } }), T1);
      const inner = at(
        pol('inner', { ...devOnly, storage: { bucket: 'ckpt-bucket', rootPrefix: 'checkpoints/team-a' } }),
        T2,
      );
      const plan = planJob(new PolicySet([outer, inner]), facts());
      expect(plan).toMatchObject({ kind: 'Blocked', reason: 'RootOverlap', policy: 'prod' });
      expect(plan.kind === 'Blocked' && plan.message).toContain('"inner"');
      // Another namespace of the same policy is not affected.
      const other = planJob(new PolicySet([outer, inner]), facts({ job: { ...ingest, namespace: 'team-c' } }));
      expect(other).toMatchObject({ kind: 'Provision' });
    });

    it('the earlier (inner) policy keeps provisioning', () => {
      const inner = at(pol('prod', { storage: { bucket: 'ckpt-bucket', rootPrefix: 'checkpoints/x' } }), T1);
      const outer = at(pol('outer', { ...devOnly, storage: { bucket: 'ckpt-bucket', rootPrefix: 'checkpoints' } }), T2);
      expect(planJob(new PolicySet([outer, inner]), facts())).toMatchObject({ kind: 'Provision' });
      expect(new PolicySet([outer, inner]).shadowedBy('outer')).toBe('prod');
    });
  });

  const cases: { reason: string; policies: CheckpointPolicy[]; facts: JobFacts; want: Partial<JobPlan> }[] = [
    {
      reason: 'no policy selects it',
      policies: [pol('prod')],
      facts: facts({ namespaceLabels: { env: 'dev' } }),
      want: { kind: 'Unselected', reason: 'NoPolicy' },
    },
    {
      reason: 'two policies select it',
      policies: [pol('prod'), pol('prod-2')],
      facts: facts(),
      want: { kind: 'Blocked', reason: 'PolicyConflict' },
    },
    {
      reason: 'the annotation resolves the conflict',
      policies: [pol('prod'), pol('prod-2', { storage: { bucket: 'ckpt-bucket', rootPrefix: 'checkpoints/prod-2' } })],
      facts: facts({
        source: {
          labels: { 'tidemark.dev/checkpoint': 'true' },
          annotations: { [POLICY_ANNOTATION]: 'prod-2' },
          spec: {},
        },
      }),
      want: { kind: 'Provision', via: 'Annotation' },
    },
    {
      reason: 'the annotation cannot opt in a job the jobSelector does not select (issue 8 item 6)',
      policies: [pol('prod')],
      facts: facts({ source: { labels: {}, annotations: { [POLICY_ANNOTATION]: 'prod' }, spec: {} } }),
      want: { kind: 'Blocked', reason: 'AnnotatedPolicyDoesNotSelect', policy: 'prod' },
    },
    {
      reason: 'the selected policy is invalid',
      policies: [pol('prod', { storage: { bucket: 'BAD', rootPrefix: 'r' } })],
      facts: facts(),
      want: { kind: 'Blocked', reason: 'InvalidSpec', policy: 'prod' },
    },
    {
      reason: 'the name is held by a ScheduledSparkApplication',
      policies: [pol('prod')],
      facts: facts({
        existing: {
          jobRef: { kind: 'ScheduledSparkApplication', name: 'ingest' },
          policyName: 'prod',
          bucket: 'ckpt-bucket',
          prefix: 'checkpoints/prod/team-a/ingest/',
          phase: 'Bound',
        },
      }),
      want: { kind: 'Blocked', reason: 'NameConflict' },
    },
    {
      reason: 'its Checkpoint is being deleted',
      policies: [pol('prod')],
      facts: facts({
        existing: {
          jobRef: { kind: 'SparkApplication', name: 'ingest' },
          policyName: 'prod',
          bucket: 'ckpt-bucket',
          prefix: 'checkpoints/prod/team-a/ingest/',
          phase: 'Deleting',
        },
      }),
      want: { kind: 'Blocked', reason: 'Deleting' },
    },
    {
      reason: 'its data lives elsewhere',
      policies: [pol('prod')],
      facts: facts({
        existing: {
          jobRef: { kind: 'SparkApplication', name: 'ingest' },
          policyName: 'old',
          bucket: 'old-bucket',
          prefix: 'x/team-a/ingest/',
          phase: 'Released',
        },
      }),
      want: { kind: 'Blocked', reason: 'LocationMismatch' },
    },
    {
      reason: 'it comes back within retention',
      policies: [pol('prod')],
      facts: facts({
        existing: {
          jobRef: { kind: 'SparkApplication', name: 'ingest' },
          policyName: 'prod',
          bucket: 'ckpt-bucket',
          prefix: 'checkpoints/prod/team-a/ingest/',
          phase: 'Released',
        },
      }),
      want: { kind: 'Provision', bind: { kind: 'Rebind', adoptOrphan: false, policyChanged: false } },
    },
  ];
  for (const c of cases) {
    it(c.reason, () => expect(planJob(new PolicySet(c.policies), c.facts)).toMatchObject(c.want));
  }
});

describe('findOrphanPrefixes', () => {
  it('returns job prefixes without a Checkpoint, and sets junk apart', () => {
    const have = new Set(['team-a/ingest']);
    expect(
      findOrphanPrefixes(
        'ckpt',
        [
          'ckpt/team-a/ingest/',
          'ckpt/team-b/old/',
          'ckpt/team-a/gone/',
          'ckpt/README',
          'ckpt/Bad/x/',
          'ckpt/team-b/old/',
        ],
        (ns, name) => have.has(`${ns}/${name}`),
      ),
    ).toEqual({
      orphans: [
        { namespace: 'team-a', name: 'gone', prefix: 'ckpt/team-a/gone/' },
        { namespace: 'team-b', name: 'old', prefix: 'ckpt/team-b/old/' },
      ],
      unrecognised: ['ckpt/Bad/x/', 'ckpt/README'],
    });
  });
});
