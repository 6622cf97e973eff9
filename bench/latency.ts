// latency: a steady 10 jobs/s for 60 s; create→Ready p50/p95/p99 per access mode (propagation hold 0s, so nothing is
// to subtract). Measured from just before each create request to the moment a watch sees its Checkpoint Ready.
import { Resources } from '../src/kube/resources.js';
import {
  createNamespacesAndAccounts,
  createPolicy,
  createRetrying,
  key,
  type Mode,
  planJobs,
  ReadyWatch,
  sparkApplication,
} from './lib/jobs.js';
import type { BenchOptions } from './lib/options.js';
import { quantile, Recorder } from './lib/report.js';
import { withStack } from './lib/stack.js';

export async function latency(o: BenchOptions): Promise<Recorder> {
  const rate = 10;
  const seconds = o.small ? 3 : 60;
  const jobs = rate * seconds;
  const rec = new Recorder('latency', o.small ? 'small' : 'full', {
    ratePerSecond: rate,
    seconds,
    jobs,
    namespaces: 20,
    latencyMs: 30,
    bucketWriteLimitPerSecond: 1,
    propagationHold: '0s',
  });
  rec.note(
    'no baseline: the per-member read-modify-write loop manages at most 1 job/s on one bucket (provision-1k measures it), so at 10 jobs/s its latency grows without bound',
  );
  await withStack({}, async (stack) => {
    await stack.setEmulator({ latencyMs: 30, bucketWriteLimitPerSecond: 1, iamPropagationDelayMs: 0 });
    for (const mode of ['ManagedFolder', 'BucketCondition'] as Mode[]) {
      const policy = mode === 'ManagedFolder' ? 'lat-mf' : 'lat-bc';
      await createPolicy(stack, { name: policy, mode, rootPrefix: `checkpoints/${policy}` });
      const list = planJobs(policy, 20, jobs);
      await createNamespacesAndAccounts(stack, policy, list);
      const watch = new ReadyWatch(stack.rest, policy);
      await watch.start();
      const sentAt = new Map<string, number>();
      const t0 = performance.now();
      const creates: Promise<unknown>[] = [];
      for (let i = 0; i < list.length; i++) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const j = list[i] as (typeof list)[number];
        sentAt.set(key(j.namespace, j.name), performance.now());
        creates.push(createRetrying(stack.rest, Resources.SparkApplication, sparkApplication(j)));
      }
      await Promise.all(creates);
      const streamSeconds = (performance.now() - t0) / 1000;
      await watch.waitForCount(jobs, 300_000);
      watch.stop();
      const lat = [...sentAt].map(([k, t]) => ((watch.readyAt.get(k) ?? Number.NaN) - t) / 1000);
      const p = (q: number) => quantile(lat, q);
      rec.details[mode] = {
        streamSeconds,
        achievedRate: jobs / streamSeconds,
        p50: p(0.5),
        p95: p(0.95),
        p99: p(0.99),
        max: Math.max(...lat),
      };
      rec.note(
        `${mode}: ${jobs} jobs at ${(jobs / streamSeconds).toFixed(1)} jobs/s; create->Ready p50 ${p(0.5).toFixed(3)} s, p95 ${p(0.95).toFixed(3)} s, p99 ${p(0.99).toFixed(3)} s, max ${Math.max(...lat).toFixed(3)} s`,
      );
      rec.add({
        key: `${mode}.p50`,
        label: `${mode}: create->Ready p50`,
        value: p(0.5),
        unit: 's',
        better: 'lower',
        target: { op: '<=', value: 0.5 },
      });
      rec.add({ key: `${mode}.p95`, label: `${mode}: create->Ready p95`, value: p(0.95), unit: 's', better: 'lower' });
      rec.add({
        key: `${mode}.p99`,
        label: `${mode}: create->Ready p99`,
        value: p(0.99),
        unit: 's',
        better: 'lower',
        target: { op: '<=', value: 2 },
      });
    }
  });
  return rec;
}
