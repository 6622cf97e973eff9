import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PatchOp } from '../../../src/admission/review.js';
import { decideSparkApplication, insidePrefix, sparkSubject } from '../../../src/admission/spark-mutation.js';
import type { CheckpointPolicy } from '../../../src/api/index.js';
import { PolicySet } from '../../../src/policy/plan.js';

const WI = { projectNumber: '123456789012', pool: 'my-project.svc.id.goog' };
const policy: CheckpointPolicy = {
  apiVersion: 'tidemark.dev/v1alpha1',
  kind: 'CheckpointPolicy',
  metadata: { name: 'prod' },
  spec: {
    namespaceSelector: { matchLabels: { env: 'prod' } },
    jobSelector: { matchLabels: { 'tidemark.dev/checkpoint': 'true' } },
    storage: { bucket: 'ckpt-bucket', rootPrefix: 'checkpoints/prod' },
    access: { workloadIdentity: WI },
  },
};
const URI = 'gs://ckpt-bucket/checkpoints/prod/team/job/';
const LOC = 'spark.sql.streaming.checkpointLocation';
const HADOOP = [
  'spark.hadoop.fs.gs.create.items.conflict.check.enable',
  'spark.hadoop.fs.gs.hierarchical.namespace.folders.enable',
];

function app(
  spec: Record<string, unknown> = {},
  labels: Record<string, string> = { 'tidemark.dev/checkpoint': 'true' },
) {
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: { name: 'job', labels },
    spec,
  };
}

function decide(obj: unknown, o: { nsLabels?: Record<string, string>; deny?: boolean } = {}) {
  const subject = sparkSubject(obj, 'team');
  if (!subject.ok) throw new Error(subject.error);
  return decideSparkApplication({
    subject,
    policies: new PolicySet([policy]),
    outsidePrefix: () => (o.deny ? 'Deny' : 'Warn'),
    namespaceLabels: o.nsLabels ?? { env: 'prod' },
    serviceAccount: () => undefined,
  });
}

/** Applies the 'add' operations the webhook emits (RFC 6902 add on objects). */
function applyPatch<T>(obj: T, ops: PatchOp[]): T {
  const out = structuredClone(obj) as Record<string, unknown>;
  for (const op of ops) {
    expect(op.op).toBe('add');
    const path = op.path
      .split('/')
      .slice(1)
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    let at = out;
    for (const seg of path.slice(0, -1)) at = at[seg] as Record<string, unknown>;
    at[path[path.length - 1] as string] = op.value;
  }
  return out as T;
}

describe('decideSparkApplication', () => {
  it('sets the location, both Hadoop settings and the annotation on a selected job without sparkConf', () => {
    const obj = app();
    const { decision } = decide(obj);
    if (!decision.allowed) throw new Error('denied');
    const stored = applyPatch(obj, decision.patch) as ReturnType<typeof app> & {
      spec: { sparkConf: Record<string, string> };
      metadata: { annotations: Record<string, string> };
    };
    expect(stored.spec.sparkConf).toEqual({
      [LOC]: URI,
      [HADOOP[0] as string]: 'false',
      [HADOOP[1] as string]: 'false',
    });
    expect(stored.metadata.annotations).toEqual({ 'tidemark.dev/checkpoint-uri': URI });
    expect(decision.warnings.some((w) => w.includes('queryName'))).toBe(true);
  });

  it.each([
    ['namespace not selected', app(), { nsLabels: { env: 'dev' } }],
    ['job not selected', app({}, {}), {}],
  ])('leaves an unselected job alone (%s): no patch, no warning', (_why, obj, o) => {
    expect(decide(obj, o).decision).toEqual({ allowed: true, patch: [], warnings: [] });
  });

  it('keeps a location outside the prefix with a warning and an Event, or denies it', () => {
    const obj = app({ sparkConf: { [LOC]: 'gs://other/x' } });
    const warned = decide(obj);
    expect(warned.event?.reason).toBe('CheckpointLocationOutsidePrefix');
    if (!warned.decision.allowed) throw new Error('denied');
    expect(warned.decision.patch.some((p) => p.path.endsWith('checkpointLocation'))).toBe(false);
    const denied = decide(obj, { deny: true }).decision;
    expect(denied).toMatchObject({ allowed: false, code: 403 });
  });

  it('property: for any sparkConf and hadoopConf, what the user set is never changed and what is needed is added', () => {
    const key = fc.oneof(
      fc.constantFrom(LOC, ...HADOOP, 'spark.executor.cores', 'a/b~c'),
      fc.string({ minLength: 1, maxLength: 20 }),
    );
    const value = fc.oneof(fc.constantFrom(URI, `${URI}q1`, 'gs://other/x', 'true', 'false'), fc.string());
    const hadoopKey = fc.constantFrom('fs.gs.create.items.conflict.check.enable', 'fs.gs.block.size');
    fc.assert(
      fc.property(
        fc.option(fc.dictionary(key, value), { nil: undefined }),
        fc.option(fc.dictionary(hadoopKey, value), { nil: undefined }),
        (sparkConf, hadoopConf) => {
          const obj = app({ ...(sparkConf ? { sparkConf } : {}), ...(hadoopConf ? { hadoopConf } : {}) });
          const { decision } = decide(obj);
          if (!decision.allowed) return;
          const conf = (applyPatch(obj, decision.patch).spec as { sparkConf?: Record<string, string> }).sparkConf ?? {};
          for (const [k, v] of Object.entries(sparkConf ?? {})) expect(conf[k]).toBe(v);
          expect(conf[LOC]).toBe(sparkConf && Object.hasOwn(sparkConf, LOC) ? sparkConf[LOC] : URI);
          for (const h of HADOOP) {
            const short = h.slice('spark.hadoop.'.length);
            const userSet = Object.hasOwn(sparkConf ?? {}, h) || Object.hasOwn(hadoopConf ?? {}, short);
            if (!userSet) expect(conf[h]).toBe('false');
          }
        },
      ),
    );
  });

  it('refuses malformed input with a message naming the field', () => {
    expect(sparkSubject(app({ sparkConf: 'x' }), 'team')).toEqual({
      ok: false,
      error: 'spec.sparkConf must be a map of strings, not a string',
    });
    expect(sparkSubject(app({ sparkConf: { a: null } }), 'team')).toMatchObject({ ok: false });
    expect(sparkSubject('nope', 'team')).toMatchObject({ ok: false });
    expect(sparkSubject({ metadata: [], spec: {} }, 'team')).toMatchObject({ ok: false });
  });
});

describe('insidePrefix', () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
  it('property: the URI itself and anything below it are inside; another job, bucket or a way out is not', () => {
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 4 }), (segs) => {
        expect(insidePrefix(`${URI}${segs.join('/')}`, URI)).toBe(true);
        expect(insidePrefix(`${URI.slice(0, -1)}x/${segs.join('/')}`, URI)).toBe(false);
        expect(insidePrefix(`${URI}${[...segs, '..', 'x'].join('/')}`, URI)).toBe(false);
        expect(insidePrefix(URI.replace('ckpt-bucket', 'ckpt-bucket2') + segs.join('/'), URI)).toBe(false);
      }),
    );
    expect(insidePrefix(URI.slice(0, -1), URI)).toBe(true);
  });
});
