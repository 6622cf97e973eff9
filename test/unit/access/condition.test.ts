import { CelScalar, celEnv, celMethod, isCelError, mapType, parse, plan } from '@bufbuild/cel';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONDITION_LIMITS,
  celString,
  conditionLimitErrors,
  conditionTitle,
  hasTidemarkTitle,
  jobCondition,
  LIST_PREFIX_ATTRIBUTE,
  parseTidemarkCondition,
  prefixConditionExpression,
} from '../../../src/access/condition.js';
import { type ConditionInput, compileCondition } from '../../../src/emulator/iam/conditions.js';

// Evaluates an IAM condition with a real CEL implementation, binding what Cloud Storage binds.
const STRING_MAP = mapType(CelScalar.STRING, CelScalar.DYN);
const getAttribute = celMethod(
  'getAttribute',
  STRING_MAP,
  [CelScalar.STRING, CelScalar.DYN],
  CelScalar.DYN,
  function (this, name, fallback) {
    const v = this.get(name);
    return v === undefined ? fallback : v;
  },
);
const ENV = celEnv({ variables: { resource: STRING_MAP, api: STRING_MAP }, funcs: [getAttribute] });

function allows(expression: string, req: { object?: string; listPrefix?: string; bucket: string }): boolean {
  const program = plan(ENV, parse(expression));
  const result = program({
    resource: {
      name:
        req.object !== undefined
          ? `projects/_/buckets/${req.bucket}/objects/${req.object}`
          : `projects/_/buckets/${req.bucket}`,
    },
    api: req.listPrefix !== undefined ? { [LIST_PREFIX_ATTRIBUTE]: req.listPrefix } : {},
  });
  if (isCelError(result)) throw new Error(String(result));
  return result === true;
}

const B = 'ckpt-bucket';
const P = 'checkpoints/prod/team-a/job/';
const expr = prefixConditionExpression(B, P);

describe('prefixConditionExpression', () => {
  it('has the documented form, with "P/" for the list prefix', () => {
    expect(expr).toBe(
      'resource.name == "projects/_/buckets/ckpt-bucket/objects/checkpoints/prod/team-a/job"' +
        ' || resource.name.startsWith("projects/_/buckets/ckpt-bucket/objects/checkpoints/prod/team-a/job/")' +
        ' || api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("checkpoints/prod/team-a/job/")',
    );
  });

  const cases: { reason: string; object?: string; listPrefix?: string; bucket?: string; want: boolean }[] = [
    { reason: 'an object under the prefix', object: 'checkpoints/prod/team-a/job/q1/offsets/0', want: true },
    { reason: 'the directory marker', object: 'checkpoints/prod/team-a/job/', want: true },
    { reason: 'the directory path itself (connector stat)', object: 'checkpoints/prod/team-a/job', want: true },
    { reason: 'a neighbour whose name starts the same', object: 'checkpoints/prod/team-a/job2/x', want: false },
    { reason: 'the neighbour’s own path', object: 'checkpoints/prod/team-a/job2', want: false },
    { reason: 'one character outside: the parent', object: 'checkpoints/prod/team-a/', want: false },
    {
      reason: 'the same path in another bucket',
      object: 'checkpoints/prod/team-a/job/x',
      bucket: 'other',
      want: false,
    },
    { reason: 'listing its prefix', listPrefix: 'checkpoints/prod/team-a/job/', want: true },
    { reason: 'listing deeper', listPrefix: 'checkpoints/prod/team-a/job/q1/', want: true },
    {
      reason: 'listing without the slash (would include job2/)',
      listPrefix: 'checkpoints/prod/team-a/job',
      want: false,
    },
    { reason: 'listing the neighbour', listPrefix: 'checkpoints/prod/team-a/job2/', want: false },
    { reason: 'listing the namespace', listPrefix: 'checkpoints/prod/team-a/', want: false },
    { reason: 'listing the whole bucket', listPrefix: '', want: false },
    { reason: 'a bucket-level request without list prefix', want: false },
  ];
  for (const c of cases) {
    it(`${c.want ? 'allows' : 'denies'} ${c.reason}`, () => {
      expect(allows(expr, { bucket: c.bucket ?? B, object: c.object, listPrefix: c.listPrefix })).toBe(c.want);
    });
  }

  it('grants exactly the prefix, for any names (property, evaluated by CEL)', () => {
    const seg = fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,6}[a-z0-9])?$/);
    const tail = fc.string({ unit: fc.constantFrom('a', '/', '-', '2', '.'), maxLength: 6 });
    fc.assert(
      fc.property(seg, seg, seg, tail, (ns, job, other, rest) => {
        const prefix = `root/${ns}/${job}/`;
        const e = prefixConditionExpression(B, prefix);
        const obj = `root/${ns}/${other}${rest}`;
        const inside = obj === prefix.slice(0, -1) || obj.startsWith(prefix);
        expect(allows(e, { bucket: B, object: obj })).toBe(inside);
        expect(allows(e, { bucket: B, listPrefix: obj })).toBe(obj.startsWith(prefix));
      }),
      { numRuns: 300 },
    );
  });

  it('is accepted by the emulator’s condition compiler (Google’s rules) and decides the same there', () => {
    const job = { namespace: 'n'.repeat(63), name: 'j'.repeat(253) };
    const c = jobCondition(B, `checkpoints/${job.namespace}/${job.name}/`, job);
    const decide = compileCondition(c.expression);
    const input = (resourceName: string, listPrefix?: string): ConditionInput => ({
      resourceName,
      resourceType: 'storage.googleapis.com/Object',
      resourceService: 'storage.googleapis.com',
      requestTime: new Date(0),
      attributes: Object.fromEntries(listPrefix === undefined ? [] : [[LIST_PREFIX_ATTRIBUTE, listPrefix]]),
    });
    const obj = `projects/_/buckets/${B}/objects/checkpoints/${job.namespace}/${job.name}`;
    expect(decide(input(`${obj}/q/offsets/0`))).toBe(true);
    expect(decide(input(`${obj}x/q`))).toBe(false);
    expect(decide(input(`projects/_/buckets/${B}`, `checkpoints/${job.namespace}/${job.name}/`))).toBe(true);
    expect(decide(input(`projects/_/buckets/${B}`, `checkpoints/${job.namespace}/${job.name}`))).toBe(false);
  });

  it('refuses a prefix without trailing slash', () => {
    expect(() => prefixConditionExpression(B, 'a/b')).toThrow(/end with "\/"/);
  });
});

describe('celString', () => {
  it('escapes quotes, backslashes and control characters so CEL reads the same string back', () => {
    for (const s of ['plain', 'a"b', 'a\\b', 'line\nbreak', 'tab\tx', '\u0001', 'ünï', '"\\"']) {
      const program = plan(ENV, parse(celString(s)));
      expect(program({ resource: {}, api: {} })).toBe(s);
    }
  });

  it('round-trips through CEL (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        fc.pre(!/[\ud800-\udfff]/.test(s));
        expect(plan(ENV, parse(celString(s)))({ resource: {}, api: {} })).toBe(s);
      }),
    );
  });
});

describe('titles and recognition', () => {
  it('titles a job tidemark:<ns>/<job>', () => {
    expect(conditionTitle({ namespace: 'team-a', name: 'ingest' })).toBe('tidemark:team-a/ingest');
  });

  it('cuts long titles to 100 characters, keeping them distinct', () => {
    const a = conditionTitle({ namespace: 'n'.repeat(63), name: `${'j'.repeat(200)}a` });
    const b = conditionTitle({ namespace: 'n'.repeat(63), name: `${'j'.repeat(200)}b` });
    expect(a.length).toBe(CONDITION_LIMITS.titleChars);
    expect(b.length).toBe(CONDITION_LIMITS.titleChars);
    expect(a).not.toBe(b);
    expect(a.startsWith('tidemark:')).toBe(true);
  });

  it('parses its own conditions back to the job', () => {
    const c = jobCondition(B, P, { namespace: 'team-a', name: 'job' });
    expect(conditionLimitErrors(c)).toEqual([]);
    expect(hasTidemarkTitle(c)).toBe(true);
    expect(parseTidemarkCondition(c)).toEqual({ bucket: B, prefix: P, namespace: 'team-a', name: 'job' });
  });

  it('parses long-named jobs back from the expression, not the cut title', () => {
    const job = { namespace: 'n'.repeat(63), name: 'j'.repeat(253) };
    const prefix = `root/${job.namespace}/${job.name}/`;
    const c = jobCondition(B, prefix, job);
    expect(conditionLimitErrors(c)).toEqual([]);
    expect(parseTidemarkCondition(c)).toEqual({ bucket: B, prefix, ...job });
  });

  const foreign: { reason: string; cond: { title?: string; expression?: string } }[] = [
    { reason: 'another title', cond: { title: 'mine', expression: expr } },
    { reason: 'our title over another expression', cond: { title: 'tidemark:team-a/job', expression: 'true' } },
    {
      reason: 'our title over a hand-widened expression',
      cond: { title: 'tidemark:team-a/job', expression: prefixConditionExpression(B, 'checkpoints/prod/team-a/') },
    },
    {
      reason: 'a title that names another job than the expression',
      cond: { title: 'tidemark:team-a/other', expression: expr },
    },
    { reason: 'no condition fields', cond: {} },
  ];
  for (const f of foreign) {
    it(`treats ${f.reason} as foreign`, () => expect(parseTidemarkCondition(f.cond)).toBeUndefined());
  }

  it('refuses a prefix that does not end with the job', () => {
    expect(() => jobCondition(B, 'root/ns/x/', { namespace: 'ns', name: 'y' })).toThrow(/does not end with/);
  });
});
