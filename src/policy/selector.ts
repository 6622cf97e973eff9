// Kubernetes label selectors (metav1.LabelSelector): validation and matching, with apimachinery's semantics.
// @kubernetes/client-node 1.4 has no selector matcher (it only passes selector strings to the API server), so
// this is written here. `{}` selects everything; a missing (null/undefined) selector selects nothing, as in
// Kubernetes. An invalid selector is an error value carrying every problem found, never a throw.
import { labelValueError, qualifiedNameError } from './names.js';

export type Labels = Readonly<Record<string, string>>;

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: readonly string[] | null | undefined;
}

export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string | undefined>> | null | undefined;
  matchExpressions?: readonly LabelSelectorRequirement[] | null | undefined;
}

/** A validated selector, ready to match label sets. */
export interface CompiledSelector {
  /** True for `{}` (no requirements): matches every label set. */
  readonly matchesEverything: boolean;
  /** True for a missing selector: matches no label set. */
  readonly matchesNothing: boolean;
  matches(labels: Labels | null | undefined): boolean;
}

export type SelectorResult = { ok: true; selector: CompiledSelector } | { ok: false; errors: string[] };

interface Requirement {
  key: string;
  op: SelectorOperator;
  values: ReadonlySet<string>;
}

const OPERATORS: ReadonlySet<string> = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

const NOTHING: CompiledSelector = { matchesEverything: false, matchesNothing: true, matches: () => false };

/** Validates `sel` and returns a matcher, or every problem found (each naming the field at fault). */
export function compileSelector(sel: LabelSelector | null | undefined): SelectorResult {
  if (sel === null || sel === undefined) return { ok: true, selector: NOTHING };
  if (typeof sel !== 'object' || Array.isArray(sel)) return { ok: false, errors: ['selector must be an object'] };
  const errors: string[] = [];
  const reqs: Requirement[] = [];

  const ml = sel.matchLabels;
  if (ml !== null && ml !== undefined) {
    if (typeof ml !== 'object' || Array.isArray(ml)) {
      errors.push('matchLabels must be a map of strings');
    } else {
      for (const [key, value] of Object.entries(ml)) {
        const keyErr = qualifiedNameError(key);
        if (keyErr) errors.push(`matchLabels key "${key}": ${keyErr}`);
        if (typeof value !== 'string') {
          errors.push(`matchLabels["${key}"] must be a string`);
          continue;
        }
        const valErr = labelValueError(value);
        if (valErr) errors.push(`matchLabels["${key}"] value "${value}": ${valErr}`);
        reqs.push({ key, op: 'In', values: new Set([value]) });
      }
    }
  }

  const me = sel.matchExpressions;
  if (me !== null && me !== undefined) {
    if (!Array.isArray(me)) {
      errors.push('matchExpressions must be a list');
    } else {
      me.forEach((req: unknown, i: number) => {
        const at = `matchExpressions[${i}]`;
        if (typeof req !== 'object' || req === null) {
          errors.push(`${at} must be an object`);
          return;
        }
        const { key, operator, values } = req as Record<string, unknown>;
        if (typeof key !== 'string') {
          errors.push(`${at}.key must be a string`);
          return;
        }
        const keyErr = qualifiedNameError(key);
        if (keyErr) errors.push(`${at}.key "${key}": ${keyErr}`);
        if (typeof operator !== 'string' || !OPERATORS.has(operator)) {
          errors.push(`${at}.operator ${JSON.stringify(operator)} is not one of In, NotIn, Exists, DoesNotExist`);
          return;
        }
        const op = operator as SelectorOperator;
        let vals: string[] = [];
        if (values !== null && values !== undefined) {
          if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) {
            errors.push(`${at}.values must be a list of strings`);
            return;
          }
          vals = values as string[];
        }
        if ((op === 'In' || op === 'NotIn') && vals.length === 0) {
          errors.push(`${at}.values must be non-empty when operator is ${op}`);
        }
        if ((op === 'Exists' || op === 'DoesNotExist') && vals.length > 0) {
          errors.push(`${at}.values must be empty when operator is ${op}`);
        }
        vals.forEach((v, j) => {
          const valErr = labelValueError(v);
          if (valErr) errors.push(`${at}.values[${j}] "${v}": ${valErr}`);
        });
        reqs.push({ key, op, values: new Set(vals) });
      });
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  const selector: CompiledSelector = {
    matchesEverything: reqs.length === 0,
    matchesNothing: false,
    matches: (labels) => reqs.every((r) => requirementMatches(r, labels ?? {})),
  };
  return { ok: true, selector };
}

function requirementMatches(r: Requirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.op) {
    case 'In':
      return has && r.values.has(labels[r.key] as string);
    case 'NotIn':
      return !has || !r.values.has(labels[r.key] as string);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

/** One-shot match: `{ok: true, matches}` or the validation errors. */
export function matchSelector(
  sel: LabelSelector | null | undefined,
  labels: Labels | null | undefined,
): { ok: true; matches: boolean } | { ok: false; errors: string[] } {
  const compiled = compileSelector(sel);
  if (!compiled.ok) return compiled;
  return { ok: true, matches: compiled.selector.matches(labels) };
}

/**
 * The selector in kubectl's string syntax (`a=b,c in (d,e),!f`), for messages: `<all>` for `{}`, `<none>` for a
 * missing selector. Requirements are sorted by key (then text) so the text is deterministic.
 */
export function formatSelector(sel: LabelSelector | null | undefined): string {
  if (sel === null || sel === undefined) return '<none>';
  const parts: { key: string; text: string }[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push({ key: k, text: `${k}=${v}` });
  for (const r of sel.matchExpressions ?? []) {
    const vals = [...(r.values ?? [])].sort().join(',');
    switch (r.operator) {
      case 'In':
        parts.push({ key: r.key, text: `${r.key} in (${vals})` });
        break;
      case 'NotIn':
        parts.push({ key: r.key, text: `${r.key} notin (${vals})` });
        break;
      case 'Exists':
        parts.push({ key: r.key, text: r.key });
        break;
      case 'DoesNotExist':
        parts.push({ key: r.key, text: `!${r.key}` });
        break;
      default:
        parts.push({ key: r.key, text: `${r.key} ${r.operator} (${vals})` });
    }
  }
  if (parts.length === 0) return '<all>';
  return parts
    .sort((a, b) => cmp(a.key, b.key) || cmp(a.text, b.text))
    .map((p) => p.text)
    .join(',');
}

/** Code-unit string order, independent of locale. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
