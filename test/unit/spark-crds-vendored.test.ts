// The Spark Operator CRDs are vendored unmodified (test/fixtures/spark-operator-v2.5.2/README.md records where they
// come from and their sha256). This keeps the record and the files in step, and the repository self-contained.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { repoRoot, sparkCrdsDir } from '../../src/localcluster/paths.js';

const dir = join(repoRoot(), 'test', 'fixtures', 'spark-operator-v2.5.2');

test('every vendored CRD has the sha256 its README records', () => {
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  expect(files.sort()).toEqual([
    'sparkoperator.k8s.io_scheduledsparkapplications.yaml',
    'sparkoperator.k8s.io_sparkapplications.yaml',
  ]);
  for (const f of files) {
    const sum = createHash('sha256')
      .update(readFileSync(join(dir, f)))
      .digest('hex');
    const row = readme.split('\n').find((l) => l.includes(`\`${f}\``));
    expect(row, `README row for ${f}`).toBeDefined();
    expect(row).toContain(sum);
  }
});

test('the test cluster reads the vendored copy unless TIDEMARK_SPARK_CRDS_DIR says otherwise', () => {
  const saved = process.env.TIDEMARK_SPARK_CRDS_DIR;
  try {
    delete process.env.TIDEMARK_SPARK_CRDS_DIR;
    expect(sparkCrdsDir()).toBe(dir);
    process.env.TIDEMARK_SPARK_CRDS_DIR = '/elsewhere/crds';
    expect(sparkCrdsDir()).toBe('/elsewhere/crds');
  } finally {
    if (saved === undefined) delete process.env.TIDEMARK_SPARK_CRDS_DIR;
    else process.env.TIDEMARK_SPARK_CRDS_DIR = saved;
  }
});
