import { describe, expect, it } from 'vitest';
import {
  ConditionError,
  type ConditionInput,
  compileCondition,
  extractTemplate,
  LIST_PREFIX_ATTRIBUTE,
} from '../../src/emulator/iam/conditions.js';

const B = 'projects/_/buckets/b';

function objectInput(name: string, time = new Date('2026-01-01T12:00:00Z')): ConditionInput {
  return {
    resourceName: `${B}/objects/${name}`,
    resourceType: 'storage.googleapis.com/Object',
    resourceService: 'storage.googleapis.com',
    requestTime: time,
    attributes: {},
  };
}

function listInput(prefix: string | undefined): ConditionInput {
  return {
    resourceName: B,
    resourceType: 'storage.googleapis.com/Bucket',
    resourceService: 'storage.googleapis.com',
    requestTime: new Date(),
    attributes: prefix === undefined ? {} : { [LIST_PREFIX_ATTRIBUTE]: prefix },
  };
}

// Tidemark's BucketCondition expression for prefix p/job (design §2).
const JOB = `resource.name == "${B}/objects/p/job" || resource.name.startsWith("${B}/objects/p/job/") || api.getAttribute("${LIST_PREFIX_ATTRIBUTE}", "").startsWith("p/job/")`;

describe('compileCondition', () => {
  it.each([
    ['p/job/offsets/0', true],
    ['p/job', true],
    ['p/job2/offsets/0', false],
    ['p/jo', false],
    ['q/p/job/x', false],
  ])('object %s under the job condition → %s', (name, want) => {
    expect(compileCondition(JOB)(objectInput(name))).toBe(want);
  });

  it.each([
    ['p/job/', true],
    ['p/job/commits/', true],
    ['p/job2/', false],
    ['p/job', false],
    ['', false],
  ])('list prefix %j under the job condition → %s', (prefix, want) => {
    expect(compileCondition(JOB)(listInput(prefix))).toBe(want);
  });

  it('the startsWith("p/job") form would let a neighbour p/job2 list (why Tidemark appends the slash)', () => {
    const loose = `api.getAttribute("${LIST_PREFIX_ATTRIBUTE}", "").startsWith("p/job")`;
    expect(compileCondition(loose)(listInput('p/job2/'))).toBe(true);
  });

  it('getAttribute answers its default when the attribute is absent (not a list call)', () => {
    const c = compileCondition(`api.getAttribute("${LIST_PREFIX_ATTRIBUTE}", "none") == "none"`);
    expect(c(listInput(undefined))).toBe(true);
    expect(c(listInput('x/'))).toBe(false);
  });

  it('evaluates request.time as a timestamp', () => {
    const c = compileCondition('request.time < timestamp("2026-06-01T00:00:00Z")');
    expect(c(objectInput('a', new Date('2026-05-31T23:59:59Z')))).toBe(true);
    expect(c(objectInput('a', new Date('2026-06-01T00:00:01Z')))).toBe(false);
    const hours = compileCondition('request.time.getHours("UTC") == 12');
    expect(hours(objectInput('a'))).toBe(true);
  });

  it('evaluates resource.type and resource.service', () => {
    const c = compileCondition(
      'resource.type == "storage.googleapis.com/Object" && resource.service == "storage.googleapis.com"',
    );
    expect(c(objectInput('a'))).toBe(true);
    expect(c(listInput(''))).toBe(false);
  });

  it('supports extract(), matches() and endsWith()', () => {
    expect(compileCondition(`resource.name.extract("/objects/{name}/") == "p"`)(objectInput('p/x'))).toBe(true);
    expect(compileCondition(`resource.name.matches("^${B}/objects/p/[a-z]+$")`)(objectInput('p/abc'))).toBe(true);
    expect(compileCondition(`resource.name.endsWith(".parquet")`)(objectInput('p/abc'))).toBe(false);
  });

  it('supports macros such as exists() over lists', () => {
    const c = compileCondition(`["p/a/", "p/b/"].exists(x, resource.name.startsWith("${B}/objects/" + x))`);
    expect(c(objectInput('p/b/1'))).toBe(true);
    expect(c(objectInput('p/c/1'))).toBe(false);
  });

  it('an expression that errors at evaluation denies', () => {
    // size(int) has no overload at run time; comparing a string with an int is an error too.
    expect(compileCondition('resource.name == 1 || resource.name.size() > 0')(objectInput('a'))).toBe(true);
    expect(compileCondition('int(resource.name) > 0')(objectInput('a'))).toBe(false);
  });

  it('a non-boolean result denies', () => {
    expect(compileCondition('resource.name')(objectInput('a'))).toBe(false);
  });

  it.each([
    ['', /empty/],
    ['resource.name.startsWith(', /syntax error/i],
    ['resource.nme == "x"', /unsupported attribute 'resource.nme'/],
    ['foo.bar == 1', /undeclared reference to 'foo'/],
    ['resource.name.frobnicate()', /undeclared reference to function 'frobnicate'/],
    ['resource.getAttribute("x", "")', /only defined on 'api'/],
    ['api.getAttribute(resource.name, "")', /string literal/],
    [Array.from({ length: 14 }, (_, i) => `resource.name == "${i}"`).join(' || '), /13 logical operators; at most 12/],
  ])('refuses %j', (expr, msg) => {
    expect(() => compileCondition(expr)).toThrow(ConditionError);
    expect(() => compileCondition(expr)).toThrow(msg);
  });
});

describe('extractTemplate', () => {
  it.each([
    ['projects/_/buckets/b/objects/p/x', '/objects/{name}/', 'p'],
    ['projects/_/buckets/b/objects/p/x', '/objects/{name}', 'p/x'],
    ['projects/_/buckets/b', '/objects/{name}/', ''],
    ['projects/_/buckets/b/objects/p', '/objects/{name}/', ''],
  ])('%s with %s → %j', (value, template, want) => {
    expect(extractTemplate(value, template)).toBe(want);
  });
});
