// Figures of the reliability suite: each test records what it did (faults injected, jobs, histories, invariant
// violations found); the project's global setup prints the totals when the run ends (figures-report.ts).
import { writeFileSync } from 'node:fs';
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

/** Records a test's figures; the counts it does not give are 0. */
export function recordFigures(f: Pick<Figures, 'test'> & Partial<Figures>): void {
  const all: Figures = { faultsInjected: 0, jobs: 0, histories: 0, violations: 0, wallMs: 0, ...f };
  const dir = inject('reliabilityFiguresDir');
  const file = join(dir, `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(all));
}
