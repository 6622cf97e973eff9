// The emulator's request log (GET /_emulator/requests) and its fault counters: who called what, on which bucket,
// with which token, and what was answered; the reliability suite's failover check reads it.
import { createHash } from 'node:crypto';
import type { Storage } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import type { RequestLogEntry } from '../../src/emulator/request-log.js';
import { adminFetch, adminJson, failure, mintToken, setConfig, storageClient, useAdminEmulator } from './clients.js';

let emu: RunningEmulator;
let gcs: Storage;
const B = 'log-bucket';

useAdminEmulator({ buckets: [B], config: { latencyMs: 0, faults: [], bucketWriteLimitPerSecond: 0 } }, (x) => {
  ({ emu, gcs } = x);
});

type Log = { entries: RequestLogEntry[]; lastSeq: number; dropped: number };

describe('GET /_emulator/requests', () => {
  it('records each call with its principal, bucket, status and token fingerprint, and answers since a sequence', async () => {
    const start = await adminJson<Log>(emu, '/_emulator/requests');
    const token = await mintToken(emu, 'user:someone@example.com');
    const other = storageClient(emu, token);
    await gcs.bucket(B).file('a.txt').save('a', { resumable: false });
    const denied = await failure(() => other.bucket(B).file('a.txt').download());
    expect(denied.status).toBe(403);
    const log = await adminJson<Log>(emu, `/_emulator/requests?since=${start.lastSeq}`);
    expect(log.entries.every((e) => e.seq > start.lastSeq)).toBe(true);
    const get = log.entries.find((e) => e.principal === 'user:someone@example.com');
    expect(get).toMatchObject({ op: 'storage.objects.get', method: 'GET', bucket: B, status: 403 });
    expect(get?.credential).toBe(createHash('sha256').update(token).digest('hex').slice(0, 12));
    expect(get?.endMs).toBeGreaterThanOrEqual(get?.startMs ?? Number.POSITIVE_INFINITY);
    const insert = log.entries.find((e) => e.op === 'storage.objects.insert');
    expect(insert?.status).toBe(200);
    expect(insert?.credential).not.toBe(get?.credential);
    // The object the path names (the download's), decoded; an upload names it in the query, so not there.
    expect(get?.name).toBe('a.txt');
    expect(insert?.name).toBeUndefined();
    // Emulator-only endpoints are not logged.
    expect(log.entries.some((e) => e.op.startsWith('emulator.'))).toBe(false);
  });

  it('names the object a delete removed, decoded', async () => {
    await gcs.bucket(B).file('dir/b c.txt').save('b', { resumable: false });
    const before = await adminJson<Log>(emu, '/_emulator/requests');
    await gcs.bucket(B).file('dir/b c.txt').delete();
    const log = await adminJson<Log>(emu, `/_emulator/requests?since=${before.lastSeq}`);
    expect(log.entries.map((e) => [e.op, e.name])).toEqual([['storage.objects.delete', 'dir/b c.txt']]);
  });

  it('counts injected faults by kind and logs a reset as status 0', async () => {
    await adminFetch(emu, '/_emulator/counters?reset=true');
    await setConfig(emu, { faults: [{ op: 'storage.buckets.get', rate: 1, kind: 'reset' }] });
    const before = await adminJson<Log>(emu, '/_emulator/requests');
    await failure(() =>
      fetch(`${emu.url}/storage/v1/b/${B}`, { headers: { authorization: `Bearer ${emu.adminToken}` } }),
    );
    await setConfig(emu, { faults: [] });
    const c = await adminJson<{ faults: Record<string, number> }>(emu, '/_emulator/counters');
    expect(c.faults).toEqual({ reset: 1 });
    const log = await adminJson<Log>(emu, `/_emulator/requests?since=${before.lastSeq}`);
    expect(log.entries.map((e) => [e.op, e.status])).toEqual([['storage.buckets.get', 0]]);
  });

  it('refuses a bad since', async () => {
    expect((await adminFetch(emu, '/_emulator/requests?since=-1')).status).toBe(400);
  });
});
