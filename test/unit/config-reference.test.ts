// docs/config-reference.md must be exactly what scripts/gen-config-reference.mjs generates from crds/*.yaml.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { generateReference, referencePath, repoRoot } from '../../scripts/gen-config-reference.mjs';

test('docs/config-reference.md is what the CRDs generate (otherwise run `npm run gen:docs`)', async () => {
  const committed = await readFile(referencePath, 'utf8');
  const generated = await generateReference();
  const a = committed.split('\n');
  const b = generated.split('\n');
  const line = a.findIndex((l, i) => l !== b[i]);
  if (committed !== generated) {
    expect.fail(
      `docs/config-reference.md is out of date: run \`npm run gen:docs\` (first difference at line ${line + 1})`,
    );
  }
});

test('every spec field of both CRDs is in the reference, and a new field changes it', async () => {
  const text = await generateReference();
  for (const f of [
    'spec.storage.bucket',
    'spec.access.propagationHold',
    'spec.gc.maxDeletesPerRun',
    'spec.jobRef.kind',
  ]) {
    expect(text).toContain(`| \`${f}\` |`);
  }
  const root = await mkdtemp(join(tmpdir(), 'tidemark-gen-docs-'));
  try {
    await cp(join(repoRoot, 'crds'), join(root, 'crds'), { recursive: true });
    const file = join(root, 'crds', 'tidemark.dev_checkpointpolicies.yaml');
    const crd = parse(await readFile(file, 'utf8'));
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.storage.properties.region = {
      type: 'string',
      description: 'A new field.',
    };
    await writeFile(file, stringify(crd));
    expect(await generateReference(root)).toContain('| `spec.storage.region` | string |  |  |  | A new field. |');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
