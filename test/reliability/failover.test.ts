// Issue 15 item 4: leader failover. Two controller replicas; the leader is killed with SIGKILL (it releases nothing);
// the other takes over within the lease time and converges. Never two leaders acting: the emulator's request log
// (GET /_emulator/requests) tells the processes apart by their tokens (each replica has its own metadata server),
// and no two processes' writes to the bucket interleave within one lease term.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestLogEntry } from '../../src/emulator/request-log.js';
import { waitFor } from '../harness/kube.js';
import { isLong, recordFigures } from './figures.js';
import { LEASE_DURATION_MS, type Stack, startStack } from './stack.js';
import { createJob, deleteJob, type Expectation, makeScope, pool, type Scope, waitConverged } from './world.js';

const FAILOVERS = isLong() ? 6 : 2;
// A standby retries every 2 s (±20% jitter, src/kube/leader.ts): it takes over at most that long after the lease ran out.
const TAKEOVER_BOUND_MS = LEASE_DURATION_MS + 2_400 + 1_000;

/** Calls that change GCS. */
const isWrite = (e: RequestLogEntry) => !/\.(get|list|getIamPolicy)$/.test(e.op) && e.method !== 'GET';

/**
 * Write sequences of different processes on one bucket that overlap in time, or follow each other closer than
 * `gapMs` (a leader must wait out the old lease before acting, so two processes' writes are never that close).
 */
export function interleavedWrites(entries: readonly RequestLogEntry[], gapMs: number): string[] {
  const problems: string[] = [];
  const byBucket = new Map<string, RequestLogEntry[]>();
  for (const e of entries) {
    if (!e.bucket || !e.credential || !isWrite(e)) continue;
    byBucket.set(e.bucket, [...(byBucket.get(e.bucket) ?? []), e]);
  }
  for (const [bucket, writes] of byBucket) {
    const sorted = [...writes].sort((a, b) => a.startMs - b.startMs);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1] as RequestLogEntry;
      const cur = sorted[i] as RequestLogEntry;
      if (prev.credential === cur.credential) continue;
      const lastOfPrev = Math.max(
        ...sorted
          .slice(0, i)
          .filter((e) => e.credential === prev.credential)
          .map((e) => e.endMs),
      );
      if (cur.startMs - lastOfPrev < gapMs) {
        problems.push(
          `${bucket}: ${cur.op} by ${cur.credential} ${cur.startMs - lastOfPrev} ms after ${prev.credential}'s last write`,
        );
      }
      // and the earlier process never writes again afterwards
      const later = sorted.slice(i).find((e) => e.credential === prev.credential);
      if (later)
        problems.push(`${bucket}: ${prev.credential} wrote again (${later.op}) after ${cur.credential} took over`);
    }
  }
  return problems;
}

describe('reliability: leader failover', () => {
  let stack: Stack;
  const started = Date.now();
  const takeovers: number[] = [];
  let jobs = 0;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    recordFigures({
      test: 'failover',
      faultsInjected: takeovers.length,
      jobs,
      wallMs: Date.now() - started,
      notes: { maxTakeoverMs: Math.max(0, ...takeovers) },
    });
    await stack?.stop();
  });

  it(`kill -9 of the leader ${FAILOVERS} times: the standby takes over within the lease time; never two acting`, async () => {
    const replicas = [await stack.startController({ replica: 'a' }), await stack.startController({ replica: 'b' })];
    const scopes: Scope[] = [await makeScope(stack, 'ManagedFolder'), await makeScope(stack, 'BucketCondition')];
    const live = new Map<string, Set<string>>(scopes.map((s) => [s.policyName, new Set<string>()]));
    let n = 0;
    const churn = async (count: number) => {
      const fresh = Array.from({ length: count }, () => ({ scope: scopes[n % 2] as Scope, name: `job-${n++}` }));
      await pool(fresh, 4, async ({ scope, name }) => {
        await createJob(stack, scope, name);
        live.get(scope.policyName)?.add(name);
        jobs++;
      });
      const old = fresh.filter((_, i) => i % 3 === 0);
      for (const { scope, name } of old) {
        await deleteJob(stack, scope, name);
        live.get(scope.policyName)?.delete(name);
      }
    };
    const e = (): Expectation => ({ scopes, live });
    await churn(6);
    await waitConverged(stack, e(), 120_000);
    for (let i = 0; i < FAILOVERS; i++) {
      const holder = await waitFor('a leader', () => stack.leaseHolder());
      // Which process leads: its leader_election_master_status metric says so.
      const leader = await waitFor('the leader process', async () => {
        for (const c of stack.controllers()) if (await c.leading()) return c;
        return undefined;
      });
      // Work in flight when the leader dies.
      const during = churn(6);
      await new Promise((r) => setTimeout(r, Math.random() * 1500));
      const killedAt = Date.now();
      await leader.kill9();
      await waitFor(
        'another replica to take the lease',
        async () => {
          const h = await stack.leaseHolder();
          return h !== undefined && h !== holder;
        },
        { timeoutMs: TAKEOVER_BOUND_MS, intervalMs: 100 },
      );
      takeovers.push(Date.now() - killedAt);
      await during;
      await waitConverged(stack, e(), 120_000);
      // The dead replica comes back as the standby.
      replicas.push(await stack.startController({ replica: leader.name.split('-')[0] }));
    }
    const log = await stack.requests();
    expect(log.dropped).toBe(0);
    const controllerWrites = log.entries.filter(
      (x) => x.principal === `serviceAccount:${stack.controllerServiceAccount}`,
    );
    expect(new Set(controllerWrites.filter(isWrite).map((x) => x.credential)).size).toBeGreaterThan(1);
    expect(interleavedWrites(controllerWrites, 1)).toEqual([]);
  });
});
