// The benchmarks keep working: `npm run bench -- all --small` as a process (its own stacks: API server + etcd, the
// emulator, the controller process), then every figure printed and every JSON written with plausible values. Timings
// are not asserted (they belong to the benchmarks' own output), only presence and plausibility.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../../bench/lib/report.js';
import { repoRoot } from '../../src/localcluster/paths.js';

const RESULTS = join(repoRoot(), 'bench', 'results');
const NAMES = ['provision-1k', 'latency', 'gc-1m', 'memory-10k'] as const;

let stdout = '';
let code: number | null = null;
const results = new Map<string, BenchResult>();

beforeAll(async () => {
  for (const n of NAMES) await rm(join(RESULTS, `${n}.json`), { force: true });
  const child = spawn('npm', ['run', 'bench', '--', 'all', '--small'], {
    cwd: repoRoot(),
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) console.error(`npm run bench failed (${code}):\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`);
  for (const n of NAMES) {
    const text = await readFile(join(RESULTS, `${n}.json`), 'utf8').catch(() => undefined);
    if (text) results.set(n, JSON.parse(text) as BenchResult);
  }
}, 1_800_000);

function figure(name: string, key: string) {
  const f = results.get(name)?.figures.find((x) => x.key === key);
  expect(f, `${name}: figure ${key}`).toBeDefined();
  return f as NonNullable<typeof f>;
}

const positive = (name: string, key: string) => {
  const f = figure(name, key);
  expect(Number.isFinite(f.value) && f.value > 0, `${name} ${key} = ${f.value}`).toBe(true);
  return f;
};

describe('npm run bench -- all --small', () => {
  it('exits 0 and writes one small result per benchmark, each with its table printed', () => {
    expect(code).toBe(0);
    for (const n of NAMES) {
      const r = results.get(n);
      expect(r, `bench/results/${n}.json`).toBeDefined();
      expect(r?.size).toBe('small');
      expect(r?.machine.cpus).toBeGreaterThan(0);
      expect(stdout).toContain(`== ${n} (small`);
      for (const f of r?.figures ?? []) {
        expect(stdout, `${n}: printed row for ${f.label}`).toContain(f.label);
        expect(f.met === undefined || f.target !== undefined).toBe(true);
        if (f.baseline !== undefined) expect(f.ratio, `${n} ${f.key}: ratio`).toBeGreaterThan(0);
      }
    }
  });

  it('provision-1k: every job Ready in both modes, calls per job by method, beside the RMW baseline', () => {
    const r = results.get('provision-1k');
    for (const mode of ['ManagedFolder', 'BucketCondition']) {
      const s = positive('provision-1k', `${mode}.seconds`);
      expect(s.target?.op).toBe('<=');
      expect(s.baseline).toBeGreaterThan(0);
      expect(positive('provision-1k', `${mode}.jobsPerSecond`).baseline).toBeGreaterThan(0);
      const calls = positive('provision-1k', `${mode}.callsPerJob`);
      expect(calls.baseline).toBeGreaterThanOrEqual(2); // get + set per member, at least
      const byMethod = (r?.details[mode] as { callsByMethod: Record<string, number> }).callsByMethod;
      expect(Object.keys(byMethod).length).toBeGreaterThan(0);
    }
  });

  it('latency: p50 <= p95 <= p99 per mode, every job measured', () => {
    for (const mode of ['ManagedFolder', 'BucketCondition']) {
      const p50 = positive('latency', `${mode}.p50`).value;
      const p95 = positive('latency', `${mode}.p95`).value;
      const p99 = positive('latency', `${mode}.p99`).value;
      expect(p50).toBeLessThanOrEqual(p95);
      expect(p95).toBeLessThanOrEqual(p99);
    }
  });

  it('gc-1m: objects/s and calls per 100 objects beside gcloud storage rm, and the GC process peak RSS', () => {
    const rate = positive('gc-1m', 'objectsPerSecond');
    expect(rate.baseline).toBeGreaterThan(0);
    const calls = positive('gc-1m', 'callsPer100Objects');
    // Batches of up to 100 deletes: at least one call per 100 objects; gcloud sends one per object.
    expect(calls.value).toBeGreaterThanOrEqual(1);
    expect(calls.baseline).toBeGreaterThanOrEqual(100);
    expect(positive('gc-1m', 'peakRssMB').value).toBeGreaterThan(20);
  });

  it('memory-10k: controller RSS with the jobs cached, and the cold start with its GCS reads', () => {
    expect(positive('memory-10k', 'controllerRssMB').value).toBeGreaterThan(20);
    positive('memory-10k', 'controllerIdleRssMB');
    positive('memory-10k', 'coldStartSeconds');
    positive('memory-10k', 'coldStartReadyzSeconds');
    const reads = figure('memory-10k', 'coldStartReads');
    expect(reads.value).toBeGreaterThanOrEqual(0);
  });
});
