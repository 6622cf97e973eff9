// gc-1m: P stale prefixes holding N objects in total (prefixes of deleted namespaces, last written 30 days ago),
// seeded straight into the in-process emulator's store; one GC run as `tidemark gc --policy NAME` in its own process as
// the controller's identity (the stack's env, design §6); objects/s, GCS calls per 100 objects, peak RSS sampled every
// 100 ms. Baseline in the same run on the same emulator: `gcloud storage rm -r gs://bucket/<root>/**` over an equal
// copy, or (default) a sample of it, since gcloud deletes one object per request.
import { join } from 'node:path';
import { repoRoot } from '../src/localcluster/paths.js';
import { gcloudEnv } from '../test/emulator/gcloud-env.js';
import { createPolicy } from './lib/jobs.js';
import type { BenchOptions } from './lib/options.js';
import { measureProcess } from './lib/process.js';
import { Recorder } from './lib/report.js';
import { type EmulatorCounters, type Stack, withStack } from './lib/stack.js';

const OBJECT = Buffer.alloc(100, 'x');
const DAY = 86_400_000;

/** Names under `<root>/<ns>/<job>/` for `prefixes` jobs of `perPrefix` objects each (Spark's checkpoint layout). */
function* objectNames(root: string, prefixes: number, perPrefix: number): Generator<string> {
  for (let p = 0; p < prefixes; p++) {
    const base = `${root}/gone-${String(p % 20).padStart(2, '0')}/job-${String(p).padStart(5, '0')}/q1`;
    for (let i = 0; i < perPrefix; i++) {
      const kind = i % 4 === 0 ? 'offsets' : i % 4 === 1 ? 'commits' : 'state/0';
      yield `${base}/${kind}/${String(i).padStart(6, '0')}${kind === 'state/0' ? '.delta' : ''}`;
    }
  }
}

/** Seeds in chunks, letting the event loop breathe in between (the emulator serves HTTP in this process). */
async function seed(stack: Stack, names: Iterator<string>, at: number): Promise<void> {
  for (;;) {
    const chunk: string[] = [];
    for (let r = names.next(); !r.done; r = names.next()) {
      chunk.push(r.value);
      if (chunk.length === 10_000) break;
    }
    if (chunk.length === 0) return;
    stack.emu.seedObjects(stack.bucket, chunk, OBJECT, at);
    await new Promise((r) => setImmediate(r));
  }
}

async function remaining(stack: Stack, prefix: string): Promise<number> {
  const r = await stack.admin<{ items?: unknown[] }>(
    'GET',
    `/storage/v1/b/${stack.bucket}/o?prefix=${encodeURIComponent(prefix)}&maxResults=1000&fields=items(name)`,
  );
  return r.items?.length ?? 0;
}

/**
 * The GCS HTTP calls between two snapshots: every HTTP request (a batch once) except the metadata server's token
 * requests, which are not Cloud Storage calls.
 */
const storageCalls = (before: EmulatorCounters, after: EmulatorCounters) => ({
  httpRequests:
    after.httpRequests -
    before.httpRequests -
    Object.entries(after.byOp)
      .filter(([op]) => op.startsWith('metadata.'))
      .reduce((a, [op, n]) => a + n - (before.byOp[op] ?? 0), 0),
  byOp: Object.fromEntries(
    Object.entries(after.byOp)
      .map(([op, n]) => [op, n - (before.byOp[op] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  ),
});

export async function gc(o: BenchOptions): Promise<Recorder> {
  const prefixes = o.small ? 5 : 1000;
  const perPrefix = 1000;
  const objects = prefixes * perPrefix;
  const sampleObjects = o.fullBaseline ? objects : o.small ? 1000 : 2000;
  const samplePrefixes = Math.max(1, Math.round(sampleObjects / perPrefix));
  const policy = 'gc-bench';
  const root = `checkpoints/${policy}`;
  const baselineRoot = 'checkpoints/gcloud-copy';
  const rec = new Recorder('gc-1m', o.small ? 'small' : 'full', {
    prefixes,
    objects,
    objectBytes: OBJECT.length,
    gcloudSampleObjects: samplePrefixes * perPrefix,
    latencyMs: 30,
    bucketWriteLimitPerSecond: 1,
    mode: 'ManagedFolder',
  });

  await withStack({ controller: false }, async (stack) => {
    // The GC needs no controller: `tidemark gc` reads everything fresh and holds the policy's Lease itself.
    await createPolicy(
      stack,
      { name: policy, mode: 'ManagedFolder', rootPrefix: root, retention: '7d', maxDeletesPerRun: 100_000 },
      false,
    );
    const old = Date.now() - 30 * DAY;
    const s0 = performance.now();
    await seed(stack, objectNames(root, prefixes, perPrefix), old);
    await seed(stack, objectNames(baselineRoot, samplePrefixes, perPrefix), old);
    rec.note(
      `seeded ${objects} + ${samplePrefixes * perPrefix} objects in ${((performance.now() - s0) / 1000).toFixed(1)} s`,
    );
    await stack.setEmulator({ latencyMs: 30, bucketWriteLimitPerSecond: 1, iamPropagationDelayMs: 0 });
    const token = await stack.token(stack.controllerMember);

    // Baseline: gcloud over its copy (before the GC, so both see a store of about the same size).
    let before = await stack.counters();
    const g = await measureProcess(
      '/usr/bin/gcloud',
      ['storage', 'rm', '-r', `gs://${stack.bucket}/${baselineRoot}/**`],
      { env: gcloudEnv(stack.emu, token), includeChildren: true },
    );
    let after = await stack.counters();
    if (g.code !== 0) throw new Error(`gcloud storage rm exited ${g.code}: ${g.stderr.slice(-2000)}`);
    const gLeft = await remaining(stack, `${baselineRoot}/`);
    if (gLeft > 0) throw new Error(`gcloud left ${gLeft}+ objects under ${baselineRoot}/`);
    const gCalls = storageCalls(before, after);
    const gObjects = samplePrefixes * perPrefix;
    const gRate = gObjects / g.seconds;
    rec.details.gcloud = { objects: gObjects, seconds: g.seconds, peakRssMB: g.peakRssMB, calls: gCalls };
    rec.note(
      `gcloud storage rm -r: ${gObjects} objects in ${g.seconds.toFixed(1)} s (${gRate.toFixed(0)} objects/s), ${gCalls.httpRequests} HTTP calls, peak RSS ${g.peakRssMB.toFixed(0)} MB (process tree)`,
    );

    // Tidemark: one run of `tidemark gc` (bin/tidemark.js, what `npx tidemark` runs, started directly so that the
    // sampled process is the GC itself and not npx).
    before = await stack.counters();
    const nodeArgs = o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir] : [];
    const r = await measureProcess(
      process.execPath,
      [...nodeArgs, join(repoRoot(), 'bin', 'tidemark.js'), 'gc', '--policy', policy],
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...stack.env() } },
    );
    after = await stack.counters();
    if (r.code !== 0) {
      throw new Error(
        `tidemark gc exited ${r.code}: ${r.stderr.slice(-2000)}\n${r.lines
          .slice(-5)
          .map((l) => l.line)
          .join('\n')}`,
      );
    }
    const left = await remaining(stack, `${root}/`);
    if (left > 0) throw new Error(`tidemark gc left ${left}+ objects under ${root}/`);
    const calls = storageCalls(before, after);
    const rate = objects / r.seconds;
    const deletingAt = r.lines.find((l) => /^deleting \d+ prefix/.test(l.line))?.t;
    rec.details.tidemark = {
      objects,
      seconds: r.seconds,
      scanSeconds: deletingAt,
      deleteSeconds: deletingAt !== undefined ? r.seconds - deletingAt : undefined,
      peakRssMB: r.peakRssMB,
      calls,
      summary: r.lines.at(-1)?.line,
    };
    rec.note(
      `tidemark gc: ${objects} objects in ${r.seconds.toFixed(1)} s (scan until ${deletingAt?.toFixed(1)} s), ${calls.httpRequests} HTTP calls, peak RSS ${r.peakRssMB.toFixed(0)} MB`,
    );
    const sampled =
      gObjects === objects
        ? undefined
        : `gcloud measured on a copy of ${gObjects} objects (${samplePrefixes} prefixes); its rate and calls per object do not depend on the total`;
    rec.add({
      key: 'objectsPerSecond',
      label: 'objects deleted/s (whole run, process start to exit)',
      value: rate,
      unit: 'obj/s',
      better: 'higher',
      target: { op: '>=', value: 1.5 * gRate },
      baseline: gRate,
      baselineNote: sampled,
    });
    rec.add({
      key: 'callsPer100Objects',
      label: 'GCS HTTP calls per 100 objects',
      value: (calls.httpRequests / objects) * 100,
      unit: '',
      better: 'lower',
      target: { op: '<=', value: 1.05 },
      baseline: (gCalls.httpRequests / gObjects) * 100,
    });
    rec.add({
      key: 'peakRssMB',
      label: 'peak RSS of the GC process',
      value: r.peakRssMB,
      unit: 'MB',
      better: 'lower',
      target: { op: '<=', value: 150 },
      baseline: g.peakRssMB,
    });
  });
  return rec;
}
