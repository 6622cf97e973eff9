// Offline validation of Tidemark objects against the CRD schemas in crds/: defaulting, the structural checks
// (required, types, enums, lengths, bounds, list sets, unknown fields) and the x-kubernetes-validations CEL rules,
// evaluated with @bufbuild/cel. It exists for code that has no API server at hand (`tidemark plan` over YAML) and
// for fast tests of the rules; the API server stays the authority (the integration tests hold the two together).
//
// Not covered: CEL cost limits (the API server checks them when the CRD is installed), `format` checks, and
// metadata beyond metadata.name.
import { type CelInput, CelScalar, celEnv, celMethod, isCelError, listType, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { crdSchema, type SchemaNode, type TidemarkKind, type ValidationRule } from './schema.js';

export type FieldErrorType = 'Required' | 'Invalid' | 'Unsupported' | 'TooLong' | 'TooMany' | 'Duplicate' | 'Unknown';

/** One refusal, worded like the API server's field errors ("spec.storage.bucket: Invalid value: ..."). */
export class FieldError {
  constructor(
    readonly type: FieldErrorType,
    /** Dotted path such as spec.storage.bucket or spec.access.allowedServiceAccounts[0]. */
    readonly field: string,
    readonly detail: string,
  ) {}

  toString(): string {
    if (this.type === 'Unknown') return `unknown field "${this.field}"`;
    return `${this.field === '' ? '<nil>' : this.field}: ${this.detail}`;
  }
}

/** A deep copy of value with the schema's defaults applied where fields are absent (as the API server does). */
export function applyDefaults(schema: SchemaNode, value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = schema.items;
    return items ? value.map((v) => applyDefaults(items, v)) : structuredClone(value);
  }
  if (!isObject(value)) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const child = schema.properties?.[key] ?? additional(schema);
    out[key] = child ? applyDefaults(child, v) : structuredClone(v);
  }
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (out[key] === undefined && child.default !== undefined) out[key] = applyDefaults(child, child.default);
  }
  return out;
}

export interface ValidateOptions {
  /** The stored object for an update: transition rules (those that use oldSelf) run only when it is given. */
  old?: unknown;
  /** Report fields the schema does not know (the API server's strict field validation). Default true. */
  rejectUnknownFields?: boolean;
}

/** Every field error of value against schema (defaults already applied by the caller). */
export function validateValue(schema: SchemaNode, value: unknown, options: ValidateOptions = {}): FieldError[] {
  const errors: FieldError[] = [];
  walk(schema, value, options.old, '', errors, options.rejectUnknownFields ?? true);
  return errors;
}

/**
 * Defaults and validates a CheckpointPolicy or Checkpoint the way the API server would on create (or on update,
 * with `old`). Returns the defaulted object and the errors, which are empty when the server would accept it.
 */
export function validateObject(
  kind: TidemarkKind,
  object: unknown,
  options: ValidateOptions = {},
): { object: unknown; errors: FieldError[] } {
  const schema = crdSchema(kind);
  const defaulted = applyDefaults(schema, object);
  return { object: defaulted, errors: validateValue(schema, defaulted, options) };
}

function walk(
  schema: SchemaNode,
  value: unknown,
  old: unknown,
  path: string,
  errors: FieldError[],
  strict: boolean,
): void {
  if (value === undefined) return;
  const before = errors.length;
  if (!checkType(schema, value, path, errors)) return;
  if (schema.enum && !schema.enum.some((e) => e === value)) {
    const supported = schema.enum.map((e) => JSON.stringify(e)).join(', ');
    errors.push(
      new FieldError(
        'Unsupported',
        path,
        `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported}`,
      ),
    );
  }
  if (typeof value === 'string') checkString(schema, value, path, errors);
  if (typeof value === 'number') checkNumber(schema, value, path, errors);
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      errors.push(
        new FieldError('TooMany', path, `Too many: ${value.length}: must have at most ${schema.maxItems} items`),
      );
    }
    checkListType(schema, value, path, errors);
    const items = schema.items;
    if (items) {
      value.forEach((v, i) => {
        walk(items, v, undefined, `${path}[${i}]`, errors, strict);
      });
    }
  }
  if (isObject(value)) checkObject(schema, value, old, path, errors, strict);
  // Like the API server, CEL rules run only on values that passed the schema's own checks.
  if (errors.length === before) checkRules(schema, value, old, path, errors);
}

function checkType(schema: SchemaNode, value: unknown, path: string, errors: FieldError[]): boolean {
  const t = schema.type;
  if (t === undefined) return true;
  const ok =
    (t === 'object' && isObject(value)) ||
    (t === 'array' && Array.isArray(value)) ||
    (t === 'string' && typeof value === 'string') ||
    (t === 'boolean' && typeof value === 'boolean') ||
    (t === 'number' && typeof value === 'number') ||
    (t === 'integer' && typeof value === 'number' && Number.isInteger(value));
  if (!ok) {
    const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
    errors.push(new FieldError('Invalid', path, `Invalid value: "${actual}": ${path} in body must be of type ${t}`));
  }
  return ok;
}

function checkString(schema: SchemaNode, value: string, path: string, errors: FieldError[]): void {
  if (schema.maxLength !== undefined && value.length > schema.maxLength) {
    errors.push(new FieldError('TooLong', path, `Too long: may not be more than ${schema.maxLength} bytes`));
  }
  if (schema.minLength !== undefined && value.length < schema.minLength) {
    errors.push(
      new FieldError(
        'Invalid',
        path,
        `Invalid value: ${JSON.stringify(value)}: ${path} in body should be at least ${schema.minLength} chars long`,
      ),
    );
  }
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
    errors.push(
      new FieldError(
        'Invalid',
        path,
        `Invalid value: ${JSON.stringify(value)}: ${path} in body should match '${schema.pattern}'`,
      ),
    );
  }
}

function checkNumber(schema: SchemaNode, value: number, path: string, errors: FieldError[]): void {
  if (schema.minimum !== undefined && value < schema.minimum) {
    errors.push(
      new FieldError(
        'Invalid',
        path,
        `Invalid value: ${value}: ${path} in body should be greater than or equal to ${schema.minimum}`,
      ),
    );
  }
  if (schema.maximum !== undefined && value > schema.maximum) {
    errors.push(
      new FieldError(
        'Invalid',
        path,
        `Invalid value: ${value}: ${path} in body should be less than or equal to ${schema.maximum}`,
      ),
    );
  }
}

function checkListType(schema: SchemaNode, value: unknown[], path: string, errors: FieldError[]): void {
  const listType = schema['x-kubernetes-list-type'];
  if (listType !== 'set' && listType !== 'map') return;
  const seen = new Set<string>();
  value.forEach((item, i) => {
    const keys = schema['x-kubernetes-list-map-keys'] ?? [];
    const identity =
      listType === 'set'
        ? JSON.stringify(item)
        : JSON.stringify(keys.map((k) => (isObject(item) ? item[k] : undefined)));
    if (seen.has(identity)) {
      errors.push(new FieldError('Duplicate', `${path}[${i}]`, `Duplicate value: ${identity}`));
    }
    seen.add(identity);
  });
}

function checkObject(
  schema: SchemaNode,
  value: Record<string, unknown>,
  old: unknown,
  path: string,
  errors: FieldError[],
  strict: boolean,
): void {
  for (const key of schema.required ?? []) {
    if (value[key] === undefined) errors.push(new FieldError('Required', join(path, key), 'Required value'));
  }
  const entries = Object.entries(value);
  if (schema.maxProperties !== undefined && entries.length > schema.maxProperties) {
    errors.push(
      new FieldError('TooMany', path, `Too many: ${entries.length}: must have at most ${schema.maxProperties} items`),
    );
  }
  const oldObject = isObject(old) ? old : undefined;
  for (const [key, v] of entries) {
    const child = schema.properties?.[key] ?? additional(schema);
    if (child) {
      walk(child, v, oldObject?.[key], join(path, key), errors, strict);
    } else if (strict && schema.properties !== undefined && schema.additionalProperties !== true) {
      errors.push(new FieldError('Unknown', join(path, key), 'unknown field'));
    }
  }
}

function checkRules(schema: SchemaNode, value: unknown, old: unknown, path: string, errors: FieldError[]): void {
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    const transition = /\boldSelf\b/.test(rule.rule);
    if (transition && old === undefined) continue;
    const bindings: Record<string, CelInput> = { self: toCel(schema, value) };
    if (transition) bindings.oldSelf = toCel(schema, old);
    const result = compiled(rule)(bindings);
    const field = !rule.fieldPath ? path : path === '' ? rule.fieldPath.slice(1) : `${path}${rule.fieldPath}`;
    if (isCelError(result)) {
      errors.push(
        new FieldError(
          'Invalid',
          field,
          `Invalid value: ${shown(value)}${result.message} evaluating rule: ${messageOf(rule)}`,
        ),
      );
    } else if (result !== true) {
      if (rule.reason === 'FieldValueRequired')
        errors.push(new FieldError('Required', field, `Required value: ${messageOf(rule)}`));
      else errors.push(new FieldError('Invalid', field, `Invalid value: ${shown(value)}${messageOf(rule)}`));
    }
  }
}

function messageOf(rule: ValidationRule): string {
  return rule.message ?? `failed rule: ${rule.rule}`;
}

// Kubernetes' regex library (find/findAll); patterns are run by JavaScript's RegExp, which agrees with RE2 on the
// plain patterns the CRDs give them (matches() itself is @bufbuild/cel's RE2).
const find = celMethod('find', CelScalar.STRING, [CelScalar.STRING], CelScalar.STRING, function (this, pattern) {
  return new RegExp(pattern, 'u').exec(this)?.[0] ?? '';
});
const findAll = celMethod(
  'findAll',
  CelScalar.STRING,
  [CelScalar.STRING],
  listType(CelScalar.STRING),
  function (this, pattern) {
    return [...this.matchAll(new RegExp(pattern, 'gu'))].map((m) => m[0]);
  },
);

const programs = new Map<string, ReturnType<typeof plan>>();
const env = celEnv({ funcs: [...strings, find, findAll] });

function compiled(rule: ValidationRule): ReturnType<typeof plan> {
  let program = programs.get(rule.rule);
  if (!program) {
    program = plan(env, parse(rule.rule));
    programs.set(rule.rule, program);
  }
  return program;
}

/** A JSON value as CEL sees it: objects become maps, integers of integer-typed fields become ints. */
function toCel(schema: SchemaNode | undefined, value: unknown): CelInput {
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items, v));
  if (isObject(value)) {
    const m = new Map<string, CelInput>();
    for (const [k, v] of Object.entries(value)) {
      const child = schema?.properties?.[k] ?? (schema ? additional(schema) : undefined);
      m.set(k, toCel(child, v));
    }
    return m;
  }
  if (typeof value === 'number' && (schema?.type === 'integer' || (schema === undefined && Number.isInteger(value)))) {
    return BigInt(value);
  }
  return value as CelInput;
}

/** How the API server shows the value in a CEL rule's error: scalars as JSON followed by ": ", objects and lists not at all. */
function shown(value: unknown): string {
  if (Array.isArray(value) || isObject(value)) return '';
  return `${JSON.stringify(value)}: `;
}

function additional(schema: SchemaNode): SchemaNode | undefined {
  return typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}
