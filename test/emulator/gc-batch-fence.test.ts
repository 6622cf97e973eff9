// The GC's JSON batch deletes go out through fetch, not through the googleapis client, so they are fenced by hand:
// a client whose signal (the leadership term) is aborted sends no batch, and abandons one in flight at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { type ObjectRef, sendDeleteBatch } from '../../src/gc/batch.js';
import { createGcs } from '../../src/gcs/client.js';
import { counters, createBucket, setConfig, start } from './clients.js';

let emu: RunningEmulator;
const bucket = 'fence-batch';
const objects = ['stale/a', 'stale/b', 'stale/c'];
/** The seeded objects as the batch names them (read in beforeAll). */
let refs: ObjectRef[];

beforeAll(async () => {
  emu = await start();
  await createBucket(emu, bucket);
  emu.seedObjects(bucket, objects, Buffer.from('x'));
  const listed = await createGcs({ endpoint: emu.url, accessToken: emu.adminToken }).storage.objects.list({
    bucket,
    prefix: 'stale/',
  });
  refs = (listed.data.items ?? []).map((o) => ({ name: o.name ?? '', generation: o.generation ?? '', size: 1 }));
  expect(refs).toHaveLength(3);
});
afterAll(async () => {
  await emu?.stop();
});

/** A client of the emulator's admin, fenced by `term` like the controller's. */
const termClient = (term: AbortController) =>
  createGcs({ endpoint: emu.url, accessToken: emu.adminToken, signal: term.signal });

describe('GC batch deletes and the term signal', () => {
  it('an ended term sends no batch', async () => {
    const term = new AbortController();
    const gcs = termClient(term);
    term.abort(new Error('leadership lost'));
    await counters(emu, true);
    await expect(sendDeleteBatch(gcs, bucket, refs)).rejects.toThrow('leadership lost');
    expect((await counters(emu)).byOp['storage.batch'] ?? 0).toBe(0);
  });

  it('a batch in flight when the term ends is abandoned at once', async () => {
    await setConfig(emu, { latencyMs: 5_000 });
    try {
      const term = new AbortController();
      const gcs = termClient(term);
      const sent = sendDeleteBatch(gcs, bucket, refs);
      await expect.poll(async () => (await counters(emu)).byOp['storage.batch'] ?? 0).toBeGreaterThan(0);
      term.abort(new Error('leadership lost'));
      // Not the emulator's answer (it would resolve with every part's status 5 s later): the abort.
      await expect(sent).rejects.toThrow('leadership lost');
    } finally {
      await setConfig(emu, { latencyMs: 0 });
    }
  });

  it('a live term deletes', async () => {
    const gcs = termClient(new AbortController());
    const parts = await sendDeleteBatch(gcs, bucket, refs);
    expect(parts.map((p) => p.status)).toEqual([204, 204, 204]);
  });
});
