// IAM Conditions: CEL expressions compiled and evaluated by @bufbuild/cel over the attributes Cloud Storage
// offers (resource.name/type/service, request.time, api.getAttribute('storage.googleapis.com/objectListPrefix')).
import { CelScalar, celEnv, celMethod, isCelError, mapType, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';

export const LIST_PREFIX_ATTRIBUTE = 'storage.googleapis.com/objectListPrefix';

export interface ConditionInput {
  resourceName: string;
  resourceType: string;
  resourceService: string;
  requestTime: Date;
  /** api.getAttribute(name, default) answers from here; absent names yield the default. */
  attributes: Readonly<Record<string, string>>;
}

export type CompiledCondition = (input: ConditionInput) => boolean;

export class ConditionError extends Error {
  override name = 'ConditionError';
}

/** Google's limits on one condition (IAM "Limits on conditions"). */
export const CONDITION_LIMITS = {
  titleChars: 100,
  descriptionChars: 256,
  expressionChars: 12_800,
  logicalOperators: 12,
};

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

/** IAM's `extract`: the text between the template's literal prefix and suffix around `{name}`, else "". */
export function extractTemplate(value: string, template: string): string {
  const m = /^([^{}]*)\{[A-Za-z_][A-Za-z0-9_]*\}([^{}]*)$/.exec(template);
  if (!m) throw new Error(`extract: template '${template}' must contain exactly one {name} placeholder`);
  const prefix = m[1] as string;
  const suffix = m[2] as string;
  const start = value.indexOf(prefix);
  if (start < 0) return '';
  const from = start + prefix.length;
  if (suffix === '') return value.slice(from);
  const end = value.indexOf(suffix, from);
  return end < 0 ? '' : value.slice(from, end);
}

const extract = celMethod('extract', CelScalar.STRING, [CelScalar.STRING], CelScalar.STRING, function (this, template) {
  return extractTemplate(this, template);
});

const ENV = celEnv({
  variables: { resource: STRING_MAP, request: STRING_MAP, api: STRING_MAP },
  funcs: [getAttribute, extract, ...strings],
});

const ROOT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  resource: ['name', 'type', 'service'],
  request: ['time'],
  api: [],
};

const FUNCTIONS = new Set([
  'size',
  'startsWith',
  'endsWith',
  'matches',
  'contains',
  'extract',
  'getAttribute',
  'lowerAscii',
  'upperAscii',
  'timestamp',
  'duration',
  'int',
  'uint',
  'double',
  'string',
  'bool',
  'getDate',
  'getDayOfMonth',
  'getDayOfWeek',
  'getDayOfYear',
  'getFullYear',
  'getHours',
  'getMilliseconds',
  'getMinutes',
  'getMonth',
  'getSeconds',
]);

const LOGICAL = new Set(['_&&_', '_||_', '!_']);

type Expr = ReturnType<typeof parse>['expr'];

/** Rejects what Google's condition compiler rejects: unknown variables, attributes and functions. */
function validate(expr: Expr, scope: ReadonlySet<string>, counts: { logical: number }): void {
  const k = expr.exprKind;
  switch (k.case) {
    case 'constExpr':
      return;
    case 'identExpr':
      if (!scope.has(k.value.name) && !(k.value.name in ROOT_FIELDS)) {
        throw new ConditionError(`undeclared reference to '${k.value.name}'`);
      }
      return;
    case 'selectExpr': {
      const operand = k.value.operand;
      if (operand?.exprKind.case === 'identExpr' && !scope.has(operand.exprKind.value.name)) {
        const root = operand.exprKind.value.name;
        const fields = ROOT_FIELDS[root];
        if (!fields) throw new ConditionError(`undeclared reference to '${root}'`);
        if (!fields.includes(k.value.field)) {
          throw new ConditionError(`unsupported attribute '${root}.${k.value.field}'`);
        }
        return;
      }
      if (operand) validate(operand, scope, counts);
      return;
    }
    case 'callExpr': {
      const fn = k.value.function;
      if (LOGICAL.has(fn)) counts.logical++;
      const operator = fn.startsWith('_') || fn.startsWith('@') || fn === '!_';
      if (!operator && !FUNCTIONS.has(fn)) throw new ConditionError(`undeclared reference to function '${fn}'`);
      if (fn === 'getAttribute') {
        const t = k.value.target;
        if (t?.exprKind.case !== 'identExpr' || t.exprKind.value.name !== 'api') {
          throw new ConditionError(`getAttribute is only defined on 'api'`);
        }
        const first = k.value.args[0];
        if (
          k.value.args.length !== 2 ||
          first?.exprKind.case !== 'constExpr' ||
          first.exprKind.value.constantKind.case !== 'stringValue'
        ) {
          throw new ConditionError(`api.getAttribute takes an attribute name (a string literal) and a default value`);
        }
      } else if (k.value.target) {
        validate(k.value.target, scope, counts);
      }
      for (const a of k.value.args) validate(a, scope, counts);
      return;
    }
    case 'listExpr':
      for (const e of k.value.elements) validate(e, scope, counts);
      return;
    case 'structExpr':
      if (k.value.messageName)
        throw new ConditionError(`message construction '${k.value.messageName}' is not supported`);
      for (const e of k.value.entries) {
        if (e.keyKind.case === 'mapKey') validate(e.keyKind.value, scope, counts);
        if (e.value) validate(e.value, scope, counts);
      }
      return;
    case 'comprehensionExpr': {
      const c = k.value;
      const inner = new Set([...scope, c.iterVar, c.accuVar, ...(c.iterVar2 ? [c.iterVar2] : [])]);
      for (const part of [c.iterRange, c.accuInit]) if (part) validate(part, scope, counts);
      for (const part of [c.loopCondition, c.loopStep, c.result]) if (part) validate(part, inner, counts);
      return;
    }
    default:
      throw new ConditionError('empty expression');
  }
}

function planFor(parsed: ReturnType<typeof parse>) {
  return plan(ENV, parsed);
}

const cache = new Map<string, CompiledCondition>();
const CACHE_MAX = 10_000;

/** Compiles an expression; throws ConditionError (with the reason) when Google would refuse it. */
export function compileCondition(expression: string): CompiledCondition {
  const hit = cache.get(expression);
  if (hit) return hit;
  if (expression.trim() === '') throw new ConditionError('the expression is empty');
  if (expression.length > CONDITION_LIMITS.expressionChars) {
    throw new ConditionError(`the expression is longer than ${CONDITION_LIMITS.expressionChars} characters`);
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(expression);
  } catch (err) {
    throw new ConditionError(`syntax error: ${err instanceof Error ? err.message : String(err)}`);
  }
  const counts = { logical: 0 };
  validate(parsed.expr, new Set(), counts);
  if (counts.logical > CONDITION_LIMITS.logicalOperators) {
    throw new ConditionError(
      `the expression has ${counts.logical} logical operators; at most ${CONDITION_LIMITS.logicalOperators} are allowed`,
    );
  }
  let program: ReturnType<typeof planFor>;
  try {
    program = planFor(parsed);
  } catch (err) {
    throw new ConditionError(err instanceof Error ? err.message : String(err));
  }
  const compiled: CompiledCondition = (input) => {
    const result = program({
      resource: { name: input.resourceName, type: input.resourceType, service: input.resourceService },
      request: { time: timestampFromDate(input.requestTime) },
      api: { ...input.attributes },
    });
    // An evaluation error, or anything but boolean true, denies (as on Google).
    return !isCelError(result) && result === true;
  };
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(expression, compiled);
  return compiled;
}
