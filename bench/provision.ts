// provision-1k: N SparkApplications across 20 namespaces under one policy, created as fast as the API server takes
// them; seconds until every Checkpoint is Ready, jobs/s, GCS calls per job by method; both access modes, one stack
// (one API server, one emulator at 30 ms per call with the bucket write limit on, one controller process). Baseline
// in the same run: the per-member read-modify-write loop (lib/rmw-baseline.ts), on a sample extrapolated at its
// measured rate unless --full-baseline.

import { Resources } from '../src/kube/resources.js';
import {
  createNamespacesAndAccounts,
  createPolicy,
  createRetrying,
  type Mode,
  planJobs,
  pool,
  ReadyWatch,
  sparkApplication,
} from './lib/jobs.js';
import type { BenchOptions } from './lib/options.js';
import { Recorder } from './lib/report.js';
import { runRmwBaseline } from './lib/rmw-baseline.js';
import { callsByMethod, type Stack, withStack } from './lib/stack.js';

const TARGET_SECONDS_PER_1000 = 15;

async function controllerLoad(stack: Stack) {
  const q = { name: 'tidemark' };
  return {
    reconciles: (await stack.controllerMetric('workqueue_work_duration_seconds_count', q)) ?? 0,
    workSeconds: (await stack.controllerMetric('workqueue_work_duration_seconds_sum', q)) ?? 0,
    cpuSeconds: (await stack.controllerMetric('process_cpu_seconds_total')) ?? 0,
  };
}
const TARGET_CALLS_PER_JOB = 3;

export async function provision(o: BenchOptions): Promise<Recorder> {
  const jobs = o.small ? 30 : 1000;
  const namespaces = 20;
  const sample = o.fullBaseline ? jobs : o.small ? 5 : 30;
  const createConcurrency = 32;
  const rec = new Recorder('provision-1k', o.small ? 'small' : 'full', {
    jobs,
    namespaces,
    latencyMs: 30,
    bucketWriteLimitPerSecond: 1,
    iamPropagationDelayMs: 0,
    propagationHold: '0s',
    createConcurrency,
    baselineSample: sample,
    baselineConcurrency: 4,
  });
  // The target is for 1,000 jobs; at another size it scales with the count (the write limit makes it linear).
  const targetSeconds = (TARGET_SECONDS_PER_1000 * jobs) / 1000;

  await withStack({}, async (stack) => {
    await stack.setEmulator({ latencyMs: 30, bucketWriteLimitPerSecond: 1, iamPropagationDelayMs: 0 });

    // The baseline first, on the fresh bucket policy.
    const baselineJobs = planJobs('rmw', namespaces, sample);
    const base = await runRmwBaseline(stack, { jobs: baselineJobs, rootPrefix: 'checkpoints/rmw', concurrency: 4 });
    const baseSeconds = jobs / base.jobsPerSecond;
    const baseNote =
      sample === jobs
        ? undefined
        : `RMW baseline measured on ${sample} jobs (${base.seconds.toFixed(1)} s, ${base.jobsPerSecond.toFixed(2)} jobs/s, ${base.conflicts} x 412, ${base.rateLimited} x 429), extrapolated to ${jobs} at that rate`;
    rec.details.baseline = { ...base, extrapolatedSeconds: baseSeconds };
    rec.note(
      `RMW baseline: ${sample} jobs in ${base.seconds.toFixed(1)} s (${base.jobsPerSecond.toFixed(2)} jobs/s, ${base.callsPerJob.toFixed(2)} calls/job)`,
    );

    for (const mode of ['ManagedFolder', 'BucketCondition'] as Mode[]) {
      const policy = mode === 'ManagedFolder' ? 'bench-mf' : 'bench-bc';
      const root = `checkpoints/${policy}`;
      await createPolicy(stack, { name: policy, mode, rootPrefix: root });
      const list = planJobs(policy, namespaces, jobs);
      await createNamespacesAndAccounts(stack, policy, list);
      const watch = new ReadyWatch(stack.rest, policy);
      await watch.start();
      const before = await stack.counters();
      const m0 = await controllerLoad(stack);
      const t0 = performance.now();
      await pool(list, createConcurrency, async (j) => {
        await createRetrying(stack.rest, Resources.SparkApplication, sparkApplication(j));
      });
      const created = performance.now();
      await watch.waitForCount(jobs, o.small ? 120_000 : 900_000);
      const t1 = performance.now();
      const after = await stack.counters();
      const m1 = await controllerLoad(stack);
      watch.stop();
      const byMethod = callsByMethod(before, after, stack.controllerMember);
      const calls = Object.values(byMethod).reduce((a, b) => a + b, 0);
      const seconds = (t1 - t0) / 1000;
      rec.details[mode] = {
        seconds,
        createSeconds: (created - t0) / 1000,
        callsByMethod: byMethod,
        callsPerJobByMethod: Object.fromEntries(Object.entries(byMethod).map(([k, v]) => [k, v / jobs])),
        controllerRssMB: ((await stack.controllerMetric('process_resident_memory_bytes')) ?? 0) / 1e6,
        // What limits the rate: reconciles run `--concurrency` at a time, each taking the mean below; the CPU the
        // controller used over the window says whether it waited (GCS, API server) or computed.
        reconciles: m1.reconciles - m0.reconciles,
        meanReconcileSeconds: (m1.workSeconds - m0.workSeconds) / Math.max(1, m1.reconciles - m0.reconciles),
        controllerCpuSeconds: m1.cpuSeconds - m0.cpuSeconds,
      };
      rec.note(
        `${mode}: ${m1.reconciles - m0.reconciles} reconciles, mean ${((m1.workSeconds - m0.workSeconds) / Math.max(1, m1.reconciles - m0.reconciles)).toFixed(3)} s each at --concurrency ${(await stack.controllerMetric('controller_runtime_max_concurrent_reconciles', { controller: 'checkpoint' })) ?? '?'}; controller CPU ${(m1.cpuSeconds - m0.cpuSeconds).toFixed(1)} s over ${seconds.toFixed(1)} s`,
      );
      rec.note(
        `${mode}: ${jobs} jobs created in ${((created - t0) / 1000).toFixed(1)} s, all Ready after ${seconds.toFixed(1)} s; calls by method: ${JSON.stringify(byMethod)}`,
      );
      rec.add({
        key: `${mode}.seconds`,
        label: `${mode}: seconds to all ${jobs} Ready`,
        value: seconds,
        unit: 's',
        better: 'lower',
        target: { op: '<=', value: targetSeconds },
        baseline: baseSeconds,
        baselineNote: baseNote,
      });
      rec.add({
        key: `${mode}.jobsPerSecond`,
        label: `${mode}: jobs/s`,
        value: jobs / seconds,
        unit: 'jobs/s',
        better: 'higher',
        target: { op: '>=', value: 1000 / TARGET_SECONDS_PER_1000 },
        baseline: base.jobsPerSecond,
      });
      rec.add({
        key: `${mode}.callsPerJob`,
        label: `${mode}: GCS calls/job`,
        value: calls / jobs,
        unit: '',
        better: 'lower',
        target: { op: '<=', value: TARGET_CALLS_PER_JOB },
        baseline: base.callsPerJob,
      });
    }
  });
  return rec;
}
