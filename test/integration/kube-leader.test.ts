// Leader election (src/kube/leader.ts) on a real coordination.k8s.io/v1 Lease.
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LeaderElectionOptions, LeaderElector, type LeaseSpec } from '../../src/kube/leader.js';
import { Resources } from '../../src/kube/resources.js';
import { type KubeObject, KubeRest } from '../../src/kube/rest.js';
import { formatMicroTime } from '../../src/kube/status.js';
import { createTestNamespace, testKubeConfig, uniqueSuffix, waitFor } from '../harness/kube.js';

const kc = testKubeConfig();
const rest = new KubeRest(kc);
let ns: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ name: ns, cleanup } = await createTestNamespace(kc, 'kube-leader'));
});
afterAll(async () => {
  await cleanup();
});

// Short but consistent timings (client-go's ratios: 15 s / 10 s / 2 s).
const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 };

interface Candidate {
  elector: LeaderElector;
  abort: AbortController;
  run: Promise<void>;
  log: string[];
  /** Aborted when this candidate's leadership ends. */
  leadership?: AbortSignal;
}

function candidate(lease: string, identity: string, extra: Partial<LeaderElectionOptions> = {}): Candidate {
  const log: string[] = [];
  const abort = new AbortController();
  const c: Partial<Candidate> = { abort, log };
  const elector = new LeaderElector({
    rest,
    namespace: ns,
    name: lease,
    identity,
    ...timings,
    onStartedLeading: (signal) => {
      log.push('started');
      c.leadership = signal;
    },
    onStoppedLeading: () => log.push('stopped'),
    onNewLeader: (id) => log.push(`leader:${id}`),
    ...extra,
  });
  c.elector = elector;
  c.run = elector.run(abort.signal);
  return c as Candidate;
}

async function readLease(name: string): Promise<KubeObject & { spec: LeaseSpec }> {
  return rest.get(Resources.Lease, name, ns);
}

describe('LeaderElector', () => {
  it('with two candidates exactly one leads; when it stops it releases and the other takes over', async () => {
    const lease = `le-${uniqueSuffix()}`;
    const registry = new Registry();
    const a = candidate(lease, 'a', { registry });
    await waitFor('a leads', () => a.elector.isLeader());
    const b = candidate(lease, 'b');
    // b keeps trying for a while (several retry periods) and never leads while a renews.
    await waitFor('b has seen a as leader', () => b.log.includes('leader:a'));
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, timings.retryPeriodMs));
      expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    }
    const held = await readLease(lease);
    expect(held.spec.holderIdentity).toBe('a');
    expect(held.spec.leaseDurationSeconds).toBe(3);
    expect(held.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(await registry.metrics()).toContain('leader_election_master_status{name="' + lease + '"} 1');

    a.abort.abort();
    await a.run;
    expect(a.log).toEqual(['leader:a', 'started', 'stopped']);
    expect(a.leadership?.aborted).toBe(true);
    expect(await registry.metrics()).toContain('leader_election_master_status{name="' + lease + '"} 0');
    await waitFor('b leads', () => b.elector.isLeader());
    const taken = await readLease(lease);
    expect(taken.spec.holderIdentity).toBe('b');
    expect(taken.spec.leaseTransitions).toBe((held.spec.leaseTransitions ?? 0) + 1);
    expect(b.log).toContain('started');
    b.abort.abort();
    await b.run;
    expect((await readLease(lease)).spec.holderIdentity).toBe(''); // released
  });

  it('a leader that dies without releasing is replaced only after the lease runs out', async () => {
    const lease = `le-${uniqueSuffix()}`;
    const a = candidate(lease, 'a', { releaseOnCancel: false });
    await waitFor('a leads', () => a.elector.isLeader());
    const b = candidate(lease, 'b');
    await waitFor('b has seen a', () => b.log.includes('leader:a'));
    a.abort.abort(); // a "crashes": it stops renewing and does not release
    await a.run;
    const crashedAt = Date.now();
    expect((await readLease(lease)).spec.holderIdentity).toBe('a');
    await waitFor('b leads', () => b.elector.isLeader(), { timeoutMs: 20_000 });
    // Safety, not speed: b may only take over once a's record has gone unchanged for a lease duration (minus the
    // at most one retry period between a's last renewal and its crash).
    expect(Date.now() - crashedAt).toBeGreaterThanOrEqual(timings.leaseDurationMs - timings.retryPeriodMs - 100);
    b.abort.abort();
    await b.run;
  });

  it('steps down when it cannot renew within the renew deadline (someone else took the lease)', async () => {
    const lease = `le-${uniqueSuffix()}`;
    const a = candidate(lease, 'a');
    await waitFor('a leads', () => a.elector.isLeader());
    // An intruder rewrites the lease with a fresh record (as a partitioned replica with a newer view might).
    const current = await readLease(lease);
    await rest.replace(Resources.Lease, {
      ...current,
      spec: { ...current.spec, holderIdentity: 'intruder', renewTime: formatMicroTime(new Date()) },
    });
    await a.run; // run() returns when leadership is lost
    expect(a.elector.isLeader()).toBe(false);
    expect(a.log.at(-1)).toBe('stopped');
    expect(a.leadership?.aborted).toBe(true);
    expect(a.elector.leader()).toBe('intruder');
    expect((await readLease(lease)).spec.holderIdentity).toBe('intruder'); // it did not fight back
    a.abort.abort();
  });

  it('runUntilCancelled stands for election again after losing the lease, and leads again once it is free', async () => {
    const lease = `le-${uniqueSuffix()}`;
    const log: string[] = [];
    const abort = new AbortController();
    const elector = new LeaderElector({
      rest,
      namespace: ns,
      name: lease,
      identity: 'a',
      ...timings,
      onStartedLeading: () => {
        log.push('started');
      },
      onStoppedLeading: () => log.push('stopped'),
    });
    const running = elector.runUntilCancelled(abort.signal);
    await waitFor('a leads', () => elector.isLeader());
    const current = await readLease(lease);
    await rest.replace(Resources.Lease, {
      ...current,
      spec: { ...current.spec, holderIdentity: 'intruder', renewTime: formatMicroTime(new Date()) },
    });
    await waitFor('a stepped down', () => log.includes('stopped'));
    // The intruder never renews: once its record is a lease duration old, a takes the lease back.
    await waitFor('a leads again', () => elector.isLeader() && log.filter((l) => l === 'started').length === 2, {
      timeoutMs: 20_000,
    });
    expect((await readLease(lease)).spec.holderIdentity).toBe('a');
    abort.abort();
    await running;
    expect(elector.isLeader()).toBe(false);
  });

  it('gives leadership up and fails run() when the leader work fails', async () => {
    const lease = `le-${uniqueSuffix()}`;
    const a = candidate(lease, 'a', {
      onStartedLeading: async () => {
        throw new Error('cannot start controllers');
      },
    });
    await expect(a.run).rejects.toThrow('cannot start controllers');
    expect(a.elector.isLeader()).toBe(false);
    expect((await readLease(lease)).spec.holderIdentity).toBe('');
  });

  it('refuses timings that cannot be safe', () => {
    const base = { rest, namespace: ns, name: 'x', onStartedLeading: () => {} };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(
      /leaseDuration must be greater/,
    );
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2000, retryPeriodMs: 2000 })).toThrow(/renewDeadline/);
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 15_500 })).toThrow(/whole seconds/);
    expect(new LeaderElector(base).identity).toMatch(/^.+_[0-9a-f]{8}$/);
  });
});
