// Reading and printing the figures the reliability tests recorded (figures.ts); used by the global setup, which
// may not import vitest's test API.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Figures } from './figures.js';

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
