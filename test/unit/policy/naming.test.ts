import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BindDecision,
  bucketNameError,
  decideBinding,
  type ExistingCheckpoint,
  type IncomingClaim,
  jobLocation,
  MAX_PREFIX_BYTES,
  parseJobPrefix,
  rootPrefixError,
} from '../../../src/policy/naming.js';

const storage = { bucket: 'ckpt-bucket', rootPrefix: 'checkpoints/prod-cluster' };

describe('jobLocation', () => {
  it('builds prefix, URI and Checkpoint name', () => {
    expect(jobLocation(storage, { namespace: 'team-a', name: 'ingest' })).toEqual({
      ok: true,
      location: {
        bucket: 'ckpt-bucket',
        prefix: 'checkpoints/prod-cluster/team-a/ingest/',
        uri: 'gs://ckpt-bucket/checkpoints/prod-cluster/team-a/ingest/',
        checkpointName: 'ingest',
      },
    });
  });

  const bad: {
    reason: string;
    storage: { bucket: string; rootPrefix: string };
    ns: string;
    name: string;
    err: RegExp;
  }[] = [
    {
      reason: 'root with leading slash',
      storage: { ...storage, rootPrefix: '/x' },
      ns: 'a',
      name: 'b',
      err: /start or end/,
    },
    {
      reason: 'root with trailing slash',
      storage: { ...storage, rootPrefix: 'x/' },
      ns: 'a',
      name: 'b',
      err: /start or end/,
    },
    { reason: 'root with //', storage: { ...storage, rootPrefix: 'x//y' }, ns: 'a', name: 'b', err: /empty segment/ },
    { reason: 'root with ..', storage: { ...storage, rootPrefix: 'x/../y' }, ns: 'a', name: 'b', err: /"\.\."/ },
    {
      reason: 'root with a glob character',
      storage: { ...storage, rootPrefix: 'x*' },
      ns: 'a',
      name: 'b',
      err: /may only/,
    },
    { reason: 'root with a space', storage: { ...storage, rootPrefix: 'a b' }, ns: 'a', name: 'b', err: /may only/ },
    { reason: 'empty root', storage: { ...storage, rootPrefix: '' }, ns: 'a', name: 'b', err: /empty/ },
    { reason: 'bad bucket', storage: { ...storage, bucket: 'Bucket' }, ns: 'a', name: 'b', err: /bucket/ },
    { reason: 'namespace with a dot', storage, ns: 'a.b', name: 'b', err: /namespace/ },
    { reason: 'job with a slash', storage, ns: 'a', name: 'x/y', err: /job name/ },
    { reason: 'job with upper case (never rewritten)', storage, ns: 'a', name: 'Ingest', err: /job name/ },
    { reason: 'empty job', storage, ns: 'a', name: '', err: /job name/ },
  ];
  for (const c of bad) {
    it(`refuses ${c.reason}`, () => {
      const r = jobLocation(c.storage, { namespace: c.ns, name: c.name });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(c.err);
    });
  }

  it('keeps the longest names within MAX_PREFIX_BYTES', () => {
    const root = 'r'.repeat(MAX_PREFIX_BYTES - 63 - 253 - 3);
    expect(rootPrefixError(root)).toBeUndefined();
    expect(rootPrefixError(`${root}x`)).toMatch(/at most/);
    const r = jobLocation({ bucket: 'b-1', rootPrefix: root }, { namespace: 'n'.repeat(63), name: 'j'.repeat(253) });
    expect(r.ok && Buffer.byteLength(r.location.prefix)).toBe(MAX_PREFIX_BYTES);
  });
});

describe('bucketNameError', () => {
  const cases: [string, boolean][] = [
    ['my-bucket', true],
    ['a_b.c-d', true],
    ['ab', false],
    ['-ab', false],
    ['ab-', false],
    ['AB', false],
    ['192.168.0.1', false],
    ['goog-x', false],
    ['my-google-x', false],
    ['a..b', false],
    [`${'a'.repeat(64)}`, false],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}`, true],
  ];
  for (const [b, ok] of cases) {
    it(`${ok ? 'accepts' : 'refuses'} "${b.length > 20 ? `${b.slice(0, 20)}...` : b}"`, () => {
      expect(bucketNameError(b) === undefined).toBe(ok);
    });
  }
});

describe('prefix properties', () => {
  const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
  const subdomain = fc
    .array(label, { minLength: 1, maxLength: 3 })
    .map((ls) => ls.join('.'))
    .filter((s) => s.length <= 253);
  const root = fc
    .array(fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/), { minLength: 1, maxLength: 3 })
    .filter((segs) => segs.every((s) => s !== '.' && s !== '..'))
    .map((segs) => segs.join('/'));
  const prefixOf = (r: string, ns: string, name: string) => {
    const loc = jobLocation({ bucket: 'bkt', rootPrefix: r }, { namespace: ns, name });
    if (!loc.ok) throw new Error(loc.error);
    return loc.location.prefix;
  };

  it('two different (namespace, job) pairs under one root never nest', () => {
    fc.assert(
      fc.property(root, label, subdomain, label, subdomain, (r, ns1, j1, ns2, j2) => {
        fc.pre(ns1 !== ns2 || j1 !== j2);
        const a = prefixOf(r, ns1, j1);
        const b = prefixOf(r, ns2, j2);
        expect(a.startsWith(b)).toBe(false);
        expect(b.startsWith(a)).toBe(false);
      }),
    );
  });

  it('is always under the root, ends with "/", and parses back', () => {
    fc.assert(
      fc.property(root, label, subdomain, (r, ns, j) => {
        const p = prefixOf(r, ns, j);
        expect(p.startsWith(`${r}/`)).toBe(true);
        expect(p.endsWith('/')).toBe(true);
        expect(parseJobPrefix(r, p)).toEqual({ namespace: ns, name: j });
      }),
    );
  });

  it('the one collision left is by kind: same namespace and name give the same prefix', () => {
    expect(prefixOf('r', 'ns', 'foo')).toBe(prefixOf('r', 'ns', 'foo'));
  });
});

describe('parseJobPrefix', () => {
  const cases: [string, string, { namespace: string; name: string } | undefined][] = [
    ['root', 'root/ns/job/', { namespace: 'ns', name: 'job' }],
    ['root', 'root/ns/', undefined],
    ['root', 'root/ns/job/q1/', undefined],
    ['root', 'rootx/ns/job/', undefined],
    ['root', 'root/ns/job', undefined],
    ['root', 'root/NS/job/', undefined],
    ['a/b', 'a/b/ns/j.1/', { namespace: 'ns', name: 'j.1' }],
  ];
  for (const [r, p, want] of cases) {
    it(`${p} under ${r}`, () => expect(parseJobPrefix(r, p)).toEqual(want));
  }
});

describe('decideBinding', () => {
  const claim = (
    kind: 'SparkApplication' | 'ScheduledSparkApplication',
    over: Partial<IncomingClaim> = {},
  ): IncomingClaim => ({
    job: { kind, namespace: 'ns', name: 'foo' },
    policyName: 'p',
    bucket: 'b',
    prefix: 'r/ns/foo/',
    ...over,
  });
  const existing = (over: Partial<ExistingCheckpoint> = {}): ExistingCheckpoint => ({
    jobRef: { kind: 'SparkApplication', name: 'foo' },
    policyName: 'p',
    bucket: 'b',
    prefix: 'r/ns/foo/',
    phase: 'Bound',
    ...over,
  });
  const cases: {
    reason: string;
    existing: ExistingCheckpoint | undefined;
    claim: IncomingClaim;
    want: BindDecision;
  }[] = [
    {
      reason: 'no Checkpoint yet: bind a new one',
      existing: undefined,
      claim: claim('SparkApplication'),
      want: { kind: 'Bind' },
    },
    {
      reason: 'the same job again (already bound)',
      existing: existing(),
      claim: claim('SparkApplication'),
      want: { kind: 'Rebind', adoptOrphan: false, policyChanged: false },
    },
    {
      reason: 'the same job back within retention',
      existing: existing({ phase: 'Released' }),
      claim: claim('SparkApplication'),
      want: { kind: 'Rebind', adoptOrphan: false, policyChanged: false },
    },
    {
      reason: 'a ScheduledSparkApplication of the same name as a bound SparkApplication: first holder keeps it',
      existing: existing(),
      claim: claim('ScheduledSparkApplication'),
      want: { kind: 'NameConflict', holder: { kind: 'SparkApplication', name: 'foo' } },
    },
    {
      reason: 'the other kind cannot take over a released Checkpoint either (its data is another job’s)',
      existing: existing({ phase: 'Released' }),
      claim: claim('ScheduledSparkApplication'),
      want: { kind: 'NameConflict', holder: { kind: 'SparkApplication', name: 'foo' } },
    },
    {
      reason: 'a Checkpoint being deleted is fenced',
      existing: existing({ phase: 'Deleting' }),
      claim: claim('SparkApplication'),
      want: { kind: 'Fenced' },
    },
    {
      reason: 'an orphan (released) can be adopted by either kind',
      existing: existing({ phase: 'Released', orphaned: true }),
      claim: claim('ScheduledSparkApplication'),
      want: { kind: 'Rebind', adoptOrphan: true, policyChanged: false },
    },
    {
      reason: 'the selected policy moved the job elsewhere: report, never move data silently',
      existing: existing(),
      claim: claim('SparkApplication', { policyName: 'q', prefix: 'other/ns/foo/' }),
      want: { kind: 'LocationMismatch', existingUri: 'gs://b/r/ns/foo/', desiredUri: 'gs://b/other/ns/foo/' },
    },
    {
      reason: 'another policy with the same bucket and root adopts it',
      existing: existing(),
      claim: claim('SparkApplication', { policyName: 'q' }),
      want: { kind: 'Rebind', adoptOrphan: false, policyChanged: true },
    },
  ];
  for (const c of cases) {
    it(c.reason, () => expect(decideBinding(c.existing, c.claim)).toEqual(c.want));
  }
});
