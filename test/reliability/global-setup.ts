// The reliability project's global setup: builds dist/ once (the suite runs `tidemark controller` and `tidemark gc`
// as processes from it), hands every file a place to record its figures, and prints the totals at the end.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot } from '../../src/localcluster/paths.js';
import { formatFigures, readFigures } from './figures.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Directory where each reliability file writes its figures (figures.ts). */
    reliabilityFiguresDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  const build = spawnSync(
    process.execPath,
    [join(repoRoot(), 'node_modules', '.bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: repoRoot(),
      encoding: 'utf8',
    },
  );
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-reliability-figures-'));
  project.provide('reliabilityFiguresDir', dir);
  return () => {
    const figures = readFigures(dir);
    if (figures.length > 0) console.log(formatFigures(figures));
    rmSync(dir, { recursive: true, force: true });
  };
}
