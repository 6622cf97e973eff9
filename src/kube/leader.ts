import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import { type Logger, silentLogger } from './log.js';
import { gauge } from './metrics.js';
import { Resources } from './resources.js';
import { isConflict, isNotFound, type KubeObject, type KubeRest } from './rest.js';
import { linkSignals } from './signals.js';
import { sleep } from './sleep.js';
import { formatMicroTime } from './status.js';

/** coordination.k8s.io/v1 LeaseSpec (the fields leader election uses). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  rest: KubeRest;
  namespace: string;
  name: string;
  /** Default: hostname + '_' + random suffix (unique per process). */
  identity?: string;
  /** client-go defaults: 15 s / 10 s / 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Clear the holder when run() is cancelled, so a standby takes over at once instead of after the lease runs out. */
  releaseOnCancel?: boolean;
  /** Starts the leader's work; `signal` is aborted when leadership ends. A rejection ends leadership and run(). */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  onStoppedLeading?(): void;
  onNewLeader?(identity: string): void;
  logger?: Logger;
  registry?: Registry;
  now?: () => number;
}

export function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(4).toString('hex')}`;
}

const JITTER = 1.2; // client-go's JitterFactor for the acquire loop

/**
 * Leader election on a Lease, following client-go's leaderelection:
 * - acquire: create the Lease if missing; take it when it has no holder, or when its record has not changed for
 *   leaseDuration as observed on THIS process's clock (the holder's renewTime is never compared with our clock,
 *   so clock skew between replicas cannot make two leaders); every write is a resourceVersion-conditional update,
 *   so two candidates racing for an expired lease cannot both win;
 * - renew every retryPeriod; if no renewal succeeded for renewDeadline, step down (renewDeadline < leaseDuration,
 *   so the old leader stops before any standby may take over);
 * - release on cancel: clear holderIdentity so a standby takes over at its next retry.
 * `run(signal)` resolves when leadership ended (lost or cancelled) — like client-go, a process then exits, or
 * uses `runUntilCancelled(signal)`, which stands for election again after a loss.
 */
export class LeaderElector {
  readonly identity: string;
  private readonly o: Required<
    Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'releaseOnCancel'>
  > &
    LeaderElectionOptions;
  private readonly logger: Logger;
  private readonly now: () => number;
  private observed: { spec: LeaseSpec; at: number } | undefined;
  private lease: Lease | undefined;
  private leading = false;
  private lastLeader = '';
  private readonly status?: { set(v: number): void };

  constructor(opts: LeaderElectionOptions) {
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnCancel: true,
      ...opts,
    };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.o;
    if (!(leaseDurationMs > renewDeadlineMs)) throw new Error('leaseDuration must be greater than renewDeadline');
    if (!(renewDeadlineMs > JITTER * retryPeriodMs))
      throw new Error('renewDeadline must be greater than 1.2 × retryPeriod');
    if (!(retryPeriodMs > 0)) throw new Error('retryPeriod must be positive');
    if (leaseDurationMs % 1000 !== 0) throw new Error('leaseDuration must be whole seconds (a Lease counts seconds)');
    if (!opts.name || !opts.namespace) throw new Error('leader election needs a lease namespace and name');
    this.identity = opts.identity ?? defaultIdentity();
    this.logger = (opts.logger ?? silentLogger()).child({
      lease: `${opts.namespace}/${opts.name}`,
      identity: this.identity,
    });
    this.now = opts.now ?? Date.now;
    if (opts.registry) {
      const g = gauge(opts.registry, {
        name: 'leader_election_master_status',
        help: 'Whether this process leads (1) or stands by (0)',
        labelNames: ['name'],
      });
      this.status = { set: (v) => g.set({ name: opts.name }, v) };
      this.status.set(0);
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the Lease ('' when none). */
  leader(): string {
    return this.lastLeader;
  }

  /**
   * Stands for election again after every lost leadership, until `signal` is aborted: a replica that stepped
   * down (for example during an API server outage longer than the renew deadline) becomes a candidate again
   * instead of idling for good. Rejects only when the leader work fails.
   */
  async runUntilCancelled(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.run(signal);
      if (!signal.aborted) this.logger.warn('leadership lost; standing for election again');
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!(await this.acquire(signal))) return;
    const leadership = new AbortController();
    this.setLeading(true);
    let failure: unknown;
    const work = Promise.resolve()
      .then(() => this.o.onStartedLeading(leadership.signal))
      .catch((err: unknown) => {
        failure = err;
        this.logger.error({ err }, 'leader work failed; giving up leadership');
        leadership.abort(err);
      });
    try {
      await this.renewLoop(signal, leadership.signal);
    } finally {
      this.setLeading(false);
      leadership.abort(new Error('leadership ended'));
      if (this.o.releaseOnCancel && (signal.aborted || failure !== undefined)) await this.release();
      this.o.onStoppedLeading?.();
    }
    await work;
    if (failure !== undefined) throw failure;
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.status?.set(v ? 1 : 0);
    this.logger.info(v ? 'became leader' : 'stopped leading');
  }

  private async acquire(signal: AbortSignal): Promise<boolean> {
    this.logger.info('trying to acquire the lease');
    while (!signal.aborted) {
      if (await this.attempt(this.o.renewDeadlineMs)) return true;
      await sleep(this.o.retryPeriodMs * (1 + Math.random() * (JITTER - 1)), signal);
    }
    return false;
  }

  private async renewLoop(signal: AbortSignal, leadership: AbortSignal): Promise<void> {
    let lastRenew = this.now();
    while (!signal.aborted && !leadership.aborted) {
      // Not AbortSignal.any: it would grow both signals by one entry per renewal (see signals.ts).
      const linked = linkSignals([signal, leadership]);
      await sleep(this.o.retryPeriodMs, linked.signal);
      linked.done();
      if (signal.aborted || leadership.aborted) return;
      const left = lastRenew + this.o.renewDeadlineMs - this.now();
      if (left > 0 && (await this.attempt(left))) {
        lastRenew = this.now();
        continue;
      }
      // Another candidate holds the lease now (we read it): it is lost, and waiting out the renew deadline would
      // only let two leaders act at once. client-go keeps retrying until the deadline; we step down at once.
      if (this.lastLeader !== '' && this.lastLeader !== this.identity) {
        this.logger.error({ leader: this.lastLeader }, 'the lease is held by another candidate; stepping down now');
        return;
      }
      if (this.now() - lastRenew >= this.o.renewDeadlineMs) {
        this.logger.error(
          { renewDeadlineMs: this.o.renewDeadlineMs },
          'could not renew the lease in time; stepping down',
        );
        return;
      }
    }
  }

  /** One tryAcquireOrRenew; false when the lease is held by another or the write lost a race. Never throws. */
  private async attempt(timeoutMs: number): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew(Math.max(1, timeoutMs));
    } catch (err) {
      this.logger.warn({ err }, 'lease read/write failed');
      return false;
    }
  }

  private record(now: number, prior: LeaseSpec | undefined): LeaseSpec {
    const mine = prior?.holderIdentity === this.identity;
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.o.leaseDurationMs / 1000,
      acquireTime: mine && prior?.acquireTime ? prior.acquireTime : formatMicroTime(new Date(now)),
      renewTime: formatMicroTime(new Date(now)),
      leaseTransitions: mine ? (prior?.leaseTransitions ?? 0) : (prior?.leaseTransitions ?? -1) + 1,
    };
  }

  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const { rest, namespace, name } = this.o;
    const opts = { timeoutMs };
    // Fast path: the leader renews with the Lease it wrote last; a conflict means someone else wrote it.
    if (this.leading && this.lease) {
      try {
        const now = this.now();
        const updated = await rest.replace<Lease>(
          Resources.Lease,
          { ...this.lease, spec: this.record(now, this.lease.spec) },
          undefined,
          opts,
        );
        this.remember(updated, now);
        return true;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    let current: Lease;
    try {
      current = await rest.get<Lease>(Resources.Lease, name, namespace, opts);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const now = this.now();
      try {
        const created = await rest.create<Lease>(
          Resources.Lease,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: this.record(now, undefined),
          },
          opts,
        );
        this.remember(created, now);
        return true;
      } catch (e) {
        if (isConflict(e)) return false; // AlreadyExists: another candidate created it first
        throw e;
      }
    }
    const now = this.now();
    const spec = current.spec ?? {};
    if (!this.observed || !sameRecord(this.observed.spec, spec)) this.observed = { spec, at: now };
    this.noteLeader(spec.holderIdentity ?? '');
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== '' && holder !== this.identity && this.observed.at + durationMs > now) {
      return false; // held by another, and its record changed within the lease duration as we observed it
    }
    try {
      const updated = await rest.replace<Lease>(
        Resources.Lease,
        { ...current, spec: this.record(now, spec) },
        undefined,
        opts,
      );
      this.remember(updated, now);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private remember(lease: Lease, at: number): void {
    this.lease = lease;
    this.observed = { spec: lease.spec ?? {}, at };
    this.noteLeader(this.identity);
  }

  private noteLeader(holder: string): void {
    if (holder === this.lastLeader) return;
    this.lastLeader = holder;
    if (holder !== '') {
      this.logger.info({ leader: holder }, 'new leader observed');
      this.o.onNewLeader?.(holder);
    }
  }

  /** Clears holderIdentity if we still hold the lease (conditional on the Lease we last wrote). Never throws. */
  private async release(): Promise<void> {
    if (!this.lease) return;
    const now = formatMicroTime(new Date(this.now()));
    try {
      const released = await this.o.rest.replace<Lease>(
        Resources.Lease,
        {
          ...this.lease,
          spec: {
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: this.lease.spec?.leaseTransitions ?? 0,
          },
        },
        undefined,
        { timeoutMs: this.o.renewDeadlineMs },
      );
      this.lease = released;
      this.lastLeader = '';
      this.logger.info('released the lease');
    } catch (err) {
      // Not holding it any more (conflict) or the API is unreachable: the lease simply runs out.
      this.logger.warn({ err }, 'could not release the lease; it will expire instead');
    }
  }
}

function sameRecord(a: LeaseSpec, b: LeaseSpec): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.renewTime === b.renewTime &&
    a.acquireTime === b.acquireTime &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.leaseTransitions === b.leaseTransitions
  );
}
