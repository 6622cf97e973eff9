// The CRDs' validation, evaluated offline by src/api/validate.ts (the same rules the API server runs; the
// integration test crds.test.ts runs the same table against the real server). Table tests for every bad input,
// and properties that hold the CEL rules against independent implementations: a plain-TypeScript reading of
// Google's bucket-name rules, the controller's duration parser and the croner cron parser.
import { Cron } from 'croner';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { crdSchema, type SchemaNode } from '../../src/api/schema.js';
import { validateObject, validateValue } from '../../src/api/validate.js';
import { formatDuration, MAX_DURATION_MS, parseDuration } from '../../src/policy/duration.js';
import { badCheckpoints, badPolicies, sampleCheckpoint, samplePolicy, setPath } from '../integration/crds-cases.js';

const messages = (kind: 'CheckpointPolicy' | 'Checkpoint', object: unknown, old?: unknown) =>
  validateObject(kind, object, old === undefined ? {} : { old }).errors.map(String);

function schemaAt(kind: 'CheckpointPolicy' | 'Checkpoint', path: string): SchemaNode {
  let node = crdSchema(kind);
  for (const key of path.split('.')) {
    const next = key === '[]' ? node.items : node.properties?.[key];
    if (!next) throw new Error(`no ${path} in ${kind}`);
    node = next;
  }
  return node;
}

/** Whether a single value passes the rules of the field at path (transition rules aside). */
const passes = (kind: 'CheckpointPolicy' | 'Checkpoint', path: string) => {
  const node = schemaAt(kind, path);
  return (value: unknown) => validateValue(node, value).length === 0;
};

describe('valid objects are accepted', () => {
  test('the sample policy and checkpoint', () => {
    expect(messages('CheckpointPolicy', samplePolicy('prod'))).toEqual([]);
    expect(messages('Checkpoint', sampleCheckpoint('team-a', 'job1'))).toEqual([]);
  });

  test.each<[string, Record<string, unknown>]>([
    [
      'GoogleServiceAccount mode with patterns',
      {
        'spec.access.identity': 'GoogleServiceAccount',
        'spec.access.workloadIdentity': undefined,
        'spec.access.allowedServiceAccounts': [
          'etl@acme-prod.iam.gserviceaccount.com',
          '*@acme-prod.iam.gserviceaccount.com',
          'etl-*@acme-prod.iam.gserviceaccount.com',
          '123456789012-compute@developer.gserviceaccount.com',
          'acme-prod@appspot.gserviceaccount.com',
        ],
      },
    ],
    [
      'BucketCondition mode with a custom role',
      { 'spec.access.mode': 'BucketCondition', 'spec.access.role': 'projects/acme-prod/roles/checkpointWriter' },
    ],
    ['an organization role', { 'spec.access.role': 'organizations/1234567/roles/ckpt.writer' }],
    ['empty selectors', { 'spec.namespaceSelector': {}, 'spec.jobSelector': {} }],
    [
      'Exists without values',
      { 'spec.jobSelector': { matchExpressions: [{ key: 'tidemark.dev/checkpoint', operator: 'Exists' }] } },
    ],
    [
      'a dotted bucket of 222 characters',
      { 'spec.storage.bucket': Array(4).fill('a'.repeat(54)).join('.').concat('.ab') },
    ],
    ['a bucket with underscores', { 'spec.storage.bucket': 'acme_ckpt_01' }],
    ['a one-segment root', { 'spec.storage.rootPrefix': 'checkpoints' }],
    ['a root with dots in names', { 'spec.storage.rootPrefix': 'a.b/..c/d..' }],
    ['durations', { 'spec.retention.afterRelease': '1d12h30m15.5s', 'spec.access.propagationHold': '0' }],
    ['a macro schedule', { 'spec.gc.schedule': '@weekly' }],
    ['a busy schedule', { 'spec.gc.schedule': '*/15 0-6,22-23 1,15 JAN-jun/2 mon-FRI' }],
    ['weekday 7 (Sunday)', { 'spec.gc.schedule': '0 0 * * 7' }],
    ['dry run, 1 delete per run', { 'spec.gc.dryRun': true, 'spec.gc.maxDeletesPerRun': 1 }],
  ])('%s', (_name, set) => {
    const policy = samplePolicy('p');
    for (const [path, value] of Object.entries(set)) setPath(policy, path, value);
    expect(messages('CheckpointPolicy', policy)).toEqual([]);
  });
});

describe('bad CheckpointPolicies are refused with a message that says what is wrong', () => {
  test.each(badPolicies)('$name', ({ set, expect: fragment }) => {
    const policy = samplePolicy('p');
    for (const [path, value] of Object.entries(set)) setPath(policy, path, value);
    const errors = messages('CheckpointPolicy', policy);
    expect(errors.join('\n')).toContain(fragment);
  });

  test('the table has at least 12 distinct messages', () => {
    expect(new Set(badPolicies.map((c) => c.expect)).size).toBeGreaterThanOrEqual(12);
  });
});

describe('bad Checkpoints are refused', () => {
  test.each(badCheckpoints)('$name', ({ set, expect: fragment }) => {
    const checkpoint = sampleCheckpoint('team-a', 'job1');
    for (const [path, value] of Object.entries(set)) setPath(checkpoint, path, value);
    expect(messages('Checkpoint', checkpoint).join('\n')).toContain(fragment);
  });
});

describe('immutable fields (transition rules)', () => {
  test('a policy update that keeps bucket and root is accepted', () => {
    const old = samplePolicy('p');
    const updated = samplePolicy('p');
    updated.spec.gc = { dryRun: true };
    expect(messages('CheckpointPolicy', updated, old)).toEqual([]);
  });

  test.each([
    ['spec.storage.bucket', 'acme-other', 'bucket is immutable'],
    ['spec.storage.rootPrefix', 'checkpoints/other', 'rootPrefix is immutable'],
  ])('changing a policy %s is refused', (path, value, fragment) => {
    const updated = samplePolicy('p');
    setPath(updated, path, value);
    expect(messages('CheckpointPolicy', updated, samplePolicy('p')).join('\n')).toContain(fragment);
  });

  test('changing a checkpoint bucket or prefix is refused', () => {
    const old = sampleCheckpoint('ns', 'job');
    const bucket = sampleCheckpoint('ns', 'job');
    bucket.spec.bucket = 'acme-other';
    bucket.spec.uri = `gs://acme-other/${bucket.spec.prefix}`;
    expect(messages('Checkpoint', bucket, old)).toEqual([expect.stringContaining('spec.bucket: Invalid value')]);
    expect(messages('Checkpoint', bucket, old).join()).toContain('bucket is immutable');
    const prefix = sampleCheckpoint('ns', 'job');
    prefix.spec.prefix = 'checkpoints/other/ns/job/';
    prefix.spec.uri = `gs://acme-checkpoints/${prefix.spec.prefix}`;
    expect(messages('Checkpoint', prefix, old).join()).toContain('prefix is immutable');
  });
});

describe('unknown fields and status', () => {
  test('an unknown field is reported', () => {
    const policy = samplePolicy('p');
    setPath(policy, 'spec.storage.region', 'eu');
    expect(messages('CheckpointPolicy', policy)).toEqual(['unknown field "spec.storage.region"']);
  });

  test('a full status is accepted, a condition reason with a space is refused', () => {
    const condition = {
      type: 'Ready',
      status: 'True',
      reason: 'CheckpointReady',
      message: 'ok',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      observedGeneration: 1,
    };
    const checkpoint = {
      ...sampleCheckpoint('ns', 'job'),
      status: {
        phase: 'Bound',
        observedGeneration: 1,
        conditions: [condition],
        boundAt: '2026-01-01T00:00:00Z',
        grantedMembers: ['serviceAccount:a@p.iam.gserviceaccount.com'],
      },
    };
    expect(messages('Checkpoint', checkpoint)).toEqual([]);
    checkpoint.status.conditions = [{ ...condition, reason: 'has space' }];
    expect(messages('Checkpoint', checkpoint)).toEqual([
      expect.stringMatching(/^status\.conditions\[0\]\.reason: Invalid value: "has space": .* should match/),
    ]);
    checkpoint.status.conditions = [condition, { ...condition, status: 'False' }];
    expect(messages('Checkpoint', checkpoint)).toEqual([
      expect.stringContaining('status.conditions[1]: Duplicate value'),
    ]);
  });

  test('a status with an unknown phase is refused', () => {
    const checkpoint = { ...sampleCheckpoint('ns', 'job'), status: { phase: 'Running' } };
    expect(messages('Checkpoint', checkpoint).join()).toContain('Unsupported value: "Running"');
  });
});

// Google's bucket naming rules, read independently of the CEL rules: https://cloud.google.com/storage/docs/buckets
function gcsAcceptsBucket(name: string): boolean {
  if (!/^[a-z0-9._-]+$/.test(name)) return false;
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return false;
  const limit = name.includes('.') ? 222 : 63;
  if (name.length < 3 || name.length > limit) return false;
  if (name.split('.').some((part) => part.length > 63)) return false;
  if (name.includes('..')) return false;
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) return false;
  if (name.startsWith('goog')) return false;
  if (/g[o0][o0]g[l1]e/.test(name)) return false;
  return true;
}

describe('properties', () => {
  const NUM_RUNS = 300;

  test('the bucket rules accept exactly the names Google accepts', () => {
    const accepted = passes('CheckpointPolicy', 'spec.storage.bucket');
    const chars = fc.constantFrom(...'abgol01e9.-_A #'.split(''));
    const names = fc.oneof(
      fc.string({ unit: chars, maxLength: 70 }),
      fc.string({ unit: fc.constantFrom('a', '1', '.', '-'), minLength: 60, maxLength: 230 }),
      fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((n) => n.join('.')),
      fc.constantFrom('google', 'goog', 'g00gle', 'g0ogl1e', 'gogle'),
    );
    fc.assert(
      fc.property(names, (name) => {
        expect({ name, accepted: accepted(name) }).toEqual({ name, accepted: gcsAcceptsBucket(name) });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  test('every duration the CRD accepts is one the controller can parse, and every formatted duration is accepted', () => {
    const accepted = passes('CheckpointPolicy', 'spec.retention.afterRelease');
    const text = fc.string({ unit: fc.constantFrom(...'0123456789.dhms-u '.split('')), maxLength: 12 });
    fc.assert(
      fc.property(text, (t) => {
        if (!accepted(t)) return;
        const parsed = parseDuration(t);
        if (!parsed.ok) expect(parsed.error).toContain('longer than 100 years');
      }),
      { numRuns: NUM_RUNS },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_DURATION_MS }), (ms) => {
        expect(accepted(formatDuration(ms))).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  test('every schedule the CRD accepts is one croner can parse', () => {
    const accepted = passes('CheckpointPolicy', 'spec.gc.schedule');
    const field = fc.oneof(
      fc.constant('*'),
      fc.integer({ min: 0, max: 62 }).map(String),
      fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })).map(([a, b]) => `${a}-${b}`),
      fc.tuple(fc.constantFrom('*', '1-5', '0'), fc.integer({ min: 0, max: 20 })).map(([a, s]) => `${a}/${s}`),
      fc.constantFrom('mon-fri', 'JAN', 'sun', 'feb-dec', 'L', '?', '1,2,3'),
    );
    const schedule = fc.oneof(
      fc.array(field, { minLength: 4, maxLength: 6 }).map((f) => f.join(' ')),
      fc.constantFrom('@hourly', '@daily', '@midnight', '@reboot'),
    );
    let acceptedCount = 0;
    fc.assert(
      fc.property(schedule, (s) => {
        if (!accepted(s)) return;
        acceptedCount++;
        expect(() => new Cron(s, { paused: true }).stop()).not.toThrow();
      }),
      { numRuns: 2000 },
    );
    expect(acceptedCount).toBeGreaterThan(20); // the property said something
  });

  test('a rootPrefix the CRD accepts is a run of safe, non-empty, non-dot segments', () => {
    const accepted = passes('CheckpointPolicy', 'spec.storage.rootPrefix');
    const text = fc.string({ unit: fc.constantFrom(...'ab./-_#* \n'.split('')), maxLength: 12 });
    fc.assert(
      fc.property(text, (t) => {
        if (!accepted(t)) return;
        for (const segment of t.split('/')) {
          expect(segment).toMatch(/^[A-Za-z0-9._-]+$/);
          expect(['.', '..']).not.toContain(segment);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
