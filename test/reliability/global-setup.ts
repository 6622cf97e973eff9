// The reliability project's global setup: builds dist/ when it is older than src/ (the suite runs `tidemark controller` and `tidemark gc`
// as processes from it), hands every file a place to record its figures, and prints the totals at the end.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot } from '../../src/localcluster/paths.js';
import { formatFigures, readFigures } from './figures-report.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Directory where each reliability file writes its figures (figures.ts). */
    reliabilityFiguresDir: string;
  }
}

/** The newest modification time of any file under `dir` (ms). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/** Whether dist/ was built after the last change in src/ (CI's build phase, or `npm run build`). */
function distIsCurrent(): boolean {
  const main = join(repoRoot(), 'dist', 'cli', 'main.js');
  return existsSync(main) && newest(join(repoRoot(), 'dist')) >= newest(join(repoRoot(), 'src'));
}

export default function setup(project: TestProject): () => void {
  if (!distIsCurrent()) build();
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-reliability-figures-'));
  project.provide('reliabilityFiguresDir', dir);
  return () => {
    const figures = readFigures(dir);
    if (figures.length > 0) console.log(formatFigures(figures));
    rmSync(dir, { recursive: true, force: true });
  };
}

function build(): void {
  const build = spawnSync(
    process.execPath,
    [join(repoRoot(), 'node_modules', '.bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: repoRoot(),
      encoding: 'utf8',
    },
  );
  if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
}
