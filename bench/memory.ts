// memory-10k: N SparkApplications and their N Checkpoints in the API server (provisioned at 0 ms latency to save
// time); the controller's RSS once its caches settle, beside its RSS with the policy and no job (same run). Then the
// cold start: the controller is stopped, the emulator set to 30 ms per call, the controller started again with
// everything provisioned; seconds to /readyz, seconds until its work queue has drained (every job reconciled once),
// and the GCS reads it made meanwhile (target: one list per policy, not one read per job).
import { Resources } from '../src/kube/resources.js';
import {
  createNamespacesAndAccounts,
  createPolicy,
  createRetrying,
  planJobs,
  pool,
  ReadyWatch,
  sparkApplication,
} from './lib/jobs.js';
import type { BenchOptions } from './lib/options.js';
import { Recorder } from './lib/report.js';
import { callsByMethod, type Stack, withStack } from './lib/stack.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rssMB(stack: Stack): Promise<number> {
  return ((await stack.controllerMetric('process_resident_memory_bytes')) ?? Number.NaN) / 1e6;
}

/** RSS after it stops moving: samples every second until two consecutive ones differ by < 2%, then their mean. */
async function settledRss(stack: Stack, maxSeconds: number): Promise<number> {
  let prev = await rssMB(stack);
  for (let i = 0; i < maxSeconds; i++) {
    await sleep(1000);
    const now = await rssMB(stack);
    if (Math.abs(now - prev) / prev < 0.02) return (now + prev) / 2;
    prev = now;
  }
  return prev;
}

/** Waits until the controller's queue has handled at least `n` items and is empty with nothing in flight. */
async function drained(stack: Stack, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const q = { name: 'tidemark' };
  for (;;) {
    const [done, depth, unfinished] = await Promise.all([
      stack.controllerMetric('workqueue_work_duration_seconds_count', q),
      stack.controllerMetric('workqueue_depth', q),
      stack.controllerMetric('workqueue_unfinished_work_seconds', q),
    ]);
    if ((done ?? 0) >= n && depth === 0 && (unfinished ?? 0) === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`the controller's queue did not drain in ${timeoutMs / 1000} s (done ${done}, depth ${depth})`);
    }
    await sleep(100);
  }
}

export async function memory(o: BenchOptions): Promise<Recorder> {
  const jobs = o.small ? 200 : 10_000;
  const namespaces = o.small ? 10 : 100;
  const policy = 'mem-bench';
  const rec = new Recorder('memory-10k', o.small ? 'small' : 'full', {
    jobs,
    namespaces,
    mode: 'ManagedFolder',
    provisionLatencyMs: 0,
    coldStartLatencyMs: 30,
  });
  await withStack({}, async (stack) => {
    await stack.setEmulator({ latencyMs: 0, bucketWriteLimitPerSecond: 1, iamPropagationDelayMs: 0 });
    await createPolicy(stack, { name: policy, mode: 'ManagedFolder', rootPrefix: `checkpoints/${policy}` });
    const idle = await settledRss(stack, 10);
    const list = planJobs(policy, namespaces, jobs);
    const t0 = performance.now();
    await createNamespacesAndAccounts(stack, policy, list);
    const watch = new ReadyWatch(stack.rest, policy);
    await watch.start();
    await pool(list, 32, async (j) => {
      await createRetrying(stack.rest, Resources.SparkApplication, sparkApplication(j));
    });
    await watch.waitForCount(jobs, 3_600_000);
    watch.stop();
    rec.note(`${jobs} jobs provisioned (0 ms latency) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const loaded = await settledRss(stack, o.small ? 10 : 30);
    rec.add({
      key: 'controllerRssMB',
      label: `controller RSS with ${jobs} jobs cached`,
      value: loaded,
      unit: 'MB',
      better: 'lower',
      target: { op: '<=', value: 250 },
    });
    rec.add({
      key: 'controllerIdleRssMB',
      label: 'controller RSS with the policy and no job (reference)',
      value: idle,
      unit: 'MB',
      better: 'lower',
    });

    // Cold start.
    await stack.stopController();
    await stack.setEmulator({ latencyMs: 30 });
    const before = await stack.counters();
    const c0 = performance.now();
    const nodeArgs = o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir] : [];
    await stack.startController(nodeArgs);
    const readyz = (performance.now() - c0) / 1000;
    await drained(stack, jobs, o.small ? 120_000 : 1_800_000);
    const settled = (performance.now() - c0) / 1000;
    const after = await stack.counters();
    const byMethod = callsByMethod(before, after, stack.controllerMember);
    const reads = Object.entries(byMethod)
      .filter(([op]) => /\.(get|list|getIamPolicy)$/.test(op))
      .reduce((a, [, n]) => a + n, 0);
    const writes = Object.values(byMethod).reduce((a, b) => a + b, 0) - reads;
    rec.details.coldStart = { readyzSeconds: readyz, drainedSeconds: settled, callsByMethod: byMethod, writes };
    rec.note(
      `cold start: /readyz after ${readyz.toFixed(1)} s, queue drained after ${settled.toFixed(1)} s; GCS calls ${JSON.stringify(byMethod)}`,
    );
    rec.add({
      key: 'coldStartSeconds',
      label: `cold start: seconds until all ${jobs} jobs reconciled`,
      value: settled,
      unit: 's',
      better: 'lower',
      target: { op: '<=', value: 30 },
    });
    rec.add({
      key: 'coldStartReadyzSeconds',
      label: 'cold start: seconds to /readyz',
      value: readyz,
      unit: 's',
      better: 'lower',
    });
    rec.add({
      key: 'coldStartReads',
      label: 'cold start: GCS reads',
      value: reads,
      unit: '',
      better: 'lower',
      target: { op: '<=', value: 1 },
      baseline: jobs,
      baselineNote: 'one read per job, the design §5 counter-target (not measured)',
    });
  });
  return rec;
}
