// Issue 15 item 5, the long run without servers: random histories (jobs created, deleted and re-created, namespaces
// deleted and re-created elsewhere, writes, retain annotations, retention edits, clock jumps, controller restarts, GC
// runs) against the PURE garbage-collection planner the controller runs (src/gc/plan.ts). A small model says, from the
// history alone, which prefixes are stale; at every GC run the planner's decision must be exactly that: nothing
// Bound, retained, live or recently written is planned, and every stale prefix is planned in that run.
// The real-stack histories (the controller, the API server, the emulator) are test/integration/access-property.test.ts.
//
//   TIDEMARK_RELIABILITY=long      10,000 histories (default 200)
//   TIDEMARK_HISTORIES_SEED        replay a printed seed
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type GcCheckpointFacts, type PrefixUsage, planGc } from '../../src/gc/plan.js';
import { recordFigures } from './figures.js';

const LONG = process.env.TIDEMARK_RELIABILITY === 'long';
const RUNS = LONG ? 10_000 : 200;
const SEED = process.env.TIDEMARK_HISTORIES_SEED ? Number(process.env.TIDEMARK_HISTORIES_SEED) : 150_015;
const HOUR = 3_600_000;
const ROOT = 'ck';
const NS = ['n0', 'n1', 'n2'] as const;
const JOBS = ['a', 'b', 'c'] as const;
type I = 0 | 1 | 2;

type Event =
  | { t: 'putJob'; ns: I; job: I }
  | { t: 'deleteJob'; ns: I; job: I }
  | { t: 'write'; ns: I; job: I }
  | { t: 'retain'; ns: I; job: I; on: boolean }
  | { t: 'deleteNamespace'; ns: I }
  | { t: 'renameNamespace'; ns: I; to: I }
  | { t: 'retention'; hours: number }
  | { t: 'clockJump'; hours: number; minutes: number }
  | { t: 'restart' }
  | { t: 'gc' };

/** What the controller keeps (its Checkpoints) and what GCS holds, as the history made them. */
interface Prefix {
  objects: number;
  lastWriteMs?: number | undefined;
}
interface Ckpt {
  phase: 'Bound' | 'Released';
  releasedAtMs?: number | undefined;
  retained: boolean;
}
interface World {
  now: number;
  retentionH: number;
  namespaces: boolean[];
  live: Set<string>;
  checkpoints: Map<string, Ckpt>;
  gcs: Map<string, Prefix>;
}

const i = fc.constantFrom<I>(0, 1, 2);
const event: fc.Arbitrary<Event> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('putJob' as const), ns: i, job: i }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('deleteJob' as const), ns: i, job: i }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('write' as const), ns: i, job: i }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('retain' as const), ns: i, job: i, on: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('deleteNamespace' as const), ns: i }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('renameNamespace' as const), ns: i, to: i }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('retention' as const), hours: fc.integer({ min: 1, max: 4 }) }), weight: 1 },
  {
    arbitrary: fc.record({
      t: fc.constant('clockJump' as const),
      hours: fc.integer({ min: 0, max: 6 }),
      minutes: fc.integer({ min: 0, max: 59 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.constant({ t: 'restart' as const }), weight: 1 },
  { arbitrary: fc.constant({ t: 'gc' as const }), weight: 3 },
);

const k = (ns: I, job: I) => `${NS[ns]}/${JOBS[job]}`;
const prefixOf = (key: string) => `${ROOT}/${key}/`;

/** The model's own answer: which prefixes are stale now (design §2 and CONTRACTS "Prefixes of deleted namespaces"). */
function staleNow(w: World): Set<string> {
  const out = new Set<string>();
  const R = w.retentionH * HOUR;
  const writeOld = (p: Prefix | undefined) => p?.lastWriteMs === undefined || w.now - p.lastWriteMs >= R;
  for (const [key, cp] of w.checkpoints) {
    if (cp.phase !== 'Released' || cp.retained || w.live.has(key)) continue;
    if (w.now - (cp.releasedAtMs as number) >= R && writeOld(w.gcs.get(key))) out.add(key);
  }
  for (const [key, p] of w.gcs) {
    const ns = NS.indexOf(key.split('/')[0] as (typeof NS)[number]);
    if (!w.checkpoints.has(key) && !w.namespaces[ns] && p.objects > 0 && writeOld(p)) out.add(key);
  }
  return out;
}

/** One history; returns the number of GC runs checked. Throws (an expect) on the first wrong plan. */
function runHistory(events: Event[], figures: { gcRuns: number; deleted: number; kept: number }): void {
  const w: World = {
    now: Date.UTC(2026, 10, 30),
    retentionH: 2,
    namespaces: [true, true, true],
    live: new Set(),
    checkpoints: new Map(),
    gcs: new Map(),
  };
  const release = (key: string) => {
    const cp = w.checkpoints.get(key);
    if (cp?.phase === 'Bound') Object.assign(cp, { phase: 'Released', releasedAtMs: w.now });
  };
  const putJob = (ns: I, job: I) => {
    if (!w.namespaces[ns]) {
      // The namespace comes back: the orphan scan records its prefixes (Released, Orphaned: a full retention period).
      w.namespaces[ns] = true;
      for (const [key, p] of w.gcs) {
        if (key.startsWith(`${NS[ns]}/`) && p.objects > 0 && !w.checkpoints.has(key)) {
          w.checkpoints.set(key, { phase: 'Released', releasedAtMs: w.now, retained: false });
        }
      }
    }
    const key = k(ns, job);
    w.live.add(key);
    const cp = w.checkpoints.get(key);
    w.checkpoints.set(key, { phase: 'Bound', retained: cp?.retained ?? false });
  };
  const deleteNamespace = (ns: I) => {
    if (!w.namespaces[ns]) return;
    w.namespaces[ns] = false;
    for (const key of [...w.live]) if (key.startsWith(`${NS[ns]}/`)) w.live.delete(key);
    // Its Checkpoints go with it (their finalizers revoke first); GCS is the record of its prefixes from now on.
    for (const key of [...w.checkpoints.keys()]) if (key.startsWith(`${NS[ns]}/`)) w.checkpoints.delete(key);
  };
  for (const e of events) {
    switch (e.t) {
      case 'putJob':
        putJob(e.ns, e.job);
        break;
      case 'deleteJob':
        if (w.live.delete(k(e.ns, e.job))) release(k(e.ns, e.job));
        break;
      case 'write': {
        const key = k(e.ns, e.job);
        if (!w.live.has(key)) break; // only a running job writes its checkpoint
        const p = w.gcs.get(key) ?? { objects: 0 };
        w.gcs.set(key, { objects: p.objects + 1, lastWriteMs: w.now });
        break;
      }
      case 'retain': {
        const cp = w.checkpoints.get(k(e.ns, e.job));
        if (cp) cp.retained = e.on;
        break;
      }
      case 'deleteNamespace':
        deleteNamespace(e.ns);
        break;
      case 'renameNamespace': {
        if (!w.namespaces[e.ns]) break;
        const moved = [...w.live].filter((key) => key.startsWith(`${NS[e.ns]}/`));
        deleteNamespace(e.ns);
        for (const key of moved) putJob(e.to, JOBS.indexOf(key.split('/')[1] as (typeof JOBS)[number]) as I);
        break;
      }
      case 'retention':
        w.retentionH = e.hours;
        break;
      case 'clockJump':
        w.now += e.hours * HOUR + e.minutes * 60_000;
        break;
      case 'restart':
        // The controller's state is its Checkpoints and GCS: a restart changes neither (the real-stack histories
        // restart the real controller).
        break;
      case 'gc': {
        const expected = staleNow(w);
        const checkpoints: GcCheckpointFacts[] = [...w.checkpoints].map(([key, cp]) => ({
          namespace: key.split('/')[0] as string,
          name: key.split('/')[1] as string,
          prefix: prefixOf(key),
          phase: cp.phase,
          releasedAtMs: cp.releasedAtMs,
          retained: cp.retained,
          grantsRemain: cp.phase === 'Bound',
          revokedAtMs: cp.releasedAtMs,
        }));
        const usage = new Map<string, PrefixUsage>(
          [...w.gcs]
            .filter(([, p]) => p.objects > 0)
            .map(([key, p]) => [
              prefixOf(key),
              { objects: p.objects, bytes: p.objects * 10, lastWriteMs: p.lastWriteMs },
            ]),
        );
        const plan = planGc({
          now: w.now,
          policy: {
            name: 'p',
            bucket: 'b',
            rootPrefix: ROOT,
            retentionMs: w.retentionH * HOUR,
            propagationHoldMs: 0,
            maxDeletesPerRun: 1000,
          },
          checkpoints,
          liveJob: (ns, name) => w.live.has(`${ns}/${name}`),
          namespaceExists: (ns) => w.namespaces[NS.indexOf(ns as (typeof NS)[number])] === true,
          usage,
        });
        const planned = new Set(plan.deletions.map((d) => `${d.namespace}/${d.name}`));
        for (const key of planned) {
          const cp = w.checkpoints.get(key);
          expect(cp?.phase, `GC planned ${key}, whose Checkpoint is Bound`).not.toBe('Bound');
          expect(cp?.retained ?? false, `GC planned ${key}, which is retained`).toBe(false);
          expect(w.live.has(key), `GC planned ${key}, whose job is live`).toBe(false);
        }
        expect([...planned].sort(), 'the planner deletes exactly the stale prefixes').toEqual([...expected].sort());
        figures.gcRuns++;
        figures.deleted += planned.size;
        figures.kept += plan.kept.length;
        for (const key of planned) {
          w.checkpoints.delete(key);
          w.gcs.delete(key);
        }
        break;
      }
    }
  }
}

describe('random histories against the pure GC planner (issue 15)', () => {
  it(`no live, Bound or retained prefix is planned, every stale one is, in the run after it becomes stale (${RUNS} histories)`, () => {
    const figures = { gcRuns: 0, deleted: 0, kept: 0 };
    let histories = 0;
    const started = Date.now();
    try {
      fc.assert(
        fc.property(fc.array(event, { minLength: 5, maxLength: 40 }), (events) => {
          histories++;
          runHistory(events, figures);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    } finally {
      console.log(
        `[histories, pure planner] seed ${SEED}: ${histories} histories run (shrinking included), ${figures.gcRuns} GC runs checked, ${figures.deleted} stale prefixes planned, ${figures.kept} kept; invariant violations: ${histories > RUNS ? 'see the failure' : 0}`,
      );
      // More runs than asked for means fast-check was shrinking a failure: at least one violation.
      recordFigures({
        test: 'histories-planner',
        histories,
        violations: histories > RUNS ? 1 : 0,
        wallMs: Date.now() - started,
        notes: { gcRuns: figures.gcRuns, stalePlanned: figures.deleted, kept: figures.kept },
      });
    }
  }, 600_000);
});
