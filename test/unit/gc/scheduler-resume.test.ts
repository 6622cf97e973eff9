// The scheduler never leaves a Deleting Checkpoint of a policy that has no schedule (gone or invalid): it runs it at
// start, when the policies change, and again later while one is left.
import { describe, expect, test, vi } from 'vitest';
import type { CheckpointPolicy } from '../../../src/api/index.js';
import type { GcRunResult } from '../../../src/gc/run.js';
import { GcScheduler } from '../../../src/gc/scheduler.js';
import { createLogger } from '../../../src/kube/log.js';

function scheduler(o: { interrupted: Set<string>; policies?: CheckpointPolicy[] }) {
  const runs: string[] = [];
  const s = new GcScheduler({
    policies: () => o.policies ?? [],
    interrupted: () => o.interrupted,
    run: async (policy): Promise<GcRunResult> => {
      runs.push(policy);
      return { kind: 'Skipped', reason: 'PolicyNotFound', message: 'gone' };
    },
    writeNextGCTime: async () => undefined,
    logger: createLogger({ level: 'silent' }),
    resumeRetryMs: 10,
  });
  return { s, runs };
}

describe('GcScheduler: Deleting Checkpoints of a policy with no schedule', () => {
  test('are resumed at start, and again while one is left; not once none is left', async () => {
    const interrupted = new Set(['gone']);
    const { s, runs } = scheduler({ interrupted });
    s.start();
    await vi.waitFor(() => expect(runs.length).toBeGreaterThanOrEqual(3));
    interrupted.clear();
    const n = runs.length;
    // The retry armed before the set emptied may run once more; then none is armed.
    await vi.waitFor(() => expect((s as unknown as { retries: Map<string, unknown> }).retries.size).toBe(0));
    expect(runs.length - n).toBeLessThanOrEqual(1);
    expect(runs.every((r) => r === 'gone')).toBe(true);
    await s.stop();
  });

  test('are resumed when the policies change (e.g. the policy was just deleted)', async () => {
    const interrupted = new Set<string>();
    const { s, runs } = scheduler({ interrupted });
    s.start();
    expect(runs).toEqual([]);
    interrupted.add('just-deleted');
    s.sync();
    await vi.waitFor(() => expect(runs).toContain('just-deleted'));
    await s.stop();
  });
});
