// The command generators of the access property test, grouped so that a run can be restricted to some groups
// (TIDEMARK_PROPERTY_COMMANDS=policy,handmade,...) to show which defect each group finds. The base group (one
// policy, jobs created and deleted) is always on: every other command needs a policy and jobs to act on.
import fc from 'fast-check';
import { type Command, type Idx, MODES } from './model.js';

export const GROUPS = [
  /** access.role, access.mode, namespace/job selectors and root edits of one policy; policy deletion. */
  'policy',
  /** Two policies whose roots may nest (`ck` and `ck/<ns0>`), created in either order. */
  'overlap',
  /** Jobs annotated `tidemark.dev/policy` and policies whose jobSelector wants tier=gold. */
  'annotation',
  /** Service accounts named in the pod template or in sparkConf instead of spec.driver/executor. */
  'identity',
  /** ScheduledSparkApplications and their runs. */
  'scheduled',
  /** Hand-made Checkpoints (spec.prefix naming another job's place) and Checkpoint deletion. */
  'handmade',
  /** A foreign binding on the bucket; foreign members (a user, allAuthenticatedUsers, a conditional one) in a job's folder. */
  'foreign',
  /** Namespace deletion (and re-creation by a later job). */
  'namespaces',
  /** Controller restarts. */
  'restart',
  /**
   * Issue 15's histories: jobs write objects, retain annotations, short and long retentions, clock jumps past the
   * short one, namespace "renames" and GC runs.
   */
  'gc',
] as const;
export type Group = (typeof GROUPS)[number];

export function parseGroups(text: string | undefined): Set<Group> {
  if (!text || text.trim() === '' || text.trim() === 'all') return new Set(GROUPS);
  const out = new Set<Group>();
  for (const raw of text.split(',')) {
    const g = raw.trim();
    if (g === '' || g === 'base') continue;
    if (!(GROUPS as readonly string[]).includes(g)) {
      throw new Error(`TIDEMARK_PROPERTY_COMMANDS: unknown group "${g}" (groups: base, ${GROUPS.join(', ')})`);
    }
    out.add(g as Group);
  }
  return out;
}

const idx = fc.constantFrom<Idx>(0, 1, 2);

/** One command, drawn from the enabled groups. */
export function commandArb(groups: ReadonlySet<Group>): fc.Arbitrary<Command> {
  const on = (g: Group) => groups.has(g);
  const policyIdx = on('overlap') ? fc.constantFrom<0 | 1>(0, 1) : fc.constant<0 | 1>(0);
  // Without `overlap` only p0 exists, at `ck` or `ot`; with it the nested root `ck/<ns0>` and p1 come in.
  const root: fc.Arbitrary<Idx> = on('overlap') ? idx : on('policy') ? fc.constantFrom<Idx>(0, 2) : fc.constant<Idx>(0);
  const putPolicy = fc.record({
    t: fc.constant('putPolicy' as const),
    p: policyIdx,
    root,
    mode: on('policy') ? fc.constantFrom(...MODES) : fc.constant(MODES[0]),
    role: on('policy') ? idx : fc.constant<Idx>(0),
    // Mostly one namespace each, so that two policies select different jobs (a conflict provisions nothing).
    ns:
      on('policy') || on('overlap')
        ? fc.oneof(
            { arbitrary: fc.constantFrom(1, 2, 4), weight: 2 },
            { arbitrary: fc.integer({ min: 1, max: 7 }), weight: 1 },
          )
        : fc.constant(7),
    gold: on('annotation') ? fc.boolean() : fc.constant(false),
    retention: on('gc') ? fc.constantFrom('short' as const, 'long' as const) : fc.constant('long' as const),
  });
  const putJob = fc.record({
    t: fc.constant('putJob' as const),
    ns: idx,
    job: idx,
    kind: on('scheduled') ? fc.constantFrom('app' as const, 'scheduled' as const) : fc.constant('app' as const),
    sa: fc.constantFrom('spark' as const, 'etl' as const),
    via: on('identity')
      ? fc.constantFrom('spec' as const, 'template' as const, 'sparkConf' as const)
      : fc.constant('spec' as const),
    exec: fc.constantFrom(null, 'spark' as const, 'etl' as const),
    tier: fc.constantFrom('gold' as const, 'silver' as const),
    annotate: on('annotation') ? fc.constantFrom(null, 0 as const, 1 as const) : fc.constant(null),
  });
  const at = <T extends string>(t: T) => fc.record({ t: fc.constant(t), ns: idx, job: idx });
  const weighted: fc.WeightedArbitrary<Command>[] = [
    { arbitrary: putPolicy, weight: 3 },
    { arbitrary: putJob, weight: 5 },
    { arbitrary: at('deleteJob'), weight: 2 },
  ];
  if (on('policy') || on('overlap')) {
    weighted.push({ arbitrary: fc.record({ t: fc.constant('deletePolicy' as const), p: policyIdx }), weight: 1 });
  }
  if (on('scheduled')) weighted.push({ arbitrary: at('addRun'), weight: 1 });
  if (on('handmade')) {
    weighted.push({
      arbitrary: fc.record({
        t: fc.constant('handCheckpoint' as const),
        ns: idx,
        job: idx,
        victimNs: idx,
        victimJob: idx,
        root,
      }),
      weight: 2,
    });
    weighted.push({ arbitrary: at('deleteCheckpoint'), weight: 2 });
  }
  if (on('foreign')) {
    weighted.push({ arbitrary: fc.constant({ t: 'foreignBucketBinding' as const }), weight: 1 });
    weighted.push({
      arbitrary: fc.record({
        t: fc.constant('foreignFolderMember' as const),
        ns: idx,
        job: idx,
        member: fc.constantFrom('stranger' as const, 'allAuthenticatedUsers' as const, 'conditional' as const),
      }),
      weight: 2,
    });
  }
  if (on('namespaces'))
    weighted.push({ arbitrary: fc.record({ t: fc.constant('deleteNamespace' as const), ns: idx }), weight: 1 });
  if (on('restart')) weighted.push({ arbitrary: fc.constant({ t: 'restart' as const }), weight: 1 });
  if (on('gc')) {
    const pick = fc.nat({ max: 8 });
    weighted.push({ arbitrary: fc.record({ t: fc.constant('write' as const), pick }), weight: 3 });
    weighted.push({
      arbitrary: fc.record({ t: fc.constant('retain' as const), pick, on: fc.boolean() }),
      weight: 1,
    });
    weighted.push({ arbitrary: fc.record({ t: fc.constant('gc' as const), jump: fc.boolean() }), weight: 3 });
    weighted.push({ arbitrary: fc.constant({ t: 'clockJump' as const }), weight: 1 });
    weighted.push({
      arbitrary: fc.record({ t: fc.constant('renameNamespace' as const), ns: idx, to: idx }),
      weight: 1,
    });
  }
  return fc.oneof(...weighted);
}

/**
 * A sequence: a policy and a job first (so that most sequences provision something), then random commands.
 * 3–8 steps in all. With the `gc` group, one sequence in seven is a release history instead (releaseHistoryArb).
 */
export function sequenceArb(groups: ReadonlySet<Group>): fc.Arbitrary<Command[]> {
  const cmd = commandArb(groups);
  const putPolicy = cmd.filter((c): c is PutPolicy => c.t === 'putPolicy');
  const random = fc
    .tuple(
      putPolicy,
      cmd.filter((c) => c.t === 'putJob'),
      fc.array(cmd, { minLength: 1, maxLength: 6 }),
    )
    .map(([p, j, rest]): Command[] => [p, j, ...rest]);
  if (!groups.has('gc')) return random;
  return fc.oneof({ arbitrary: random, weight: 6 }, { arbitrary: releaseHistoryArb(putPolicy, cmd), weight: 1 });
}

type PutPolicy = Extract<Command, { t: 'putPolicy' }>;

/**
 * A release history (issue 15, `gc` group): a policy with the short retention, a job it selects that writes an
 * object, maybe one random command, the job deleted, then a clock jump and a GC run: the prefix is stale when the
 * run starts unless the random command made it otherwise, so "every stale prefix is deleted by the next GC run" is
 * checked. Uniform random sequences rarely line these steps up: CI's 200 of them deleted no stale prefix. 5–6
 * steps, all of them real work: they are kept few (each costs about 2 s more than a random sequence).
 */
function releaseHistoryArb(putPolicy: fc.Arbitrary<PutPolicy>, cmd: fc.Arbitrary<Command>): fc.Arbitrary<Command[]> {
  return fc.tuple(putPolicy, idx, fc.array(cmd, { maxLength: 1 })).map(([p, job, rest]): Command[] => {
    // The first namespace the policy selects, and a job its jobSelector (tier=gold when `gold`) takes.
    const ns = ([0, 1, 2] as const).find((i) => p.ns & (1 << i)) ?? 0;
    return [
      { ...p, retention: 'short' },
      {
        t: 'putJob',
        ns,
        job,
        kind: 'app',
        sa: 'spark',
        via: 'spec',
        exec: null,
        tier: p.gold ? 'gold' : 'silver',
        annotate: null,
      },
      { t: 'write', pick: 0 },
      ...rest,
      { t: 'deleteJob', ns, job },
      { t: 'gc', jump: true },
    ];
  });
}
