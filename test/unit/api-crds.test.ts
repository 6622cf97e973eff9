// The CRD files themselves: they parse, they declare what src/api says they declare, every printer column points
// at a field that exists, every field is documented for `kubectl explain`, every rule has a message, and the
// defaults are the ones src/api hands to code that reads policies without an API server.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  API_VERSION,
  CheckpointDefaults,
  CheckpointPolicyResource,
  CheckpointResource,
  PolicyDefaults,
  withPolicyDefaults,
} from '../../src/api/index.js';
import { CRD_FILES, crdPath, crdSchema, loadCrd, type SchemaNode, type TidemarkKind } from '../../src/api/schema.js';
import { applyDefaults } from '../../src/api/validate.js';
import { samplePolicy } from '../integration/crds-cases.js';

const KINDS: TidemarkKind[] = ['CheckpointPolicy', 'Checkpoint'];

/** The schema node a printer column's JSONPath lands on, or an error saying where the path leaves the schema. */
function resolveColumnPath(root: SchemaNode, jsonPath: string): SchemaNode {
  // .a.b, .a[?(@.type=="Ready")].b, .a[0].b
  const tokens = jsonPath.match(/\.[A-Za-z0-9_]+|\[[^\]]*\]/g);
  if (!tokens || tokens.join('') !== jsonPath) throw new Error(`${jsonPath}: not a simple JSONPath`);
  let node = root;
  let at = '';
  for (const token of tokens) {
    at += token;
    if (token.startsWith('[')) {
      if (node.type !== 'array' || !node.items) throw new Error(`${jsonPath}: ${at} indexes a non-array`);
      const filter = /^\[\?\(@\.([A-Za-z0-9_]+)==".*"\)\]$/.exec(token);
      if (filter && !node.items.properties?.[filter[1] as string]) {
        throw new Error(`${jsonPath}: the filter's field ${filter[1]} is not in the items`);
      }
      node = node.items;
    } else if (at === '.metadata' || at.startsWith('.metadata.')) {
      // ObjectMeta is not spelled out in a CRD schema; only well-known fields are allowed.
      if (!['.metadata', '.metadata.name', '.metadata.namespace', '.metadata.creationTimestamp'].includes(at)) {
        throw new Error(`${jsonPath}: unknown metadata field ${at}`);
      }
      node = at === '.metadata.creationTimestamp' ? { type: 'string', format: 'date-time' } : { type: 'object' };
    } else {
      const child = node.properties?.[token.slice(1)];
      if (!child) throw new Error(`${jsonPath}: ${at} is not in the schema`);
      node = child;
    }
  }
  return node;
}

/** Every schema node with its dotted path. */
function* nodes(node: SchemaNode, path = ''): Generator<[string, SchemaNode]> {
  yield [path, node];
  for (const [key, child] of Object.entries(node.properties ?? {})) yield* nodes(child, path ? `${path}.${key}` : key);
  if (node.items) yield* nodes(node.items, `${path}[]`);
  if (typeof node.additionalProperties === 'object') yield* nodes(node.additionalProperties, `${path}{}`);
}

describe.each(KINDS)('the %s CRD', (kind) => {
  const crd = loadCrd(kind);
  const resource = kind === 'CheckpointPolicy' ? CheckpointPolicyResource : CheckpointResource;
  const version = crd.spec.versions[0];
  const schema = crdSchema(kind);

  test('is one apiextensions.k8s.io/v1 CRD document with the names src/api declares', () => {
    const docs = parseAllDocuments(readFileSync(crdPath(kind), 'utf8'));
    expect(docs).toHaveLength(1);
    expect(docs[0]?.errors).toEqual([]);
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.metadata.name).toBe(`${resource.plural}.${resource.group}`);
    expect(crd.spec.group).toBe(resource.group);
    expect(crd.spec.scope).toBe(resource.namespaced ? 'Namespaced' : 'Cluster');
    expect(crd.spec.names).toEqual({
      kind: resource.kind,
      listKind: resource.listKind,
      plural: resource.plural,
      singular: resource.singular,
      shortNames: [...resource.shortNames],
      categories: [...resource.categories],
    });
    expect(crd.spec.versions).toHaveLength(1);
    expect(`${crd.spec.group}/${version?.name}`).toBe(API_VERSION);
    expect(version?.served).toBe(true);
    expect(version?.storage).toBe(true);
    expect(version?.subresources).toEqual({ status: {} });
  });

  test('every printer column points at a field of the schema, with a matching type', () => {
    const columns = version?.additionalPrinterColumns ?? [];
    expect(columns.length).toBeGreaterThan(0);
    for (const column of columns) {
      const node = resolveColumnPath(schema, column.jsonPath);
      // a date column needs a date-time string; other column types name the schema type itself
      const actual = column.type === 'date' ? `${node.type}/${node.format}` : node.type;
      const expected = column.type === 'date' ? 'string/date-time' : column.type;
      expect({ column: column.name, type: actual }).toEqual({ column: column.name, type: expected });
    }
  });

  test('every field has a description (for kubectl explain) and every rule a message', () => {
    const undocumented: string[] = [];
    const silent: string[] = [];
    for (const [path, node] of nodes(schema)) {
      const builtIn = ['', 'metadata'].includes(path);
      const listItem = path.endsWith('[]') || path.endsWith('{}');
      if (!builtIn && !listItem && !node.description) undocumented.push(path);
      for (const rule of node['x-kubernetes-validations'] ?? []) {
        if (!rule.message || rule.message.length < 10) silent.push(`${path}: ${rule.rule}`);
      }
    }
    expect(undocumented).toEqual([]);
    expect(silent).toEqual([]);
  });

  test('every string and list a rule can see is bounded (maxLength / maxItems), so CEL cost stays estimable', () => {
    const unbounded: string[] = [];
    for (const [path, node] of nodes(schema)) {
      if (['apiVersion', 'kind', 'metadata'].includes(path)) continue;
      const fixedSize = node.enum !== undefined || node.format === 'date-time';
      if (node.type === 'string' && node.maxLength === undefined && !fixedSize) unbounded.push(path);
      if (node.type === 'array' && node.maxItems === undefined) unbounded.push(path);
      if (node.type === 'object' && node.additionalProperties && node.maxProperties === undefined) unbounded.push(path);
    }
    expect(unbounded).toEqual([]);
  });
});

describe('printer columns', () => {
  const headers = (kind: TidemarkKind) =>
    (loadCrd(kind).spec.versions[0]?.additionalPrinterColumns ?? []).map((c) => [c.name, c.jsonPath, c.priority ?? 0]);

  test('kubectl get checkpointpolicies shows bucket, root, mode, bound, released, ready, last GC, age', () => {
    expect(headers('CheckpointPolicy').filter(([, , priority]) => priority === 0)).toEqual([
      ['Bucket', '.spec.storage.bucket', 0],
      ['Root', '.spec.storage.rootPrefix', 0],
      ['Mode', '.spec.access.mode', 0],
      ['Bound', '.status.boundCount', 0],
      ['Released', '.status.releasedCount', 0],
      ['Ready', '.status.conditions[?(@.type=="Ready")].status', 0],
      ['Last GC', '.status.lastGC.completionTime', 0],
      ['Age', '.metadata.creationTimestamp', 0],
    ]);
  });

  test('kubectl get checkpoints shows job, URI, phase, ready, last write, age (kind and policy with -o wide)', () => {
    expect(headers('Checkpoint')).toEqual([
      ['Job', '.spec.jobRef.name', 0],
      ['Kind', '.spec.jobRef.kind', 1],
      ['Policy', '.spec.policyName', 1],
      ['URI', '.spec.uri', 0],
      ['Phase', '.status.phase', 0],
      ['Ready', '.status.conditions[?(@.type=="Ready")].status', 0],
      ['Last Write', '.status.lastWriteTime', 0],
      ['Age', '.metadata.creationTimestamp', 0],
    ]);
  });

  test('a path that leaves the schema is caught', () => {
    const schema = crdSchema('Checkpoint');
    expect(() => resolveColumnPath(schema, '.spec.jobRef.uid')).toThrow(/\.spec\.jobRef\.uid is not in the schema/);
    expect(() => resolveColumnPath(schema, '.status.conditions[?(@.kind=="Ready")].status')).toThrow(/kind/);
    expect(() => resolveColumnPath(schema, '.spec.uri[0]')).toThrow(/non-array/);
  });
});

describe('defaults', () => {
  test('the API server defaults (from the CRD) are PolicyDefaults, and withPolicyDefaults applies the same', () => {
    const policy = samplePolicy('p');
    const byCrd = applyDefaults(crdSchema('CheckpointPolicy'), policy) as typeof policy;
    expect(byCrd.spec.access).toEqual({ ...policy.spec.access, ...PolicyDefaults.access });
    expect(byCrd.spec.retention).toEqual(PolicyDefaults.retention);
    expect(byCrd.spec.gc).toEqual(PolicyDefaults.gc);
    expect(withPolicyDefaults(policy.spec)).toEqual(byCrd.spec);
  });

  test('withPolicyDefaults keeps what is set and fills only what is absent', () => {
    const spec = samplePolicy('p').spec;
    spec.access.mode = 'BucketCondition';
    spec.gc = { dryRun: true };
    spec.retention = { afterRelease: undefined };
    const out = withPolicyDefaults(spec);
    expect(out.access.mode).toBe('BucketCondition');
    expect(out.access.role).toBe('roles/storage.objectUser');
    expect(out.gc).toEqual({ ...PolicyDefaults.gc, dryRun: true });
    expect(out.retention.afterRelease).toBe('168h');
    expect(spec.gc).toEqual({ dryRun: true }); // the input is not changed
  });

  test('the Checkpoint CRD defaults access as CheckpointDefaults says', () => {
    const schema = crdSchema('Checkpoint');
    const spec = (applyDefaults(schema, { spec: {} }) as { spec: { access: unknown } }).spec;
    expect(spec.access).toEqual(CheckpointDefaults.access);
  });
});

describe('the two CRDs agree where they describe the same thing', () => {
  const policy = crdSchema('CheckpointPolicy');
  const checkpoint = crdSchema('Checkpoint');
  const at = (root: SchemaNode, path: string): SchemaNode => {
    let node = root;
    for (const key of path.split('.')) {
      const next = key === '[]' ? node.items : node.properties?.[key];
      if (!next) throw new Error(`no ${path}`);
      node = next;
    }
    return node;
  };
  const withoutImmutability = (node: SchemaNode) =>
    (node['x-kubernetes-validations'] ?? []).filter((r) => r.rule !== 'self == oldSelf');

  test('bucket rules', () => {
    const a = at(policy, 'spec.storage.bucket');
    const b = at(checkpoint, 'spec.bucket');
    expect(withoutImmutability(b)).toEqual(withoutImmutability(a));
    expect(b.maxLength).toBe(a.maxLength);
    // both are immutable
    expect(a['x-kubernetes-validations']?.some((r) => r.rule === 'self == oldSelf')).toBe(true);
    expect(b['x-kubernetes-validations']?.some((r) => r.rule === 'self == oldSelf')).toBe(true);
  });

  test('access mode and role', () => {
    for (const field of ['mode', 'role']) {
      const a = { ...at(policy, `spec.access.${field}`), description: '' };
      const b = { ...at(checkpoint, `spec.access.${field}`), description: '' };
      expect(b).toEqual(a);
    }
  });

  test('conditions', () => {
    expect(at(checkpoint, 'status.conditions.[]')).toEqual(at(policy, 'status.conditions.[]'));
  });

  test('both files are listed in CRD_FILES and nothing else is', () => {
    expect(Object.values(CRD_FILES).sort()).toEqual([
      'crds/tidemark.dev_checkpointpolicies.yaml',
      'crds/tidemark.dev_checkpoints.yaml',
    ]);
  });
});
