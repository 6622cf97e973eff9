// The IAM condition of a job's binding in BucketCondition mode, and recognising Tidemark's own bindings.
//
// For the job prefix `P/` (P = prefix without its trailing '/') on bucket B the expression is
//   resource.name == "projects/_/buckets/B/objects/P"
//   || resource.name.startsWith("projects/_/buckets/B/objects/P/")
//   || api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("P/")
// - The first clause lets the Hadoop connector stat the directory path itself (`GET .../o/P` answers 404, not 403).
// - Listing is allowed for list prefixes that start with `P/` only. The design's `.startsWith("P")` would let job
//   `job` list `job2/`; a list with prefix exactly `P` (no slash) is therefore denied. The connector lists a
//   directory with `P/` (it appends the delimiter), so it does not need `P`.
// Title `tidemark:<namespace>/<job>` (at most 100 characters; longer names are cut and tagged with a hash),
// description says what it grants. Tidemark recognises its own bindings by the `tidemark:` title prefix AND an
// expression that is exactly what it would build; anything else is foreign and never touched.
import { createHash } from 'node:crypto';

export const TITLE_PREFIX = 'tidemark:';
export const LIST_PREFIX_ATTRIBUTE = 'storage.googleapis.com/objectListPrefix';

/** Google's limits on one condition (IAM "Limits on conditions"). */
export const CONDITION_LIMITS = {
  titleChars: 100,
  descriptionChars: 256,
  expressionChars: 12_800,
  logicalOperators: 12,
};

export interface IamCondition {
  title: string;
  description?: string | undefined;
  expression: string;
}

/** A CEL string literal (double-quoted) for `s`: escapes `\`, `"` and control characters. */
export function celString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** The inverse of celString for the escapes it produces; undefined for anything else. */
function parseCelString(lit: string): string | undefined {
  if (lit.length < 2 || !lit.startsWith('"') || !lit.endsWith('"')) return undefined;
  const body = lit.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch === '"') return undefined;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[++i];
    if (next === '\\' || next === '"') out += next;
    else if (next === 'n') out += '\n';
    else if (next === 'r') out += '\r';
    else if (next === 't') out += '\t';
    else if (next === 'x' && /^[0-9a-f]{2}$/.test(body.slice(i + 1, i + 3))) {
      out += String.fromCharCode(Number.parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else return undefined;
  }
  return out;
}

function stripSlash(prefix: string): string {
  if (!prefix.endsWith('/') || prefix.length < 2) {
    throw new Error(`condition: prefix ${JSON.stringify(prefix)} must be non-empty and end with "/"`);
  }
  return prefix.slice(0, -1);
}

/** The condition expression for `prefix` (ending with '/') on `bucket`. */
export function prefixConditionExpression(bucket: string, prefix: string): string {
  const p = stripSlash(prefix);
  const obj = `projects/_/buckets/${bucket}/objects/${p}`;
  return (
    `resource.name == ${celString(obj)}` +
    ` || resource.name.startsWith(${celString(`${obj}/`)})` +
    ` || api.getAttribute(${celString(LIST_PREFIX_ATTRIBUTE)}, "").startsWith(${celString(`${p}/`)})`
  );
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/** `tidemark:<namespace>/<job>`, cut to 100 characters with a hash of the full name when longer. */
export function conditionTitle(job: { namespace: string; name: string }): string {
  const full = `${TITLE_PREFIX}${job.namespace}/${job.name}`;
  if (full.length <= CONDITION_LIMITS.titleChars) return full;
  const tag = `~${shortHash(`${job.namespace}/${job.name}`)}`;
  return full.slice(0, CONDITION_LIMITS.titleChars - tag.length) + tag;
}

function conditionDescription(bucket: string, prefix: string, job: { namespace: string; name: string }): string {
  const long = `Tidemark: objects under gs://${bucket}/${prefix} for job ${job.namespace}/${job.name}`;
  if (long.length <= CONDITION_LIMITS.descriptionChars) return long;
  const short = `Tidemark: checkpoint prefix of job ${job.namespace}/${job.name}`;
  return short.length <= CONDITION_LIMITS.descriptionChars ? short : short.slice(0, CONDITION_LIMITS.descriptionChars);
}

/** The whole condition of a job's binding. The prefix must be `<...>/<namespace>/<job>/`. */
export function jobCondition(bucket: string, prefix: string, job: { namespace: string; name: string }): IamCondition {
  const segs = stripSlash(prefix).split('/');
  if (segs.length < 2 || segs[segs.length - 2] !== job.namespace || segs[segs.length - 1] !== job.name) {
    throw new Error(`condition: prefix "${prefix}" does not end with "${job.namespace}/${job.name}/"`);
  }
  return {
    title: conditionTitle(job),
    description: conditionDescription(bucket, prefix, job),
    expression: prefixConditionExpression(bucket, prefix),
  };
}

const EXPRESSION_SHAPE =
  /^resource\.name == ("(?:[^"\\]|\\.)*") \|\| resource\.name\.startsWith\(("(?:[^"\\]|\\.)*")\) \|\| api\.getAttribute\("storage\.googleapis\.com\/objectListPrefix", ""\)\.startsWith\(("(?:[^"\\]|\\.)*")\)$/;

export interface TidemarkConditionRef {
  bucket: string;
  /** The job's prefix, ending with '/'. */
  prefix: string;
  namespace: string;
  name: string;
}

/** Whether a condition carries Tidemark's title prefix (a first filter; see parseTidemarkCondition). */
export function hasTidemarkTitle(cond: { title?: string | undefined } | null | undefined): boolean {
  return typeof cond?.title === 'string' && cond.title.startsWith(TITLE_PREFIX);
}

/**
 * Which job a condition is for, when it is exactly a condition Tidemark builds (title and expression); otherwise
 * undefined (a foreign condition, or one edited by hand, which Tidemark leaves alone).
 */
export function parseTidemarkCondition(
  cond: { title?: string | undefined; expression?: string | undefined } | null | undefined,
): TidemarkConditionRef | undefined {
  if (!cond || !hasTidemarkTitle(cond) || typeof cond.expression !== 'string') return undefined;
  const m = EXPRESSION_SHAPE.exec(cond.expression);
  if (!m) return undefined;
  const obj = parseCelString(m[1] as string);
  if (obj === undefined) return undefined;
  const om = /^projects\/_\/buckets\/([^/]+)\/objects\/(.+)$/s.exec(obj);
  if (!om) return undefined;
  const bucket = om[1] as string;
  const prefix = `${om[2] as string}/`;
  const segs = (om[2] as string).split('/');
  if (segs.length < 3) return undefined;
  const namespace = segs[segs.length - 2] as string;
  const name = segs[segs.length - 1] as string;
  if (namespace === '' || name === '') return undefined;
  const job = { namespace, name };
  // Only our exact form counts: rebuild and compare.
  if (cond.expression !== prefixConditionExpression(bucket, prefix)) return undefined;
  if (cond.title !== conditionTitle(job)) return undefined;
  return { bucket, prefix, namespace, name };
}

/** Problems with a condition against Google's limits (title/description/expression length, logic operators). */
export function conditionLimitErrors(cond: IamCondition): string[] {
  const errors: string[] = [];
  if (cond.title.length === 0) errors.push('condition title must not be empty');
  if (cond.title.length > CONDITION_LIMITS.titleChars) {
    errors.push(`condition title is longer than ${CONDITION_LIMITS.titleChars} characters`);
  }
  if ((cond.description ?? '').length > CONDITION_LIMITS.descriptionChars) {
    errors.push(`condition description is longer than ${CONDITION_LIMITS.descriptionChars} characters`);
  }
  if (cond.expression.length > CONDITION_LIMITS.expressionChars) {
    errors.push(`condition expression is longer than ${CONDITION_LIMITS.expressionChars} characters`);
  }
  return errors;
}
