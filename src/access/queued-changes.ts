// Changes handed to a slow writer without waiting for it: "apply enqueues and is woken" (issue 13).
//
// A reconcile must not hold a worker while a bucket's policy write waits for its slot (one write per second per
// bucket): it hands its change over and returns; when the write has landed and been read back (or has failed),
// the job is woken (its work-queue key is added) and its next reconcile takes the answer.
//
// One entry per job, keyed by a signature of the exact change (desired and removable members):
// - take(job, signature, start): the same change already queued → Pending; already answered → the answer (the
//   entry is consumed), or the write's error thrown (never swallowed: the reconcile reports it); anything else (a
//   new change, or one that supersedes the job's queued one) → start() is called and Pending returned.
// - An answer is kept for its own entry only: the answer to a superseded change is dropped (the writer answers the
//   superseding change too, and that answer wakes the job). The job is woken once per answer.
// - Answers not taken within `answerTtlMs` are dropped (e.g. the Checkpoint is gone; a later take starts afresh).
// - awaiting(group): some change of the group (a job's entries, see `groupOf`) is handed over and not answered, so
//   a wake-up is coming (the controller keeps the job's failure backoff meanwhile instead of resetting it).
// Pure bookkeeping over promises; the writer (bucket-writer.ts) does the I/O.

export type Taken<T> = { kind: 'Answered'; value: T } | { kind: 'Pending'; since: number };

export interface QueuedChangesOptions {
  /** Called with the job's key once its change is answered (the controller adds the key to its work queue). */
  wake: (job: string) => void;
  /** How long an answer waits to be taken. Default 60 s. */
  answerTtlMs?: number | undefined;
  now?: (() => number) | undefined;
  /** The group an entry's key belongs to, for awaiting(); default the key itself. */
  groupOf?: ((job: string) => string) | undefined;
}

type Entry<T> = {
  signature: string;
  since: number;
} & (
  | { state: 'pending' }
  | { state: 'answered'; value: T; at: number }
  | { state: 'failed'; error: unknown; at: number }
);

export class QueuedChanges<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly wake: (job: string) => void;
  private readonly ttl: number;
  private readonly now: () => number;
  private readonly groupOf: (job: string) => string;
  /** Entries in state pending, per group (their sum is `pending`). */
  private readonly pendingIn = new Map<string, number>();
  private expiredAt = Number.NEGATIVE_INFINITY;

  constructor(opts: QueuedChangesOptions) {
    this.wake = opts.wake;
    this.ttl = opts.answerTtlMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.groupOf = opts.groupOf ?? ((job) => job);
  }

  /** Changes handed over and not answered yet (for metrics and tests). */
  get pending(): number {
    let n = 0;
    for (const count of this.pendingIn.values()) n += count;
    return n;
  }

  /** Whether a change of `group` is handed over and not answered yet: its answer will wake the job. */
  awaiting(group: string): boolean {
    return this.pendingIn.has(group);
  }

  take(job: string, signature: string, start: () => Promise<T>): Taken<T> {
    const e = this.entries.get(job);
    if (e && e.signature === signature) {
      if (e.state === 'pending') return { kind: 'Pending', since: e.since };
      this.set(job, undefined);
      if (this.now() - e.at <= this.ttl) {
        if (e.state === 'failed') throw e.error;
        return { kind: 'Answered', value: e.value };
      }
    }
    this.expire();
    const entry: Entry<T> = { signature, since: this.now(), state: 'pending' };
    this.set(job, entry);
    let started: Promise<T>;
    try {
      started = start();
    } catch (err) {
      started = Promise.reject(err);
    }
    started.then(
      (value) => this.answer(job, entry, { signature, since: entry.since, state: 'answered', value, at: this.now() }),
      (error: unknown) =>
        this.answer(job, entry, { signature, since: entry.since, state: 'failed', error, at: this.now() }),
    );
    return { kind: 'Pending', since: entry.since };
  }

  /** Forgets the job's entry (its answer, if one comes, wakes nobody). */
  drop(job: string): void {
    this.set(job, undefined);
  }

  private answer(job: string, entry: Entry<T>, answered: Entry<T>): void {
    if (this.entries.get(job) !== entry) return; // superseded or dropped
    this.set(job, answered);
    this.wake(job);
  }

  /** Replaces (or, with undefined, removes) the job's entry, keeping the pending counts. */
  private set(job: string, entry: Entry<T> | undefined): void {
    const was = this.entries.get(job)?.state === 'pending';
    if (entry) this.entries.set(job, entry);
    else this.entries.delete(job);
    const is = entry?.state === 'pending';
    if (was === is) return;
    const group = this.groupOf(job);
    const n = (this.pendingIn.get(group) ?? 0) + (is ? 1 : -1);
    if (n > 0) this.pendingIn.set(group, n);
    else this.pendingIn.delete(group);
  }

  /** Drops answers nobody took (at most once per second: a pass visits every entry). */
  private expire(): void {
    const t = this.now();
    if (t - this.expiredAt < 1000) return;
    this.expiredAt = t;
    const cutoff = t - this.ttl;
    // Answered entries only: the pending counts do not change.
    for (const [job, e] of this.entries) if (e.state !== 'pending' && e.at < cutoff) this.entries.delete(job);
  }
}
