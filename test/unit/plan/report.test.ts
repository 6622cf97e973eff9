// `tidemark plan`'s decisions over manifests (src/plan/report.ts): each outcome a user must be told about, with the
// words the API server and the controller would use.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseText } from '../../../src/plan/input.js';
import { sortManifests } from '../../../src/plan/manifests.js';
import { type JobReport, type PlanReport, planManifests } from '../../../src/plan/report.js';
import { badPolicies, samplePolicy } from '../../integration/crds-cases.js';

const WI = { projectNumber: '123456789012', pool: 'acme-prod.svc.id.goog' };

function policy(
  name: string,
  o: { root?: string; bucket?: string; ns?: Record<string, string>; access?: object } = {},
) {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'CheckpointPolicy',
    metadata: { name },
    spec: {
      namespaceSelector: { matchLabels: o.ns ?? { team: 'streaming' } },
      jobSelector: { matchLabels: { 'tidemark.dev/checkpoint': 'true' } },
      storage: { bucket: o.bucket ?? 'acme-checkpoints', rootPrefix: o.root ?? `checkpoints/${name}` },
      access: o.access ?? { workloadIdentity: WI },
    },
  };
}

function namespace(name: string, labels: Record<string, string> = { team: 'streaming' }) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

function serviceAccount(ns: string, name: string, gsa?: string) {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace: ns, ...(gsa ? { annotations: { 'iam.gke.io/gcp-service-account': gsa } } : {}) },
  };
}

function app(ns: string, name: string, o: { sa?: string; annotations?: Record<string, string>; labels?: object } = {}) {
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: {
      name,
      namespace: ns,
      labels: o.labels ?? { 'tidemark.dev/checkpoint': 'true' },
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: { type: 'Python', mode: 'cluster', driver: { serviceAccount: o.sa ?? 'spark' }, executor: { instances: 1 } },
  };
}

function scheduled(ns: string, name: string) {
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'ScheduledSparkApplication',
    metadata: { name, namespace: ns, labels: { 'tidemark.dev/checkpoint': 'true' } },
    spec: { schedule: '@every 10m', template: app(ns, name).spec },
  };
}

function run(ns: string, schedule: string, name: string) {
  const a = app(ns, name, { labels: { 'sparkoperator.k8s.io/scheduled-app-name': schedule } });
  return {
    ...a,
    metadata: {
      ...a.metadata,
      ownerReferences: [
        { apiVersion: 'sparkoperator.k8s.io/v1beta2', kind: 'ScheduledSparkApplication', name: schedule },
      ],
    },
  };
}

/** Plans objects the way `tidemark plan -f` reads them: through YAML text. */
function plan(...objects: object[]): PlanReport {
  const text = objects.map((o) => stringify(o)).join('---\n');
  return planManifests(sortManifests(parseText('test.yaml', text), { defaultNamespace: 'default' }));
}

function job(r: PlanReport, name: string): JobReport {
  const j = r.jobs.find((x) => x.name === name);
  if (!j) throw new Error(`no job ${name} in ${JSON.stringify(r.jobs)}`);
  return j;
}

describe('tidemark plan: outcomes', () => {
  it('a selected job: its URI, members, role, mode and what admission injects; exit 0', () => {
    const r = plan(policy('prod'), namespace('team-a'), app('team-a', 'clicks', { sa: 'spark' }));
    expect(r.exitCode).toBe(0);
    expect(job(r, 'clicks')).toMatchObject({
      outcome: 'Provision',
      policy: 'prod',
      via: 'Selectors',
      uri: 'gs://acme-checkpoints/checkpoints/prod/team-a/clicks/',
      mode: 'ManagedFolder',
      role: 'roles/storage.objectUser',
      members: [
        'principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-prod.svc.id.goog/subject/ns/team-a/sa/spark',
      ],
      admission: {
        annotations: { 'tidemark.dev/checkpoint-uri': 'gs://acme-checkpoints/checkpoints/prod/team-a/clicks/' },
        sparkConf: {
          'spark.sql.streaming.checkpointLocation': 'gs://acme-checkpoints/checkpoints/prod/team-a/clicks/',
        },
        hadoopConf: { 'fs.gs.create.items.conflict.check.enable': 'false' },
        schedulingGates: ['tidemark.dev/checkpoint-ready'],
      },
    });
  });

  it('jobs no policy selects are listed as such and are no finding', () => {
    const r = plan(policy('prod'), namespace('team-b', { team: 'batch' }), app('team-b', 'etl'));
    expect(job(r, 'etl')).toMatchObject({ outcome: 'Unselected', reason: 'NoPolicy' });
    expect(r.exitCode).toBe(0);
  });

  it('BucketCondition mode shows the binding condition', () => {
    const r = plan(
      policy('prod', { access: { mode: 'BucketCondition', workloadIdentity: WI } }),
      namespace('team-a'),
      app('team-a', 'clicks'),
    );
    const j = job(r, 'clicks');
    expect(j.mode).toBe('BucketCondition');
    expect(j.condition?.expression).toContain('checkpoints/prod/team-a/clicks/');
  });

  it('two policies selecting one job: PolicyConflict, exit 1; the annotation resolves it', () => {
    const both = [policy('a'), policy('b'), namespace('team-a')];
    const r = plan(...both, app('team-a', 'clicks'));
    expect(job(r, 'clicks')).toMatchObject({ outcome: 'Blocked', reason: 'PolicyConflict' });
    expect(job(r, 'clicks').message).toContain('"a"');
    expect(r.exitCode).toBe(1);
    const annotated = plan(...both, app('team-a', 'clicks', { annotations: { 'tidemark.dev/policy': 'b' } }));
    expect(job(annotated, 'clicks')).toMatchObject({ outcome: 'Provision', policy: 'b', via: 'Annotation' });
    expect(annotated.exitCode).toBe(0);
  });

  it('overlapping roots: the later policy (by name, for files) is shadowed and provisions nothing; exit 1', () => {
    const r = plan(
      policy('a-first', { root: 'checkpoints', ns: { team: 'x' } }),
      policy('b-later', { root: 'checkpoints/prod' }),
      policy('c-apart', { root: 'checkpointsx', ns: { team: 'y' } }),
      namespace('team-a'),
      app('team-a', 'clicks'),
    );
    expect(r.policies.map((p) => [p.name, p.status, p.shadowedBy])).toEqual([
      ['a-first', 'Valid', undefined],
      ['b-later', 'Shadowed', 'a-first'],
      ['c-apart', 'Valid', undefined],
    ]);
    expect(job(r, 'clicks')).toMatchObject({ outcome: 'Blocked', reason: 'RootOverlap', policy: 'b-later' });
    expect(r.exitCode).toBe(1);
  });

  it('the creationTimestamp decides which of two overlapping policies is shadowed', () => {
    const older = {
      ...policy('z-old', { root: 'cp' }),
      metadata: { name: 'z-old', creationTimestamp: '2026-01-01T00:00:00Z' },
    };
    const r = plan(older, policy('a-new', { root: 'cp/x' }));
    expect(r.policies.find((p) => p.name === 'a-new')?.shadowedBy).toBe('z-old');
  });

  it('an identity allowedServiceAccounts refuses: Refused with ServiceAccountNotAllowed; exit 1', () => {
    const access = {
      identity: 'GoogleServiceAccount',
      allowedServiceAccounts: ['*@acme-jobs.iam.gserviceaccount.com'],
    };
    const r = plan(
      policy('prod', { access }),
      namespace('team-a'),
      serviceAccount('team-a', 'spark', 'spark@evil-proj.iam.gserviceaccount.com'),
      serviceAccount('team-a', 'good', 'spark@acme-jobs.iam.gserviceaccount.com'),
      app('team-a', 'clicks', { sa: 'spark' }),
      app('team-a', 'fine', { sa: 'good' }),
    );
    expect(job(r, 'clicks')).toMatchObject({ outcome: 'Refused', reason: 'ServiceAccountNotAllowed', members: [] });
    expect(job(r, 'fine')).toMatchObject({
      outcome: 'Provision',
      members: ['serviceAccount:spark@acme-jobs.iam.gserviceaccount.com'],
    });
    expect(r.exitCode).toBe(1);
  });

  it.each(badPolicies)('a policy the API server refuses ($name): its messages, exit 1', ({ set, expect: fragment }) => {
    const p = structuredClone(samplePolicy('bad')) as unknown as Record<string, unknown>;
    for (const [path, value] of Object.entries(set)) setPath(p, path, value);
    const r = plan(p);
    const report = r.policies[0];
    expect(report?.status).toBe('Refused');
    expect(report?.errors.join('\n')).toContain(fragment);
    expect(r.exitCode).toBe(1);
  });

  it('a policy the API server stores but the controller finds invalid: Invalid, and its jobs are blocked', () => {
    const p = policy('prod');
    (p.spec as { retention?: object }).retention = { afterRelease: '1000000h' };
    const r = plan(p, namespace('team-a'), app('team-a', 'clicks'));
    expect(r.policies[0]).toMatchObject({ status: 'Invalid' });
    expect(r.policies[0]?.errors.join()).toContain('spec.retention.afterRelease');
    expect(job(r, 'clicks')).toMatchObject({ outcome: 'Blocked', reason: 'InvalidSpec' });
  });

  it('a scheduled job: its runs share its checkpoint; a run without its schedule is noted', () => {
    const r = plan(
      policy('prod'),
      namespace('team-a'),
      scheduled('team-a', 'hourly'),
      run('team-a', 'hourly', 'hourly-1700000000'),
      run('team-a', 'gone', 'gone-1700000000'),
    );
    expect(r.jobs.map((j) => `${j.kind}/${j.name}`)).toEqual(['ScheduledSparkApplication/hourly']);
    expect(job(r, 'hourly')).toMatchObject({
      outcome: 'Provision',
      uri: 'gs://acme-checkpoints/checkpoints/prod/team-a/hourly/',
      runs: ['hourly-1700000000'],
    });
    expect(r.notes.join()).toContain('ScheduledSparkApplication gone, which is not in the input');
  });

  it('a SparkApplication and a ScheduledSparkApplication of one name: the first keeps it (NameConflict)', () => {
    const r = plan(policy('prod'), namespace('team-a'), scheduled('team-a', 'x'), app('team-a', 'x'));
    expect(r.jobs.map((j) => [j.kind, j.outcome, j.reason])).toEqual([
      ['ScheduledSparkApplication', 'Provision', 'PolicySelected'],
      ['SparkApplication', 'Blocked', 'NameConflict'],
    ]);
  });

  it('a run with only the schedule label is inconsistent: Blocked', () => {
    const r = plan(
      policy('prod'),
      namespace('team-a'),
      app('team-a', 'x-1', { labels: { 'sparkoperator.k8s.io/scheduled-app-name': 'x' } }),
    );
    expect(job(r, 'x-1')).toMatchObject({ outcome: 'Blocked', reason: 'LabelWithoutOwner' });
  });

  it('a namespace missing from the input is known by its name label only (and said so)', () => {
    const p = policy('prod', { ns: { 'kubernetes.io/metadata.name': 'team-a' } });
    const r = plan(p, app('team-a', 'clicks'));
    expect(job(r, 'clicks').outcome).toBe('Provision');
    expect(r.notes.join()).toContain('Namespace team-a is not in the input');
  });
});

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    cur[k] ??= {};
    cur = cur[k] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1] as string;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}
