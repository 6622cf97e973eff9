// src/api/generated.ts must be exactly what scripts/gen-api.mjs generates from crds/*.yaml: the CRDs are the one
// source of truth, and this test fails as soon as the two drift.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { generateApiSource, generatedPath, repoRoot } from '../../scripts/gen-api.mjs';

/** The first line where two texts differ, to make a failure readable. */
function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return `line ${i + 1}: committed ${JSON.stringify(la[i])}, generated ${JSON.stringify(lb[i])}`;
  }
  return 'no difference';
}

test('src/api/generated.ts is what the CRDs generate (otherwise run `npm run gen:api`)', async () => {
  const committed = await readFile(generatedPath, 'utf8');
  const generated = await generateApiSource();
  if (committed !== generated) {
    expect.fail(
      `src/api/generated.ts is out of date with crds/*.yaml: run \`npm run gen:api\` (${firstDifference(committed, generated)})`,
    );
  }
});

describe('the drift check notices a change to a CRD', () => {
  let root: string;
  const policyFile = 'crds/tidemark.dev_checkpointpolicies.yaml';

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tidemark-gen-api-'));
    await cp(join(repoRoot, 'crds'), join(root, 'crds'), { recursive: true });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  type Node = Record<string, unknown>;
  /** The schema node at a dotted path of property names below spec (copied, so YAML aliases are not shared). */
  function specProperty(schema: Node, path: string): Node {
    let node = (schema.properties as Node).spec as Node;
    for (const key of path.split('.')) {
      const properties = node.properties as Node;
      properties[key] = structuredClone(properties[key]);
      node = properties[key] as Node;
    }
    return node;
  }

  async function editPolicyCrd(edit: (schema: Node) => void): Promise<void> {
    const crd = parse(await readFile(join(repoRoot, policyFile), 'utf8'));
    edit(crd.spec.versions[0].schema.openAPIV3Schema);
    await writeFile(join(root, policyFile), stringify(crd));
  }

  test('a new field changes the generated source', async () => {
    await editPolicyCrd((schema) => {
      const storage = specProperty(schema, 'storage');
      (storage.properties as Node).region = { type: 'string', description: 'A new field.' };
    });
    const generated = await generateApiSource(root);
    expect(generated).toContain('region?: string;');
    expect(generated).not.toBe(await readFile(generatedPath, 'utf8'));
  });

  test('two label selectors that differ are refused, not silently merged', async () => {
    await editPolicyCrd((schema) => {
      specProperty(schema, 'jobSelector.matchLabels').maxProperties = 8;
    });
    await expect(generateApiSource(root)).rejects.toThrow(/spec\.jobSelector: differs from another LabelSelector/);
  });
});
