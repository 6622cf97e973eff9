// Runs each CheckpointPolicy's GC on its cron schedule (croner, evaluated in UTC), on the leader only (the
// controller starts the scheduler when it starts leading and stops it when it stops), one run per policy at a time
// (in this process by a set of running policies, everywhere by the policy's GC Lease), and keeps status.nextGCTime.
// A policy with a Checkpoint left Deleting (a run interrupted by a crash or a leader change) is resumed at once. So
// is a Checkpoint left Deleting whose policy is gone (or invalid): at start, whenever the policies change, and again
// every `resumeRetryMs` while one is left, since no schedule of its own will ever run it (run.ts finishes it from
// its record).
import { Cron } from 'croner';
import type { CheckpointPolicy } from '../api/index.js';
import type { Logger } from '../kube/log.js';
import { resolvePolicy } from '../policy/effective.js';
import type { GcRunResult } from './run.js';

/** The next time `schedule` fires strictly after `from`, in UTC; undefined when it never does. */
export function nextRun(schedule: string, from: Date): Date | undefined {
  return new Cron(schedule, { timezone: 'UTC', paused: true }).nextRun(from) ?? undefined;
}

export interface GcSchedulerOptions {
  policies: () => CheckpointPolicy[];
  /** Policies that have a Checkpoint in phase Deleting (to resume at once). */
  interrupted: () => Set<string>;
  run: (policy: string) => Promise<GcRunResult>;
  writeNextGCTime: (policy: string, at: Date | undefined) => Promise<void>;
  logger: Logger;
  now?: () => Date;
  /** How long to wait before trying again to finish a Deleting Checkpoint of a policy with no schedule (5 min). */
  resumeRetryMs?: number;
}

const MAX_TIMER = 2_000_000_000; // setTimeout's limit is 2^31-1 ms

export class GcScheduler {
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout; schedule: string }>();
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;
  private readonly now: () => Date;

  constructor(private readonly o: GcSchedulerOptions) {
    this.now = o.now ?? (() => new Date());
  }

  /** Schedules every policy, and resumes interrupted ones now. */
  start(): void {
    this.sync();
    for (const name of this.o.interrupted()) void this.trigger(name, 'resume');
  }

  /** Re-reads the policies (call on any policy change). */
  sync(): void {
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const p of this.o.policies()) {
      const name = p.metadata.name ?? '';
      const r = resolvePolicy(p);
      if (!r.ok) continue;
      seen.add(name);
      const t = this.timers.get(name);
      if (t && t.schedule === r.policy.gc.schedule) continue;
      if (t) clearTimeout(t.timer);
      this.timers.delete(name);
      this.arm(name, r.policy.gc.schedule, p.status?.nextGCTime);
    }
    for (const [name, t] of this.timers) {
      if (!seen.has(name)) {
        clearTimeout(t.timer);
        this.timers.delete(name);
      }
    }
    // Deleting Checkpoints of a policy that is gone or invalid: nothing else will ever run them.
    for (const name of this.o.interrupted()) if (!seen.has(name)) void this.trigger(name, 'resume');
  }

  private arm(name: string, schedule: string, recorded: string | undefined): void {
    let next: Date | undefined;
    try {
      next = nextRun(schedule, this.now());
    } catch (err) {
      this.o.logger.warn({ err, policy: name }, 'gc.schedule does not parse');
      return;
    }
    if (!next) return;
    const at = next.getTime();
    const recordedMs = recorded ? Date.parse(recorded) : Number.NaN;
    if (recordedMs !== Math.floor(at / 1000) * 1000) {
      this.o
        .writeNextGCTime(name, next)
        .catch((err) => this.o.logger.warn({ err, policy: name }, 'writing nextGCTime failed'));
    }
    const delay = Math.min(MAX_TIMER, Math.max(0, at - this.now().getTime()));
    const timer = setTimeout(() => {
      this.timers.delete(name);
      if (this.now().getTime() + 50 >= at) this.trigger(name, 'schedule');
      const p = this.o.policies().find((x) => x.metadata.name === name);
      const r = p ? resolvePolicy(p) : undefined;
      // The next run is computed from the time this one was due (one second later), not from when it ends.
      if (r?.ok && !this.stopped) this.arm(name, r.policy.gc.schedule, undefined);
    }, delay);
    timer.unref();
    this.timers.set(name, { at, timer, schedule });
  }

  /** Runs GC for a policy now unless a run of it is in progress here. Resolves when that run ends. */
  trigger(name: string, why: 'schedule' | 'resume' | 'manual'): Promise<void> {
    const inFlight = this.running.get(name);
    if (inFlight || this.stopped) return inFlight ?? Promise.resolve();
    const done = (async () => {
      try {
        const r = await this.o.run(name);
        if (r.kind === 'Busy') {
          this.o.logger.info(
            { policy: name, holder: r.holder, why },
            'GC of this policy is running elsewhere; skipped',
          );
          // An interrupted run must not wait a whole schedule period behind a dead holder's lease.
          if (why === 'resume' && !this.stopped) {
            const t = setTimeout(
              () => void this.trigger(name, 'resume'),
              Math.max(1000, r.freeAt.getTime() - Date.now() + 1000),
            );
            t.unref();
          }
        } else if (r.kind === 'Skipped') {
          this.o.logger.warn({ policy: name, reason: r.reason }, r.message);
        }
      } catch (err) {
        this.o.logger.error({ err, policy: name }, 'garbage collection failed');
      } finally {
        this.running.delete(name);
        this.retryUnscheduled(name);
      }
    })();
    this.running.set(name, done);
    return done;
  }

  private readonly retries = new Map<string, NodeJS.Timeout>();

  /** A policy with no schedule here (gone or invalid) that still has a Deleting Checkpoint: try again later. */
  private retryUnscheduled(name: string): void {
    if (this.stopped || this.timers.has(name) || this.retries.has(name) || !this.o.interrupted().has(name)) return;
    const t = setTimeout(() => {
      this.retries.delete(name);
      if (!this.timers.has(name)) void this.trigger(name, 'resume');
    }, this.o.resumeRetryMs ?? 300_000);
    t.unref();
    this.retries.set(name, t);
  }

  /** Stops scheduling; resolves when running runs have ended (the caller aborts them through its signal). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
    await Promise.all(this.running.values());
  }
}
