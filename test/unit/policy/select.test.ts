import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  POLICY_ANNOTATION,
  PolicyIndex,
  policySelectorErrors,
  type Selection,
  type SelectionSubject,
  selectionMessage,
  selectionReason,
  selectPolicy,
} from '../../../src/policy/select.js';
import { type LabelSelector, matchSelector } from '../../../src/policy/selector.js';

interface P {
  metadata: { name: string };
  spec: { namespaceSelector?: LabelSelector | null; jobSelector?: LabelSelector | null; bucket?: string };
}

function policy(name: string, ns: LabelSelector | null | undefined, job: LabelSelector | null | undefined): P {
  return { metadata: { name }, spec: { namespaceSelector: ns, jobSelector: job, bucket: `b-${name}` } };
}

const optIn: LabelSelector = { matchLabels: { 'tidemark.dev/checkpoint': 'true' } };
const prodNs: LabelSelector = { matchLabels: { env: 'prod' } };
const devNs: LabelSelector = { matchLabels: { env: 'dev' } };

const prod = policy('prod', prodNs, optIn);
const dev = policy('dev', devNs, optIn);
const everything = policy('everything', {}, {});
const alsoProd = policy('also-prod', prodNs, { matchExpressions: [{ key: 'tier', operator: 'Exists' }] });
const broken = policy('broken', { matchExpressions: [{ key: 'env', operator: 'Bogus' }] }, optIn);
const missingSel = policy('no-ns-selector', undefined, optIn);

function subject(nsLabels: Record<string, string>, labels: Record<string, string>, annotations = {}): SelectionSubject {
  return { namespaceLabels: nsLabels, labels, annotations };
}

const prodJob = subject({ env: 'prod' }, { 'tidemark.dev/checkpoint': 'true' });

describe('selectPolicy', () => {
  const cases: { reason: string; policies: P[]; subj: SelectionSubject; want: Selection<P> }[] = [
    { reason: 'no policies at all', policies: [], subj: prodJob, want: { kind: 'None' } },
    {
      reason: 'one policy selects by namespace and job labels',
      policies: [prod, dev],
      subj: prodJob,
      want: { kind: 'Selected', policy: prod, name: 'prod', via: 'Selectors' },
    },
    {
      reason: 'namespace matches but the job did not opt in',
      policies: [prod],
      subj: subject({ env: 'prod' }, {}),
      want: { kind: 'None' },
    },
    {
      reason: 'job opted in but the namespace is not selected',
      policies: [prod],
      subj: subject({ env: 'qa' }, { 'tidemark.dev/checkpoint': 'true' }),
      want: { kind: 'None' },
    },
    {
      reason: 'two matching policies are a conflict, names sorted',
      policies: [prod, everything, dev],
      subj: prodJob,
      want: { kind: 'Conflict', policies: ['everything', 'prod'] },
    },
    {
      reason: 'conflict listing is independent of input order',
      policies: [everything, alsoProd, prod],
      subj: subject({ env: 'prod' }, { 'tidemark.dev/checkpoint': 'true', tier: 'gold' }),
      want: { kind: 'Conflict', policies: ['also-prod', 'everything', 'prod'] },
    },
    {
      reason: 'the annotation picks among policies that cover the namespace',
      policies: [prod, everything],
      subj: subject({ env: 'prod' }, { 'tidemark.dev/checkpoint': 'true' }, { [POLICY_ANNOTATION]: 'prod' }),
      want: { kind: 'Selected', policy: prod, name: 'prod', via: 'Annotation' },
    },
    {
      reason: 'the annotation cannot reach a policy whose jobSelector does not select the job (issue 8 item 6)',
      policies: [prod],
      subj: subject({ env: 'prod' }, {}, { [POLICY_ANNOTATION]: 'prod' }),
      want: { kind: 'AnnotatedPolicyDoesNotSelect', name: 'prod', selector: 'jobSelector' },
    },
    {
      reason: 'the annotation cannot reach a policy whose namespaceSelector excludes the namespace',
      policies: [prod, dev],
      subj: subject({ env: 'dev' }, { 'tidemark.dev/checkpoint': 'true' }, { [POLICY_ANNOTATION]: 'prod' }),
      want: { kind: 'AnnotatedPolicyDoesNotSelect', name: 'prod', selector: 'namespaceSelector' },
    },
    {
      reason: 'an annotation naming a missing policy does not fall back to the selectors',
      policies: [prod],
      subj: subject({ env: 'prod' }, { 'tidemark.dev/checkpoint': 'true' }, { [POLICY_ANNOTATION]: 'gone' }),
      want: { kind: 'AnnotatedPolicyMissing', name: 'gone' },
    },
    {
      reason: 'an empty annotation is reported, not ignored',
      policies: [prod],
      subj: subject({ env: 'prod' }, { 'tidemark.dev/checkpoint': 'true' }, { [POLICY_ANNOTATION]: '' }),
      want: { kind: 'InvalidAnnotation', value: '' },
    },
    {
      reason: 'an annotation with spaces is reported',
      policies: [prod],
      subj: subject({ env: 'prod' }, {}, { [POLICY_ANNOTATION]: ' prod' }),
      want: { kind: 'InvalidAnnotation', value: ' prod' },
    },
    {
      reason: 'a policy with an invalid selector selects nothing (no conflict with it)',
      policies: [prod, broken],
      subj: prodJob,
      want: { kind: 'Selected', policy: prod, name: 'prod', via: 'Selectors' },
    },
    {
      reason: 'a policy without namespaceSelector selects nothing',
      policies: [missingSel],
      subj: prodJob,
      want: { kind: 'None' },
    },
    {
      reason: 'naming an invalid policy in the annotation says so',
      policies: [broken],
      subj: subject({ env: 'prod' }, {}, { [POLICY_ANNOTATION]: 'broken' }),
      want: {
        kind: 'AnnotatedPolicyInvalid',
        name: 'broken',
        errors: [
          'spec.namespaceSelector: matchExpressions[0].operator "Bogus" is not one of In, NotIn, Exists, DoesNotExist',
        ],
      },
    },
    {
      reason: 'a namespace without labels is selected by {} only',
      policies: [prod, everything],
      subj: { namespaceLabels: undefined, labels: undefined, annotations: undefined },
      want: { kind: 'Selected', policy: everything, name: 'everything', via: 'Selectors' },
    },
  ];
  for (const c of cases) {
    it(c.reason, () => {
      expect(selectPolicy(c.policies, c.subj)).toEqual(c.want);
    });
  }

  it('refuses duplicate or nameless policies (a programming error)', () => {
    expect(() => new PolicyIndex([prod, prod])).toThrow(/given twice/);
    expect(() => new PolicyIndex([{ metadata: {}, spec: { namespaceSelector: {}, jobSelector: {} } }])).toThrow(
      /no metadata.name/,
    );
  });

  it('lists invalid policies with their errors', () => {
    expect(new PolicyIndex([prod, missingSel, broken]).invalid().map((i) => i.name)).toEqual([
      'broken',
      'no-ns-selector',
    ]);
    expect(policySelectorErrors(missingSel)).toEqual([
      'spec.namespaceSelector is required (use {} to select everything)',
    ]);
    expect(policySelectorErrors(prod)).toEqual([]);
  });

  it('never selects when two or more match, whatever the order (property)', () => {
    const pool = [prod, dev, everything, alsoProd, broken];
    const nsLabels = fc.record({ env: fc.constantFrom('prod', 'dev', 'qa') }, { requiredKeys: [] });
    const jobLabels = fc.record(
      { 'tidemark.dev/checkpoint': fc.constantFrom('true', 'false'), tier: fc.constant('x') },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.shuffledSubarray(pool), nsLabels, jobLabels, (ps, ns, jl) => {
        const s = subject(ns, jl);
        const r = selectPolicy(ps, s);
        const r2 = selectPolicy([...ps].reverse(), s);
        expect(r2).toEqual(r);
        const matching = ps.filter((p) => {
          const one = selectPolicy([p], s);
          return one.kind === 'Selected';
        });
        if (matching.length === 0) expect(r.kind).toBe('None');
        if (matching.length === 1) expect(r).toMatchObject({ kind: 'Selected', name: matching[0]?.metadata.name });
        if (matching.length >= 2) {
          expect(r).toEqual({ kind: 'Conflict', policies: matching.map((p) => p.metadata.name).sort() });
        }
      }),
    );
  });

  it('an annotation never selects a policy whose namespaceSelector or jobSelector rejects the job (property)', () => {
    const pool = [prod, dev, everything, alsoProd];
    fc.assert(
      fc.property(
        fc.constantFrom('prod', 'dev', 'qa'),
        fc.dictionary(fc.constantFrom('tidemark.dev/checkpoint', 'tier'), fc.constantFrom('true', 'gold', 'x')),
        fc.constantFrom(...pool.map((p) => p.metadata.name)),
        (env, labels, name) => {
          const r = selectPolicy(pool, subject({ env }, labels, { [POLICY_ANNOTATION]: name }));
          const target = pool.find((p) => p.metadata.name === name) as P;
          const nsOk = matchSelector(target.spec.namespaceSelector, { env });
          const jobOk = matchSelector(target.spec.jobSelector, labels);
          if (r.kind === 'Selected') {
            expect(nsOk).toEqual({ ok: true, matches: true });
            expect(jobOk).toEqual({ ok: true, matches: true });
          } else {
            expect(r).toEqual({
              kind: 'AnnotatedPolicyDoesNotSelect',
              name,
              selector: nsOk.ok && nsOk.matches ? 'jobSelector' : 'namespaceSelector',
            });
          }
        },
      ),
    );
  });
});

describe('selection reasons and messages', () => {
  it('gives a CamelCase reason and a sentence for every outcome', () => {
    const outcomes: Selection[] = [
      { kind: 'Selected', policy: prod, name: 'prod', via: 'Selectors' },
      { kind: 'Selected', policy: prod, name: 'prod', via: 'Annotation' },
      { kind: 'None' },
      { kind: 'Conflict', policies: ['a', 'b'] },
      { kind: 'AnnotatedPolicyMissing', name: 'x' },
      { kind: 'AnnotatedPolicyDoesNotSelect', name: 'x', selector: 'namespaceSelector' },
      { kind: 'AnnotatedPolicyDoesNotSelect', name: 'x', selector: 'jobSelector' },
      { kind: 'AnnotatedPolicyInvalid', name: 'x', errors: ['e'] },
      { kind: 'InvalidAnnotation', value: '' },
    ];
    for (const o of outcomes) {
      expect(selectionReason(o)).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(selectionMessage(o, 'team-a')).toMatch(/\.$/);
    }
    expect(selectionMessage({ kind: 'Conflict', policies: ['a', 'b'] }, 'ns')).toContain('"a", "b"');
    expect(
      selectionMessage({ kind: 'AnnotatedPolicyDoesNotSelect', name: 'x', selector: 'namespaceSelector' }, 'team-a'),
    ).toContain('"team-a"');
    expect(
      selectionMessage({ kind: 'AnnotatedPolicyDoesNotSelect', name: 'x', selector: 'jobSelector' }, 'team-a'),
    ).toContain('jobSelector');
  });
});
