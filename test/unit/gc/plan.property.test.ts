// Property: over random histories (jobs created, deleted and re-created, namespaces deleted and re-created, writes,
// retain annotations, clock advances, GC runs that may crash part-way and are resumed), the planner driving a model
// of the controller and the store never deletes an object of a bound or retained checkpoint, nor one written within
// the retention period, and deletes every stale prefix in the first complete run after it became stale.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { type GcCheckpointFacts, type PrefixUsage, planGc } from '../../../src/gc/plan.js';

const ROOT = 'root';
const RETENTION = 10;
const HOLD = 2;
const NAMESPACES = ['a', 'b'];
const JOBS = ['j1', 'j2'];

interface Obj {
  writtenAt: number;
}
interface Ckpt {
  phase: 'Bound' | 'Released' | 'Deleting';
  releasedAt?: number;
  retained: boolean;
}

type Step =
  | { op: 'create'; ns: string; job: string }
  | { op: 'delete'; ns: string; job: string }
  | { op: 'write'; ns: string; job: string }
  | { op: 'foreignWrite'; ns: string; job: string }
  | { op: 'retain'; ns: string; job: string; on: boolean }
  | { op: 'advance'; by: number }
  | { op: 'deleteNamespace'; ns: string }
  | { op: 'createNamespace'; ns: string }
  | { op: 'gc'; crashAfter: number | null; max: number }
  | { op: 'reconcile' };

const key = (ns: string, job: string) => `${ns}/${job}`;
const prefixOf = (k: string) => `${ROOT}/${k}/`;

class Model {
  now = 1000;
  namespaces = new Set(NAMESPACES);
  live = new Set<string>();
  ckpts = new Map<string, Ckpt>();
  store = new Map<string, Obj[]>();

  /** The controller's reconcile of one job name. */
  reconcile(k: string): void {
    const cp = this.ckpts.get(k);
    const live = this.live.has(k);
    if (live) {
      if (!cp) this.ckpts.set(k, { phase: 'Bound', retained: false });
      else if (cp.phase === 'Released') this.ckpts.set(k, { ...cp, phase: 'Bound', releasedAt: undefined });
      // Deleting: the job waits.
    } else if (cp?.phase === 'Bound') {
      this.ckpts.set(k, { ...cp, phase: 'Released', releasedAt: this.now });
    }
  }

  /** The orphan scan: a prefix with objects and no record, in a namespace that exists, is adopted as Released. */
  scan(): void {
    for (const [k, objs] of this.store) {
      if (objs.length === 0 || this.ckpts.has(k)) continue;
      if (this.namespaces.has(k.split('/')[0] as string)) {
        this.ckpts.set(k, { phase: 'Released', releasedAt: this.now, retained: false });
      }
    }
  }

  reconcileAll(): void {
    for (const ns of NAMESPACES) for (const j of JOBS) this.reconcile(key(ns, j));
  }

  usage(): Map<string, PrefixUsage> {
    const m = new Map<string, PrefixUsage>();
    for (const [k, objs] of this.store) {
      if (objs.length === 0) continue;
      m.set(prefixOf(k), {
        objects: objs.length,
        bytes: objs.length,
        lastWriteMs: Math.max(...objs.map((o) => o.writtenAt)),
      });
    }
    return m;
  }

  /** Stale by the definition, computed independently of the planner. */
  stale(k: string): boolean {
    const objs = this.store.get(k) ?? [];
    const last = objs.length ? Math.max(...objs.map((o) => o.writtenAt)) : undefined;
    const oldData = last === undefined || this.now - last >= RETENTION;
    const cp = this.ckpts.get(k);
    if (!cp) return objs.length > 0 && !this.namespaces.has(k.split('/')[0] as string) && oldData;
    if (cp.retained) return false;
    if (cp.phase === 'Deleting') return true;
    return (
      cp.phase === 'Released' &&
      !this.live.has(k) &&
      cp.releasedAt !== undefined &&
      this.now - cp.releasedAt >= Math.max(RETENTION, HOLD) &&
      oldData
    );
  }
}

const nsArb = fc.constantFrom(...NAMESPACES);
const jobArb = fc.constantFrom(...JOBS);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('create' as const), ns: nsArb, job: jobArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), ns: nsArb, job: jobArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('write' as const), ns: nsArb, job: jobArb }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('foreignWrite' as const), ns: nsArb, job: jobArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('retain' as const), ns: nsArb, job: jobArb, on: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('advance' as const), by: fc.integer({ min: 1, max: 12 }) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('deleteNamespace' as const), ns: nsArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('createNamespace' as const), ns: nsArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('reconcile' as const) }), weight: 6 },
  {
    arbitrary: fc.record({
      op: fc.constant('gc' as const),
      crashAfter: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }),
      max: fc.integer({ min: 1, max: 3 }),
    }),
    weight: 3,
  },
);

function run(steps: Step[]): void {
  const m = new Model();
  for (const s of steps) {
    switch (s.op) {
      case 'create':
        if (m.namespaces.has(s.ns)) m.live.add(key(s.ns, s.job));
        break;
      case 'delete':
        m.live.delete(key(s.ns, s.job));
        break;
      case 'write': {
        const k = key(s.ns, s.job);
        // Only a job whose checkpoint is bound (granted) can write.
        m.reconcile(k);
        if (m.live.has(k) && m.ckpts.get(k)?.phase === 'Bound') {
          m.store.set(k, [...(m.store.get(k) ?? []), { writtenAt: m.now }]);
        }
        break;
      }
      case 'foreignWrite':
        // Someone else writes under the prefix (an operator, a grant still propagating): it counts as a write.
        m.store.set(key(s.ns, s.job), [...(m.store.get(key(s.ns, s.job)) ?? []), { writtenAt: m.now }]);
        break;
      case 'retain': {
        const cp = m.ckpts.get(key(s.ns, s.job));
        if (cp) cp.retained = s.on;
        break;
      }
      case 'advance':
        m.now += s.by;
        break;
      case 'deleteNamespace':
        m.namespaces.delete(s.ns);
        for (const j of JOBS) {
          m.live.delete(key(s.ns, j));
          m.ckpts.delete(key(s.ns, j)); // the finalizer revokes, the record goes, the data stays
        }
        break;
      case 'createNamespace':
        m.namespaces.add(s.ns);
        break;
      case 'gc':
        gc(m, s.crashAfter, s.max);
        break;
      case 'reconcile':
        // The controller catches up (until then its view lags: a job may exist with its Checkpoint still Released).
        m.reconcileAll();
        m.scan();
        break;
    }
  }
}

function gc(m: Model, crashAfter: number | null, max: number): void {
  const checkpoints: GcCheckpointFacts[] = [...m.ckpts].map(([k, c]) => ({
    namespace: k.split('/')[0] as string,
    name: k.split('/')[1] as string,
    prefix: prefixOf(k),
    phase: c.phase,
    releasedAtMs: c.releasedAt,
    retained: c.retained,
    grantsRemain: c.phase === 'Bound',
    revokedAtMs: c.releasedAt,
  }));
  const staleBefore = [...new Set([...m.ckpts.keys(), ...m.store.keys()])].filter((k) => m.stale(k));
  const plan = planGc({
    now: m.now,
    policy: {
      name: 'p',
      bucket: 'b',
      rootPrefix: ROOT,
      retentionMs: RETENTION,
      propagationHoldMs: HOLD,
      maxDeletesPerRun: max,
    },
    checkpoints,
    liveJob: (ns, name) => m.live.has(key(ns, name)),
    namespaceExists: (ns) => m.namespaces.has(ns),
    usage: m.usage(),
  });
  expect(plan.deletions.length).toBeLessThanOrEqual(max);
  for (const d of plan.deletions) {
    const k = key(d.namespace, d.name);
    expect(m.stale(k), `${k} planned but not stale`).toBe(true);
  }
  let deletedObjects = 0;
  let crashed = false;
  for (const d of plan.deletions) {
    const k = key(d.namespace, d.name);
    const cp = m.ckpts.get(k);
    if (d.kind === 'Checkpoint') {
      expect(cp, `${k} planned with a record`).toBeDefined();
      if (cp) cp.phase = 'Deleting'; // fence
    }
    const objs = m.store.get(k) ?? [];
    while (objs.length > 0) {
      if (crashAfter !== null && deletedObjects >= crashAfter) {
        crashed = true;
        break;
      }
      const o = objs.pop() as Obj;
      deletedObjects++;
      // The safety property, judged on the model at the moment of deletion.
      const now = m.ckpts.get(k);
      expect(now?.phase, `${k}: deleted an object of a bound checkpoint`).not.toBe('Bound');
      expect(now?.retained ?? false, `${k}: deleted an object of a retained checkpoint`).toBe(false);
      expect(m.now - o.writtenAt, `${k}: deleted an object written within retention`).toBeGreaterThanOrEqual(
        d.resume ? 0 : RETENTION,
      );
    }
    if (crashed) break;
    m.store.delete(k);
    m.ckpts.delete(k); // the record goes once the prefix is empty
  }
  if (crashed) return;
  // Liveness: every prefix stale at the start of a complete run is gone after it (within maxDeletesPerRun).
  const remaining = staleBefore.filter((k) => m.ckpts.has(k) || (m.store.get(k)?.length ?? 0) > 0);
  const expectedRemaining = Math.max(0, staleBefore.length - max);
  expect(remaining.length, `stale prefixes left after a full run: ${remaining.join(', ')}`).toBe(expectedRemaining);
}

test('GC over random histories: never a bound, retained or recently written object; every stale prefix in one run', () => {
  const runs = Number(process.env.TIDEMARK_GC_PROPERTY_RUNS ?? 1000);
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 5, maxLength: 60 }), (steps) => run(steps)),
    { numRuns: runs },
  );
});
