// docs/api.md stays true to the CRDs: every validation message is quoted in it, every field is described, every
// constant is named, and the complete example policy is one the API server would accept.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { Annotations, FINALIZER, Labels, Reasons, SCHEDULING_GATE } from '../../src/api/index.js';
import { crdSchema, type SchemaNode, type TidemarkKind } from '../../src/api/schema.js';
import { validateObject } from '../../src/api/validate.js';

const doc = readFileSync(fileURLToPath(new URL('../../docs/api.md', import.meta.url)), 'utf8');

/** Field paths below a node (dotted, list items and map values not spelled out) with their schema nodes. */
function* fields(node: SchemaNode, path: string): Generator<[string, SchemaNode]> {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const p = path ? `${path}.${key}` : key;
    yield [p, child];
    if (!['namespaceSelector', 'jobSelector', 'conditions'].includes(key)) yield* fields(child, p);
  }
  if (node.items) yield* fields(node.items, path);
}

describe.each<TidemarkKind>(['CheckpointPolicy', 'Checkpoint'])('docs/api.md on %s', (kind) => {
  const schema = crdSchema(kind);

  test('quotes every validation message of the CRD', () => {
    const missing: string[] = [];
    const visit = (node: SchemaNode) => {
      for (const rule of node['x-kubernetes-validations'] ?? []) {
        if (rule.message && !doc.includes(rule.message)) missing.push(rule.message);
      }
      for (const child of Object.values(node.properties ?? {})) visit(child);
      if (node.items) visit(node.items);
      if (typeof node.additionalProperties === 'object') visit(node.additionalProperties);
    };
    visit(schema);
    expect(missing).toEqual([]);
  });

  test('describes every spec and status field', () => {
    const missing: string[] = [];
    for (const top of ['spec', 'status'] as const) {
      const node = schema.properties?.[top];
      if (!node) throw new Error(`${kind} has no ${top}`);
      for (const [path] of fields(node, '')) {
        // described: its path, its last segment (in a list of fields) or a field below it appears in code
        const last = path.split('.').pop() as string;
        const described = [`\`${path}\``, `\`${last}\``, `\`${path}.`].some((s) => doc.includes(s));
        if (!described) missing.push(`${top}.${path}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

test('docs/api.md names every annotation, label, finalizer, gate and reason', () => {
  const names = [...Object.values(Annotations), ...Object.values(Labels), FINALIZER, SCHEDULING_GATE];
  expect(names.filter((n) => !doc.includes(`\`${n}`))).toEqual([]);
  expect(Object.values(Reasons).filter((r) => !doc.includes(`\`${r}\``))).toEqual([]);
});

test('the complete example policy in docs/api.md is valid as it stands', () => {
  const example = /### A complete example\s+```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  expect(example).toBeDefined();
  const policy = parse(example as string);
  expect(policy.kind).toBe('CheckpointPolicy');
  expect(validateObject('CheckpointPolicy', policy).errors.map(String)).toEqual([]);
});
