// Which CheckpointPolicy covers a logical job. Pure: the caller passes every policy and the job's facts.
//
// Rules (design §1 "Exactly one policy may select a job"):
// - A policy selects a job when its namespaceSelector matches the job namespace's labels AND its jobSelector
//   matches the job's labels (for a scheduled run: the ScheduledSparkApplication's labels, see job.ts).
// - The annotation `tidemark.dev/policy: NAME` on the job picks NAME, but only among the policies that select the
//   job anyway: NAME's namespaceSelector must match the job's namespace AND its jobSelector the job's labels. The
//   annotation disambiguates; it never opts a job in. Both selectors are boundaries a platform admin relies on:
//   the namespaceSelector keeps a team off buckets reserved for other namespaces, the jobSelector off policies
//   meant for other jobs (issue 8 item 6). The annotation is authoritative when present: if it names a missing,
//   invalid or non-selecting policy, the job gets nothing (no fallback to the selectors), and the reason is
//   reported (AnnotatedPolicyDoesNotSelect says which selector refused).
// - Without the annotation, exactly one matching policy selects the job; two or more is a Conflict (names
//   sorted), nothing is guessed.
// - A policy whose selectors are invalid selects nothing (its own status reports why); naming it in the
//   annotation gives AnnotatedPolicyInvalid.
import { Annotations } from '../api/index.js';
import { type CompiledSelector, cmp, compileSelector, type LabelSelector, type Labels } from './selector.js';

export const POLICY_ANNOTATION = Annotations.policy;

/** The part of a CheckpointPolicy that selection reads (structurally compatible with the API type). */
export interface PolicyCandidate {
  metadata: { name?: string | undefined };
  spec: {
    namespaceSelector?: LabelSelector | null | undefined;
    jobSelector?: LabelSelector | null | undefined;
  };
}

/** What selection needs to know about a job. */
export interface SelectionSubject {
  /** Labels of the job's namespace. */
  namespaceLabels: Labels | null | undefined;
  /** Labels of the object that stands for the logical job (the ScheduledSparkApplication for a scheduled run). */
  labels: Labels | null | undefined;
  /** Annotations of that same object. */
  annotations: Labels | null | undefined;
}

export type Selection<P extends PolicyCandidate = PolicyCandidate> =
  | { kind: 'Selected'; policy: P; name: string; via: 'Selectors' | 'Annotation' }
  | { kind: 'None' }
  | { kind: 'Conflict'; policies: string[] }
  | { kind: 'AnnotatedPolicyMissing'; name: string }
  | { kind: 'AnnotatedPolicyDoesNotSelect'; name: string; selector: 'namespaceSelector' | 'jobSelector' }
  | { kind: 'AnnotatedPolicyInvalid'; name: string; errors: string[] }
  | { kind: 'InvalidAnnotation'; value: string };

interface CompiledPolicy<P> {
  name: string;
  policy: P;
  namespace: CompiledSelector | undefined;
  job: CompiledSelector | undefined;
  errors: string[];
}

/** Every problem with a policy's selectors (empty when both are valid). A missing selector is a problem. */
export function policySelectorErrors(policy: PolicyCandidate): string[] {
  return compilePolicy(policy).errors;
}

function compilePolicy<P extends PolicyCandidate>(policy: P): CompiledPolicy<P> {
  const name = policy.metadata.name ?? '';
  const errors: string[] = [];
  const compileOne = (field: 'namespaceSelector' | 'jobSelector'): CompiledSelector | undefined => {
    const sel = policy.spec?.[field];
    if (sel === null || sel === undefined) {
      errors.push(`spec.${field} is required (use {} to select everything)`);
      return undefined;
    }
    const r = compileSelector(sel);
    if (!r.ok) {
      for (const e of r.errors) errors.push(`spec.${field}: ${e}`);
      return undefined;
    }
    return r.selector;
  };
  const namespace = compileOne('namespaceSelector');
  const job = compileOne('jobSelector');
  return { name, policy, namespace, job, errors };
}

/** Policies compiled once, to select for many jobs. */
export class PolicyIndex<P extends PolicyCandidate = PolicyCandidate> {
  private readonly byName = new Map<string, CompiledPolicy<P>>();
  private readonly sorted: CompiledPolicy<P>[];

  constructor(policies: readonly P[]) {
    for (const p of policies) {
      const c = compilePolicy(p);
      if (c.name === '') throw new Error('PolicyIndex: a policy has no metadata.name');
      if (this.byName.has(c.name)) throw new Error(`PolicyIndex: policy "${c.name}" given twice`);
      this.byName.set(c.name, c);
    }
    this.sorted = [...this.byName.values()].sort((a, b) => cmp(a.name, b.name));
  }

  /** Names of policies whose selectors are invalid, sorted, with their errors. */
  invalid(): { name: string; errors: string[] }[] {
    return this.sorted.filter((c) => c.errors.length > 0).map((c) => ({ name: c.name, errors: c.errors }));
  }

  select(subject: SelectionSubject): Selection<P> {
    const annotations = subject.annotations ?? {};
    if (Object.hasOwn(annotations, POLICY_ANNOTATION)) {
      return this.selectAnnotated(annotations[POLICY_ANNOTATION] as string, subject);
    }
    const matching = this.sorted.filter(
      (c) =>
        c.namespace !== undefined &&
        c.job !== undefined &&
        c.namespace.matches(subject.namespaceLabels) &&
        c.job.matches(subject.labels),
    );
    const [first, second] = matching;
    if (first === undefined) return { kind: 'None' };
    if (second !== undefined) return { kind: 'Conflict', policies: matching.map((c) => c.name) };
    return { kind: 'Selected', policy: first.policy, name: first.name, via: 'Selectors' };
  }

  private selectAnnotated(value: string, subject: SelectionSubject): Selection<P> {
    // Policy names are DNS subdomains; anything else (including "" or surrounding spaces) is a typo to report.
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(value) || value.length > 253) {
      return { kind: 'InvalidAnnotation', value };
    }
    const c = this.byName.get(value);
    if (c === undefined) return { kind: 'AnnotatedPolicyMissing', name: value };
    if (c.namespace === undefined || c.job === undefined || c.errors.length > 0) {
      return { kind: 'AnnotatedPolicyInvalid', name: value, errors: c.errors };
    }
    if (!c.namespace.matches(subject.namespaceLabels)) {
      return { kind: 'AnnotatedPolicyDoesNotSelect', name: value, selector: 'namespaceSelector' };
    }
    if (!c.job.matches(subject.labels)) {
      return { kind: 'AnnotatedPolicyDoesNotSelect', name: value, selector: 'jobSelector' };
    }
    return { kind: 'Selected', policy: c.policy, name: c.name, via: 'Annotation' };
  }
}

/** Selection for one job (compiles the policies; use PolicyIndex for many jobs). */
export function selectPolicy<P extends PolicyCandidate>(
  policies: readonly P[],
  subject: SelectionSubject,
): Selection<P> {
  return new PolicyIndex(policies).select(subject);
}

/** A condition/Event reason (CamelCase) for a selection outcome. */
export function selectionReason(s: Selection): string {
  switch (s.kind) {
    case 'Selected':
      return 'PolicySelected';
    case 'None':
      return 'NoPolicy';
    case 'Conflict':
      return 'PolicyConflict';
    case 'AnnotatedPolicyMissing':
      return 'AnnotatedPolicyMissing';
    case 'AnnotatedPolicyDoesNotSelect':
      return 'AnnotatedPolicyDoesNotSelect';
    case 'AnnotatedPolicyInvalid':
      return 'AnnotatedPolicyInvalid';
    case 'InvalidAnnotation':
      return 'InvalidPolicyAnnotation';
  }
}

/** A sentence a user understands, for conditions and Events. Deterministic. */
export function selectionMessage(s: Selection, namespace: string): string {
  switch (s.kind) {
    case 'Selected':
      return s.via === 'Annotation'
        ? `CheckpointPolicy "${s.name}" selected by the ${POLICY_ANNOTATION} annotation.`
        : `CheckpointPolicy "${s.name}" selects this job.`;
    case 'None':
      return 'No CheckpointPolicy selects this job.';
    case 'Conflict':
      return `CheckpointPolicies ${s.policies.map((n) => `"${n}"`).join(', ')} all select this job; nothing is provisioned until exactly one does. Set the ${POLICY_ANNOTATION} annotation to choose one, or make their selectors disjoint.`;
    case 'AnnotatedPolicyMissing':
      return `The ${POLICY_ANNOTATION} annotation names CheckpointPolicy "${s.name}", which does not exist.`;
    case 'AnnotatedPolicyDoesNotSelect':
      return s.selector === 'namespaceSelector'
        ? `The ${POLICY_ANNOTATION} annotation names CheckpointPolicy "${s.name}", whose namespaceSelector does not select namespace "${namespace}"; a job can only choose among policies that select it.`
        : `The ${POLICY_ANNOTATION} annotation names CheckpointPolicy "${s.name}", whose jobSelector does not match this job's labels; a job can only choose among policies that select it (add the labels the jobSelector asks for).`;
    case 'AnnotatedPolicyInvalid':
      return `The ${POLICY_ANNOTATION} annotation names CheckpointPolicy "${s.name}", whose selectors are invalid: ${s.errors.join('; ')}.`;
    case 'InvalidAnnotation':
      return `The ${POLICY_ANNOTATION} annotation value ${JSON.stringify(s.value)} is not a valid CheckpointPolicy name.`;
  }
}
