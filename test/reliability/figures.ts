// Figures of the reliability suite: each test records what it did (faults injected, jobs, histories, invariant
// violations found); the project's global setup prints the totals when the run ends.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

export interface Figures {
  /** The test that recorded them. */
  test: string;
  /** Faults injected: GCS error answers, resets and slow answers, API server restarts, compactions, kills. */
  faultsInjected: number;
  /** Jobs (SparkApplications) created. */
  jobs: number;
  /** Random histories run (i15-hist). */
  histories: number;
  /** Invariant violations found (must be 0 for the test to pass). */
  violations: number;
  wallMs: number;
  /** Anything else worth printing, e.g. takeover time. */
  notes?: Record<string, number | string>;
}

/** Whether the long version was asked for (TIDEMARK_RELIABILITY=long). */
export const isLong = (): boolean => process.env.TIDEMARK_RELIABILITY === 'long';

export function recordFigures(f: Figures): void {
  const dir = inject('reliabilityFiguresDir');
  const file = join(dir, `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(f));
}

export function readFigures(dir: string): Figures[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Figures)
    .sort((a, b) => (a.test < b.test ? -1 : 1));
}

export function formatFigures(all: Figures[]): string {
  const sum = (k: 'faultsInjected' | 'jobs' | 'histories' | 'violations') => all.reduce((n, f) => n + f[k], 0);
  const lines = [
    '',
    `Tidemark reliability (${process.env.TIDEMARK_RELIABILITY === 'long' ? 'long' : 'short'} run)`,
    ...all.map((f) => {
      const notes = Object.entries(f.notes ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      return (
        `  ${f.test}: faults ${f.faultsInjected}, jobs ${f.jobs}, histories ${f.histories}, ` +
        `violations ${f.violations}, ${(f.wallMs / 1000).toFixed(1)} s${notes ? ` (${notes})` : ''}`
      );
    }),
    `  faults injected: ${sum('faultsInjected')}`,
    `  jobs: ${sum('jobs')}`,
    `  histories run: ${sum('histories')}`,
    `  invariant violations: ${sum('violations')}`,
    '',
  ];
  return lines.join('\n');
}
