// The bookkeeping of "apply enqueues and is woken" (src/access/queued-changes.ts): pure, over plain promises.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QueuedChanges } from '../../../src/access/queued-changes.js';

/** A promise settled by hand. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((r) => setImmediate(r));

function setup(now = () => 0) {
  const woken: string[] = [];
  const q = new QueuedChanges<string>({ wake: (j) => woken.push(j), now, answerTtlMs: 1000 });
  return { q, woken };
}

describe('QueuedChanges', () => {
  it('hands a change over once, answers Pending until it lands, wakes the job once, then answers it once', async () => {
    const { q, woken } = setup();
    const d = deferred<string>();
    let starts = 0;
    const start = () => {
      starts++;
      return d.promise;
    };
    expect(q.take('ns/a', 'sig1', start).kind).toBe('Pending');
    expect(q.take('ns/a', 'sig1', start).kind).toBe('Pending');
    expect(starts).toBe(1);
    expect(woken).toEqual([]);
    d.resolve('read back');
    await flush();
    expect(woken).toEqual(['ns/a']);
    expect(q.take('ns/a', 'sig1', start)).toEqual({ kind: 'Answered', value: 'read back' });
    // Consumed: the next take is a new change.
    expect(q.take('ns/a', 'sig1', start).kind).toBe('Pending');
    expect(starts).toBe(2);
  });

  it("the write's error reaches the next take (thrown), never swallowed, and the job is woken for it", async () => {
    const { q, woken } = setup();
    const d = deferred<string>();
    q.take('ns/a', 's', () => d.promise);
    d.reject(new Error('IamPolicyLimit'));
    await flush();
    expect(woken).toEqual(['ns/a']);
    expect(() => q.take('ns/a', 's', () => d.promise)).toThrow('IamPolicyLimit');
  });

  it('a start() that throws at once is an answer too (the job is woken and the error thrown on the next take)', async () => {
    const { q, woken } = setup();
    expect(
      q.take('ns/a', 's', () => {
        throw new Error('writer stopped');
      }).kind,
    ).toBe('Pending');
    await flush();
    expect(woken).toEqual(['ns/a']);
    expect(() => q.take('ns/a', 's', () => Promise.resolve('x'))).toThrow('writer stopped');
  });

  it("a superseded change's answer is dropped: only the newer change's answer wakes the job and is taken", async () => {
    const { q, woken } = setup();
    const older = deferred<string>();
    const newer = deferred<string>();
    q.take('ns/a', 'grant', () => older.promise);
    expect(q.take('ns/a', 'revoke', () => newer.promise).kind).toBe('Pending');
    older.resolve('granted');
    await flush();
    expect(woken).toEqual([]);
    expect(q.take('ns/a', 'revoke', () => newer.promise).kind).toBe('Pending');
    newer.resolve('revoked');
    await flush();
    expect(woken).toEqual(['ns/a']);
    expect(q.take('ns/a', 'revoke', () => newer.promise)).toEqual({ kind: 'Answered', value: 'revoked' });
  });

  it('an answer for another change of the same job is not handed out: that change starts afresh', async () => {
    const { q } = setup();
    q.take('ns/a', 'v1', () => Promise.resolve('v1 read back'));
    await flush();
    let started = false;
    const r = q.take('ns/a', 'v2', () => {
      started = true;
      return new Promise<string>(() => {});
    });
    expect(r.kind).toBe('Pending');
    expect(started).toBe(true);
  });

  it('jobs are independent; dropped jobs wake nobody; answers older than the TTL are not handed out', async () => {
    let t = 0;
    const { q, woken } = setup(() => t);
    const a = deferred<string>();
    const b = deferred<string>();
    q.take('ns/a', 's', () => a.promise);
    q.take('ns/b', 's', () => b.promise);
    expect(q.pending).toBe(2);
    q.drop('ns/b');
    a.resolve('a');
    b.resolve('b');
    await flush();
    expect(woken).toEqual(['ns/a']);
    t = 5000;
    let restarted = false;
    expect(
      q.take('ns/a', 's', () => {
        restarted = true;
        return new Promise<string>(() => {});
      }).kind,
    ).toBe('Pending');
    expect(restarted).toBe(true);
  });

  it('awaiting(group) and pending follow the changes handed over and not answered, under any sequence (model check)', async () => {
    // Keys are "job grant", grouped by job, as the BucketCondition backend does (one entry per job AND binding).
    const keys = ['ns/a g1', 'ns/a g2', 'ns/b g1'];
    const op = fc.oneof(
      fc.record({ t: fc.constant('take' as const), k: fc.nat(2), sig: fc.constantFrom('s1', 's2') }),
      fc.record({ t: fc.constant('settle' as const), i: fc.nat(20), ok: fc.boolean() }),
      fc.record({ t: fc.constant('drop' as const), k: fc.nat(2) }),
      fc.record({ t: fc.constant('time' as const), ms: fc.constantFrom(10, 2000) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        let now = 0;
        const q = new QueuedChanges<string>({
          wake: () => {},
          now: () => now,
          answerTtlMs: 1000,
          groupOf: (k) => k.slice(0, k.indexOf(' ')),
        });
        // Model: the newest change started per key, and whether it is answered; started writes not settled yet.
        const current = new Map<string, { id: number; answered: boolean }>();
        const writes: { id: number; key: string; d: ReturnType<typeof deferred<string>> }[] = [];
        let next = 0;
        for (const o of ops) {
          if (o.t === 'take') {
            const key = keys[o.k] as string;
            try {
              q.take(key, o.sig, () => {
                const d = deferred<string>();
                const id = next++;
                writes.push({ id, key, d });
                current.set(key, { id, answered: false });
                return d.promise;
              });
            } catch {
              // a failed answer taken: consumed
            }
            const c = current.get(key);
            // An answer handed out is consumed (the model forgets it too).
            if (c?.answered) current.delete(key);
          } else if (o.t === 'settle') {
            const w = writes.splice(o.i % Math.max(1, writes.length), 1)[0];
            if (!w) continue;
            if (o.ok) w.d.resolve('ok');
            else w.d.reject(new Error('403'));
            await flush();
            const c = current.get(w.key);
            if (c?.id === w.id) c.answered = true;
          } else if (o.t === 'drop') {
            q.drop(keys[o.k] as string);
            current.delete(keys[o.k] as string);
          } else now += o.ms;
          const open = [...current.entries()].filter(([, c]) => !c.answered);
          expect(q.pending).toBe(open.length);
          for (const job of ['ns/a', 'ns/b']) {
            expect(q.awaiting(job)).toBe(open.some(([k]) => k.startsWith(`${job} `)));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
