import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sparkCrdsDir } from './paths.js';

/** CRD YAML files in a directory (kustomization.yaml and other non-CRD files excluded by name). */
export function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && !/^kustomization\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Tidemark's CRDs (crds/*.yaml) and the Spark Operator's (test/fixtures/spark-operator-v2.5.2, or
 * $TIDEMARK_SPARK_CRDS_DIR). The Spark ones are required: without them the cluster cannot hold SparkApplications.
 */
export function projectCrdFiles(root = repoRoot()): { tidemark: string[]; spark: string[] } {
  const crdsDir = join(root, 'crds');
  const tidemark = existsSync(crdsDir) ? yamlFiles(crdsDir) : [];
  const sparkDir = sparkCrdsDir(root);
  if (!existsSync(sparkDir)) {
    throw new Error(`Spark Operator CRDs not found at ${sparkDir} (set TIDEMARK_SPARK_CRDS_DIR to their directory)`);
  }
  const spark = yamlFiles(sparkDir);
  if (spark.length === 0) throw new Error(`no CRD YAML files in ${sparkDir}`);
  return { tidemark, spark };
}
