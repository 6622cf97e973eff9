import { describe, expect, it } from 'vitest';
import {
  isJobLive,
  type JobResolution,
  jobKey,
  jobSource,
  liveJobKeys,
  logicalJobOf,
  logicalJobOfScheduled,
  SCHEDULED_APP_LABEL,
  type ScheduledSparkApplicationLike,
  type SparkApplicationLike,
} from '../../../src/policy/job.js';

// A small fluent builder, kueue-style.
class AppBuilder {
  private app: SparkApplicationLike;
  constructor(name: string, namespace = 'team-a') {
    this.app = { metadata: { name, namespace, labels: {}, ownerReferences: [] }, spec: {} };
  }
  label(k: string, v: string): this {
    this.app.metadata.labels = { ...this.app.metadata.labels, [k]: v };
    return this;
  }
  scheduledBy(name: string): this {
    return this.label(SCHEDULED_APP_LABEL, name);
  }
  ownedBy(kind: string, name: string, apiVersion = 'sparkoperator.k8s.io/v1beta2'): this {
    this.app.metadata.ownerReferences = [...(this.app.metadata.ownerReferences ?? []), { apiVersion, kind, name }];
    return this;
  }
  deleting(): this {
    this.app.metadata.deletionTimestamp = '2025-01-01T00:00:00Z';
    return this;
  }
  sa(driver?: string, executor?: string): this {
    this.app.spec = { driver: { serviceAccount: driver }, executor: { serviceAccount: executor } };
    return this;
  }
  obj(): SparkApplicationLike {
    return this.app;
  }
}
const app = (name: string, ns?: string) => new AppBuilder(name, ns);
const run = (ssa: string, ts = '1700000000') =>
  app(`${ssa}-${ts}`).scheduledBy(ssa).ownedBy('ScheduledSparkApplication', ssa);

function ssa(name: string, namespace = 'team-a', extra: Partial<ScheduledSparkApplicationLike['metadata']> = {}) {
  return {
    metadata: { name, namespace, labels: { l: 'ssa' }, annotations: { a: 'ssa' }, ...extra },
    spec: { template: { driver: { serviceAccount: 'sched-driver' } } },
  } satisfies ScheduledSparkApplicationLike;
}

describe('logicalJobOf', () => {
  const cases: {
    reason: string;
    app: SparkApplicationLike;
    want: JobResolution | { kind: string; reason?: string };
  }[] = [
    {
      reason: 'a plain SparkApplication is its own job, by name',
      app: app('ingest').obj(),
      want: { kind: 'Job', job: { kind: 'SparkApplication', namespace: 'team-a', name: 'ingest' } },
    },
    {
      reason: 'a run with label and matching owner belongs to its ScheduledSparkApplication',
      app: run('nightly').obj(),
      want: { kind: 'Job', job: { kind: 'ScheduledSparkApplication', namespace: 'team-a', name: 'nightly' } },
    },
    {
      reason: 'an owner of another kind does not make it a scheduled run',
      app: app('x').ownedBy('Deployment', 'd', 'apps/v1').obj(),
      want: { kind: 'Job', job: { kind: 'SparkApplication', namespace: 'team-a', name: 'x' } },
    },
    {
      reason: 'label without owner is inconsistent (label alone is not trusted, nor ignored)',
      app: app('copy').scheduledBy('nightly').obj(),
      want: { kind: 'Inconsistent', reason: 'LabelWithoutOwner' },
    },
    {
      reason: 'owner without label is inconsistent',
      app: app('x').ownedBy('ScheduledSparkApplication', 'nightly').obj(),
      want: { kind: 'Inconsistent', reason: 'OwnerWithoutLabel' },
    },
    {
      reason: 'label and owner naming different schedules is inconsistent',
      app: app('x').scheduledBy('a').ownedBy('ScheduledSparkApplication', 'b').obj(),
      want: { kind: 'Inconsistent', reason: 'OwnerLabelMismatch' },
    },
    {
      reason: 'two schedule owners is inconsistent',
      app: app('x')
        .scheduledBy('a')
        .ownedBy('ScheduledSparkApplication', 'a')
        .ownedBy('ScheduledSparkApplication', 'b')
        .obj(),
      want: { kind: 'Inconsistent', reason: 'MultipleOwners' },
    },
    {
      reason: 'an owner of kind ScheduledSparkApplication from another API group is not the Spark Operator',
      app: app('x').scheduledBy('a').ownedBy('ScheduledSparkApplication', 'a', 'example.com/v1').obj(),
      want: { kind: 'Inconsistent', reason: 'LabelWithoutOwner' },
    },
    {
      reason: 'a missing namespace is invalid',
      app: { metadata: { name: 'x' } },
      want: { kind: 'Invalid' },
    },
    {
      reason: 'an upper-case name is invalid (never rewritten)',
      app: { metadata: { name: 'Ingest', namespace: 'team-a' } },
      want: { kind: 'Invalid' },
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      expect(logicalJobOf(c.app)).toMatchObject(c.want);
    });
  }

  it('every run of a schedule maps to the same job', () => {
    const keys = ['1', '2', '3'].map((ts) => {
      const r = logicalJobOf(run('nightly', ts).obj());
      if (r.kind !== 'Job') throw new Error(r.kind);
      return jobKey(r.job);
    });
    expect(new Set(keys)).toEqual(new Set(['ScheduledSparkApplication/team-a/nightly']));
  });

  it('explains an inconsistent run in a message naming the object', () => {
    const r = logicalJobOf(app('copy').scheduledBy('nightly').obj());
    expect(r.kind === 'Inconsistent' && r.message).toContain('SparkApplication team-a/copy');
  });

  it('a ScheduledSparkApplication is its own job', () => {
    expect(logicalJobOfScheduled(ssa('nightly'))).toEqual({
      kind: 'Job',
      job: { kind: 'ScheduledSparkApplication', namespace: 'team-a', name: 'nightly' },
    });
  });
});

describe('jobSource', () => {
  it('uses the ScheduledSparkApplication labels, annotations and spec.template for a scheduled job', () => {
    const s = ssa('nightly');
    const src = jobSource(
      { kind: 'ScheduledSparkApplication', namespace: 'team-a', name: 'nightly' },
      { app: run('nightly').label('l', 'run').obj(), scheduled: s },
    );
    expect(src).toEqual({
      labels: { l: 'ssa' },
      annotations: { a: 'ssa' },
      spec: { driver: { serviceAccount: 'sched-driver' } },
    });
  });

  it('has no source for a scheduled job whose ScheduledSparkApplication is not given', () => {
    expect(
      jobSource(
        { kind: 'ScheduledSparkApplication', namespace: 'team-a', name: 'nightly' },
        { app: run('nightly').obj() },
      ),
    ).toBeUndefined();
  });

  it('refuses an object of another name', () => {
    expect(
      jobSource({ kind: 'SparkApplication', namespace: 'team-a', name: 'a' }, { app: app('b').obj() }),
    ).toBeUndefined();
  });

  it('uses the SparkApplication itself for a plain job', () => {
    const a = app('ingest').label('x', 'y').sa('drv').obj();
    expect(jobSource({ kind: 'SparkApplication', namespace: 'team-a', name: 'ingest' }, { app: a })).toEqual({
      labels: { x: 'y' },
      annotations: {},
      spec: a.spec,
    });
  });
});

describe('liveness', () => {
  const sched = { kind: 'ScheduledSparkApplication', namespace: 'team-a', name: 'nightly' } as const;
  const plain = { kind: 'SparkApplication', namespace: 'team-a', name: 'ingest' } as const;
  const cases: {
    reason: string;
    apps: SparkApplicationLike[];
    scheduled: ScheduledSparkApplicationLike[];
    job: typeof sched | typeof plain;
    live: boolean;
  }[] = [
    {
      reason: 'a plain app is live while it exists',
      apps: [app('ingest').obj()],
      scheduled: [],
      job: plain,
      live: true,
    },
    { reason: 'a plain app is released when deleted', apps: [], scheduled: [], job: plain, live: false },
    {
      reason: 'a plain app being deleted no longer claims',
      apps: [app('ingest').deleting().obj()],
      scheduled: [],
      job: plain,
      live: false,
    },
    {
      reason: 'a scheduled job is live between runs (no run exists)',
      apps: [],
      scheduled: [ssa('nightly')],
      job: sched,
      live: true,
    },
    {
      reason: 'a scheduled job is released when its ScheduledSparkApplication is deleted, even if a run lingers',
      apps: [run('nightly').obj()],
      scheduled: [],
      job: sched,
      live: false,
    },
    {
      reason: 'a ScheduledSparkApplication being deleted no longer claims',
      apps: [],
      scheduled: [ssa('nightly', 'team-a', { deletionTimestamp: '2025-01-01T00:00:00Z' })],
      job: sched,
      live: false,
    },
    {
      reason: 'a ScheduledSparkApplication does not keep a plain app of the same name live',
      apps: [],
      scheduled: [ssa('ingest')],
      job: plain,
      live: false,
    },
    {
      reason: 'a run named like a plain job does not keep that plain job live',
      apps: [app('ingest').scheduledBy('nightly').ownedBy('ScheduledSparkApplication', 'nightly').obj()],
      scheduled: [],
      job: plain,
      live: false,
    },
    {
      reason: 'an app in another namespace does not count',
      apps: [app('ingest', 'team-b').obj()],
      scheduled: [],
      job: plain,
      live: false,
    },
    {
      reason: 'an inconsistent app claims nothing',
      apps: [app('ingest').scheduledBy('nightly').obj()],
      scheduled: [],
      job: plain,
      live: false,
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      expect(isJobLive(c.job, c.apps, c.scheduled)).toBe(c.live);
    });
  }

  it('liveJobKeys lists every live job once', () => {
    expect(
      [...liveJobKeys([app('a').obj(), run('s').obj(), run('s', '2').obj()], [ssa('s'), ssa('t', 'team-b')])].sort(),
    ).toEqual([
      'ScheduledSparkApplication/team-a/s',
      'ScheduledSparkApplication/team-b/t',
      'SparkApplication/team-a/a',
    ]);
  });
});
