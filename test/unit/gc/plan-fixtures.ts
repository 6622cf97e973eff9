// Shared by the GC planner's unit tests: a policy, a clock, and a Checkpoint's facts.
import { type GcCheckpointFacts, type PlanInput, planGc } from '../../../src/gc/plan.js';

export const H = 3_600_000;
export const NOW = Date.parse('2026-11-29T12:00:00Z');
export const policy = {
  name: 'p',
  bucket: 'bkt-1',
  rootPrefix: 'ckpt/prod',
  retentionMs: 24 * H,
  propagationHoldMs: 60_000,
  maxDeletesPerRun: 100,
};

/** A Released Checkpoint of namespace `ns`, released two retention periods ago, at its own place. */
export function cp(name: string, o: Partial<GcCheckpointFacts> = {}): GcCheckpointFacts {
  return {
    namespace: 'ns',
    name,
    prefix: `ckpt/prod/ns/${name}/`,
    phase: 'Released',
    releasedAtMs: NOW - 48 * H,
    retained: false,
    grantsRemain: false,
    ...o,
  };
}

/** A plan input with nothing in it but the policy and the clock; `o` fills it. */
export function input(o: Partial<PlanInput>): PlanInput {
  return {
    now: NOW,
    policy,
    checkpoints: [],
    liveJob: () => false,
    namespaceExists: () => true,
    usage: new Map(),
    ...o,
  };
}

/** The plan in one line per prefix: `<prefix> delete` or `<prefix> <keep reason>`. */
export function decide(o: Partial<PlanInput>): string[] {
  const plan = planGc(input(o));
  return [...plan.deletions.map((d) => `${d.prefix} delete`), ...plan.kept.map((k) => `${k.prefix} ${k.reason}`)];
}

/** A CheckpointPolicy as overlap.ts reads it (name, creation time, bucket and root). */
export function pol(name: string, rootPrefix: string, created: string, bucket = 'bkt-1') {
  return { metadata: { name, creationTimestamp: created }, spec: { storage: { bucket, rootPrefix } } };
}

/** The planned policy `p` (oldest) and a later policy whose root lies inside ours, at `root`. */
export const nestedRoot = (root: string) => [
  pol('p', 'ckpt/prod', '2026-01-01T00:00:00Z'),
  pol('q', root, '2026-02-01T00:00:00Z'),
];
