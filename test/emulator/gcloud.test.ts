// `gcloud storage cp`, `ls` and `rm -r` against the emulator (the benchmarks compare Tidemark's GC with `rm -r`).
// gcloud must be installed (/usr/bin/gcloud on the project's machines); each call takes a few seconds.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { counters, createBucket, gcloudEnv, start, storageClient } from './clients.js';

const run = promisify(execFile);
let emu: RunningEmulator;
let gcs: Storage;
let env: NodeJS.ProcessEnv;
let work: string;
const B = 'gcloud-bucket';

async function gcloud(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run('gcloud', ['storage', ...args], { env, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`gcloud storage ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

beforeAll(async () => {
  emu = await start();
  gcs = storageClient(emu, emu.adminToken);
  env = gcloudEnv(emu, emu.adminToken);
  work = join(env.HOME as string, 'work');
  mkdirSync(join(work, 'tree', 'sub'), { recursive: true });
  await createBucket(emu, B);
});
afterAll(async () => {
  await emu.stop();
  rmSync(env.HOME as string, { recursive: true, force: true });
});

describe('gcloud storage', () => {
  it('cp uploads a small file (multipart) and a 9 MiB file (resumable), and downloads it intact', async () => {
    writeFileSync(join(work, 'small.txt'), 'small file\n');
    const big = Buffer.alloc(9 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    writeFileSync(join(work, 'big.bin'), big);
    await counters(emu, true);
    await gcloud('cp', join(work, 'small.txt'), `gs://${B}/ns/job/small.txt`);
    await gcloud('cp', join(work, 'big.bin'), `gs://${B}/ns/job/big.bin`);
    const [small] = await gcs.bucket(B).file('ns/job/small.txt').download();
    expect(small.toString()).toBe('small file\n');
    const [m] = await gcs.bucket(B).file('ns/job/big.bin').getMetadata();
    expect(m.size).toBe(String(big.length));
    await gcloud('cp', `gs://${B}/ns/job/big.bin`, join(work, 'back.bin'));
    expect(readFileSync(join(work, 'back.bin')).equals(big)).toBe(true);
    const c = await counters(emu);
    expect(c.byOp['storage.objects.insert']).toBeGreaterThanOrEqual(3); // multipart + resumable POST + PUT(s)
  }, 120_000);

  it('cp -r of a directory, then ls and ls -r list it', async () => {
    for (const n of ['a.txt', 'b c.txt', 'sub/d.txt']) writeFileSync(join(work, 'tree', n), n);
    await gcloud('cp', '-r', join(work, 'tree'), `gs://${B}/ns/`);
    const ls = await gcloud('ls', `gs://${B}/ns/tree/`);
    expect(ls.stdout.trim().split('\n')).toEqual([
      `gs://${B}/ns/tree/a.txt`,
      `gs://${B}/ns/tree/b c.txt`,
      `gs://${B}/ns/tree/sub/`,
    ]);
    const all = await gcloud('ls', '-r', `gs://${B}/**`);
    expect(all.stdout.trim().split('\n').sort()).toEqual(
      [
        `gs://${B}/ns/job/big.bin`,
        `gs://${B}/ns/job/small.txt`,
        `gs://${B}/ns/tree/a.txt`,
        `gs://${B}/ns/tree/b c.txt`,
        `gs://${B}/ns/tree/sub/d.txt`,
      ].sort(),
    );
  }, 120_000);

  it('rm -r deletes everything under a prefix (one DELETE per object, no batch) and nothing else', async () => {
    await counters(emu, true);
    await gcloud('rm', '-r', `gs://${B}/ns/tree`);
    const [files] = await gcs.bucket(B).getFiles();
    expect(files.map((f) => f.name).sort()).toEqual(['ns/job/big.bin', 'ns/job/small.txt']);
    const c = await counters(emu);
    expect(c.byOp['storage.objects.delete']).toBe(3);
    expect(c.byOp['storage.batch']).toBeUndefined();
    expect(c.byOp['storage.buckets.getStorageLayout']).toBeGreaterThanOrEqual(1); // a 404 there would fail rm
  }, 120_000);
});
