// Issue 15 item 1: GCS faults. 10% of the controller's calls answered 429/500/503, connection resets and slow
// answers, while another writer changes the bucket policy every 200 ms, and jobs come and go in both access modes.
// Afterwards, judged by reading GCS as the admin: every live job Ready with exactly its grant, 0 foreign bindings
// lost, 0 duplicate bindings, 0 grants for gone jobs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLong, recordFigures } from './figures.js';
import { ForeignWriter } from './foreign-writer.js';
import { type Stack, startStack } from './stack.js';
import { createJob, deleteJob, type Expectation, makeScope, pool, type Scope, waitConverged } from './world.js';

// Short (CI): 40 jobs; long: the 200.
const JOBS = isLong() ? 200 : 40;

describe('reliability: GCS faults', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it(`${JOBS} jobs come and go under 10% GCS errors, resets, slow answers and a concurrent bucket-policy writer`, async () => {
    const started = Date.now();
    await stack.startController();
    const scopes: Scope[] = [await makeScope(stack, 'ManagedFolder'), await makeScope(stack, 'BucketCondition')];
    const controller = `serviceAccount:${stack.controllerServiceAccount}`;
    // Only the controller's calls are faulted: the judge and the foreign writer read and write reliably.
    await stack.setEmulatorConfig({
      faults: [
        { op: '*', rate: 0.034, kind: 429, member: controller },
        { op: '*', rate: 0.033, kind: 500, member: controller },
        { op: '*', rate: 0.033, kind: 503, member: controller },
        { op: '*', rate: 0.02, kind: 'reset', member: controller },
        { op: '*', rate: 0.05, kind: 'slow', delayMs: 400, member: controller },
      ],
    });
    const writer = new ForeignWriter(stack, 200);
    writer.start();

    // Jobs come and go: each is created; one in three is deleted again later, and one in nine of those recreated.
    const live = new Map<string, Set<string>>(scopes.map((s) => [s.policyName, new Set<string>()]));
    const jobs = Array.from({ length: JOBS }, (_, i) => ({ scope: scopes[i % 2] as Scope, name: `job-${i}` }));
    await pool(jobs, 6, async ({ scope, name }) => {
      await createJob(stack, scope, name);
      live.get(scope.policyName)?.add(name);
    });
    const gone = jobs.filter((_, i) => i % 3 === 0);
    await pool(gone, 6, async ({ scope, name }) => {
      await deleteJob(stack, scope, name);
      live.get(scope.policyName)?.delete(name);
    });
    const back = gone.filter((_, i) => i % 3 === 0);
    await pool(back, 6, async ({ scope, name }) => {
      await createJob(stack, scope, name);
      live.get(scope.policyName)?.add(name);
    });

    // Let the writer keep going while the controller works through the faults, then stop it: its bindings are final.
    await new Promise((r) => setTimeout(r, 5_000));
    await writer.stop();
    const expectation: Expectation = { scopes, live, foreign: writer.kept };
    await waitConverged(stack, expectation, isLong() ? 600_000 : 240_000);

    const counters = await stack.admin<{ faults: Record<string, number> }>('GET', '/_emulator/counters');
    const faults = Object.values(counters.faults).reduce((a, b) => a + b, 0);
    recordFigures({
      test: 'gcs-faults',
      faultsInjected: faults,
      jobs: JOBS + back.length,
      wallMs: Date.now() - started,
      notes: { foreignWrites: writer.writes, foreignKept: writer.kept.length, ...counters.faults },
    });
    expect(faults).toBeGreaterThan(0);
    expect(writer.writes).toBeGreaterThan(0);
  });
});
