// Uploads as the real clients and gcloud send them: media, multipart (chunked, no name in the metadata; quoted
// boundary with bare LF), resumable (single PUT and chunks, status queries, resumed after an interrupted PUT),
// gzip-encoded bodies including an empty one, declared checksums.
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { Storage } from '@google-cloud/storage';
import type { storage_v1 } from 'googleapis';
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { adminFetch, counters, rootUrl, useAdminEmulator } from './clients.js';

let emu: RunningEmulator;
let gcs: Storage;
let api: storage_v1.Storage;
const B = 'uploads-bucket';

useAdminEmulator({ buckets: [B] }, (x) => {
  ({ emu, gcs, api } = x);
});

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('base64');
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) % 251));

async function content(name: string): Promise<Buffer> {
  const [data] = await gcs.bucket(B).file(name).download();
  return data;
}

/** Starts a resumable session with raw HTTP; returns the session URI. */
async function initiate(
  name: string,
  headers: Record<string, string> = {},
  path = '/upload/storage/v1',
): Promise<string> {
  const res = await adminFetch(emu, `${path}/b/${B}/o?uploadType=resumable&name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers,
  });
  expect(res.status).toBe(200);
  const location = res.headers.get('location');
  expect(location).toBeTruthy();
  return location as string;
}

/** A PUT to a session URI without any token (the URI is the credential). */
function put(uri: string, body: Buffer, contentRange?: string): Promise<Response> {
  return fetch(uri, { method: 'PUT', body, headers: contentRange ? { 'content-range': contentRange } : {} });
}

describe('simple uploads', () => {
  it('media upload (googleapis, per-call rootUrl)', async () => {
    const res = await api.objects.insert(
      { bucket: B, name: 'media.bin', media: { mimeType: 'application/x-test', body: 'media body' } },
      { rootUrl: rootUrl(emu) },
    );
    expect(res.data).toMatchObject({ name: 'media.bin', size: '10', contentType: 'application/x-test' });
    expect((await content('media.bin')).toString()).toBe('media body');
  });

  it('multipart upload from @google-cloud/storage (chunked, the name only in the query)', async () => {
    const data = bytes(70_000);
    await gcs
      .bucket(B)
      .file('multi.bin')
      .save(data, {
        resumable: false,
        metadata: { contentType: 'application/octet-stream', metadata: { via: 'multipart' } },
      });
    const [m] = await gcs.bucket(B).file('multi.bin').getMetadata();
    expect(m.metadata).toEqual({ via: 'multipart' });
    expect(m.md5Hash).toBe(md5(data));
    expect((await content('multi.bin')).equals(data)).toBe(true);
  });

  it.each([
    ["single-quoted (gcloud's)", "'===abc=='"],
    ['double-quoted', '"===abc=="'],
  ])('multipart as gcloud sends it: %s boundary, bare LF line ends, checksum in the metadata', async (_, quoted) => {
    const data = Buffer.from('line one\nline two\n');
    const body = Buffer.concat([
      Buffer.from(
        '--===abc==\nContent-Type: application/json\nMIME-Version: 1.0\n\n' +
          JSON.stringify({ bucket: B, name: 'gcloud.txt', contentType: 'text/plain', md5Hash: md5(data) }) +
          '\n--===abc==\nContent-Type: text/plain\nMIME-Version: 1.0\nContent-Transfer-Encoding: binary\n\n',
      ),
      data,
      Buffer.from('\n--===abc==--\n'),
    ]);
    const res = await adminFetch(emu, `/upload/storage/v1/b/${B}/o?alt=json&uploadType=multipart`, {
      method: 'POST',
      headers: { 'content-type': `multipart/related; boundary=${quoted}` },
      body,
    });
    expect(res.status).toBe(200);
    expect((await content('gcloud.txt')).equals(data)).toBe(true);
  });

  it('a declared md5Hash that does not match the data is refused (400) and nothing is written', async () => {
    const body =
      '--b\r\ncontent-type: application/json\r\n\r\n{"name":"bad.txt","md5Hash":"AAAAAAAAAAAAAAAAAAAAAA=="}\r\n' +
      '--b\r\ncontent-type: text/plain\r\n\r\nhello\r\n--b--\r\n';
    const res = await adminFetch(emu, `/upload/storage/v1/b/${B}/o?uploadType=multipart`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/related; boundary=b' },
      body,
    });
    expect(res.status).toBe(400);
    const [exists] = await gcs.bucket(B).file('bad.txt').exists();
    expect(exists).toBe(false);
  });
});

describe('gzip request bodies', () => {
  it('a gzip-encoded media body is stored decoded', async () => {
    const res = await adminFetch(emu, `/upload/storage/v1/b/${B}/o?uploadType=media&name=gz.txt`, {
      method: 'POST',
      headers: { 'content-encoding': 'gzip', 'content-type': 'text/plain' },
      body: gzipSync('unzipped text'),
    });
    expect(res.status).toBe(200);
    expect((await content('gz.txt')).toString()).toBe('unzipped text');
  });

  it('an empty gzip stream and a zero-length body with Content-Encoding: gzip are empty bodies', async () => {
    for (const [name, body] of [
      ['empty-gzip', gzipSync(Buffer.alloc(0))],
      ['zero-length', Buffer.alloc(0)],
    ] as const) {
      const res = await adminFetch(emu, `/upload/storage/v1/b/${B}/o?uploadType=media&name=${name}`, {
        method: 'POST',
        headers: { 'content-encoding': 'gzip' },
        body,
      });
      expect(res.status, name).toBe(200);
      expect(((await res.json()) as { size: string }).size).toBe('0');
    }
  });

  it('a body that says gzip but is not is a 400', async () => {
    const res = await adminFetch(emu, `/upload/storage/v1/b/${B}/o?uploadType=media&name=x`, {
      method: 'POST',
      headers: { 'content-encoding': 'gzip' },
      body: 'not gzip',
    });
    expect(res.status).toBe(400);
  });
});

describe('resumable uploads', () => {
  it('save() of 5 bytes is resumable: POST, then one PUT to a Location on this emulator', async () => {
    await counters(emu, true);
    await gcs.bucket(B).file('five').save('12345');
    expect((await content('five')).toString()).toBe('12345');
    const c = await counters(emu);
    expect(c.byOp['storage.objects.insert']).toBe(2); // initiation + the single PUT
  });

  it('save() of 3 MB in one stream, and with 256 KiB chunks (308 between chunks)', async () => {
    const data = bytes(3 * 1024 * 1024 + 17);
    await gcs.bucket(B).file('big').save(data);
    expect((await content('big')).equals(data)).toBe(true);
    await counters(emu, true);
    await gcs
      .bucket(B)
      .file('chunked')
      .save(data, { chunkSize: 1024 * 1024 });
    expect((await content('chunked')).equals(data)).toBe(true);
    const c = await counters(emu);
    expect(c.byOp['storage.objects.insert']).toBeGreaterThanOrEqual(5); // initiation + 4 chunks
  });

  it('Location points back at the emulator, on the path the upload started on (also /resumable/upload)', async () => {
    const a = await initiate('loc-a');
    expect(a.startsWith(`${emu.url}/upload/storage/v1/b/${B}/o?`)).toBe(true);
    const b = await initiate('loc-b', {}, '/resumable/upload/storage/v1');
    expect(b.startsWith(`${emu.url}/resumable/upload/storage/v1/b/${B}/o?`)).toBe(true);
    const res = await put(b, Buffer.from('via gcloud path'));
    expect(res.status).toBe(200);
    expect((await content('loc-b')).toString()).toBe('via gcloud path');
  });

  it('chunks: 308 with Range until complete; a status query; a resent overlapping chunk is skipped', async () => {
    const data = bytes(1000);
    const uri = await initiate('parts', { 'x-upload-content-length': '1000', 'x-upload-content-type': 'text/x-parts' });
    const empty = await put(uri, Buffer.alloc(0), 'bytes */*');
    expect(empty.status).toBe(308);
    expect(empty.headers.get('range')).toBeNull();
    const r1 = await put(uri, data.subarray(0, 400), 'bytes 0-399/1000');
    expect(r1.status).toBe(308);
    expect(r1.headers.get('range')).toBe('bytes=0-399');
    const q = await put(uri, Buffer.alloc(0), 'bytes */1000');
    expect(q.status).toBe(308);
    expect(q.headers.get('range')).toBe('bytes=0-399');
    // Resending from 300 (the client did not see the 308): the first 100 bytes are already there.
    const r2 = await put(uri, data.subarray(300, 700), 'bytes 300-699/1000');
    expect(r2.headers.get('range')).toBe('bytes=0-699');
    // A gap is refused and changes nothing.
    const gap = await put(uri, data.subarray(800, 900), 'bytes 800-899/1000');
    expect(gap.status).toBe(400);
    const done = await put(uri, data.subarray(700), 'bytes 700-999/1000');
    expect(done.status).toBe(200);
    const obj = (await done.json()) as { size: string; contentType: string };
    expect(obj).toMatchObject({ size: '1000', contentType: 'text/x-parts' });
    expect((await content('parts')).equals(data)).toBe(true);
    // Once complete, the session answers the object again.
    const again = await put(uri, Buffer.alloc(0), 'bytes */1000');
    expect(again.status).toBe(200);
  });

  it('resumes after an interrupted PUT', async () => {
    const data = bytes(600_000);
    const uri = await initiate('interrupted');
    await put(uri, data.subarray(0, 262_144), 'bytes 0-262143/*');
    // The next PUT dies half-way: the connection is cut before its body is complete.
    await new Promise<void>((resolve) => {
      const req = request(uri, {
        method: 'PUT',
        headers: { 'content-range': `bytes 262144-599999/600000`, 'content-length': String(600_000 - 262_144) },
      });
      req.on('error', () => resolve());
      req.on('response', () => resolve());
      req.write(data.subarray(262_144, 400_000), () => {
        setTimeout(() => req.destroy(), 50);
      });
    });
    const status = await put(uri, Buffer.alloc(0), 'bytes */*');
    expect(status.status).toBe(308);
    const range = status.headers.get('range') as string;
    const have = Number(/bytes=0-(\d+)/.exec(range)?.[1]) + 1;
    expect(have).toBe(262_144);
    const rest = await put(uri, data.subarray(have), `bytes ${have}-599999/600000`);
    expect(rest.status).toBe(200);
    expect((await content('interrupted')).equals(data)).toBe(true);
  });

  it('metadata and preconditions given at initiation apply at completion', async () => {
    await gcs.bucket(B).file('exists').save('old', { resumable: false });
    const res = await adminFetch(emu, `/upload/storage/v1/b/${B}/o?uploadType=resumable&ifGenerationMatch=0`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'exists', metadata: { k: 'v' } }),
    });
    const uri = res.headers.get('location') as string;
    const done = await put(uri, Buffer.from('new'));
    expect(done.status).toBe(412);
    expect((await content('exists')).toString()).toBe('old');
    const [file] = await gcs
      .bucket(B)
      .file('resumable-meta')
      .save('x', { metadata: { metadata: { k: 'v' } } })
      .then(() => gcs.bucket(B).file('resumable-meta').get());
    expect(file.metadata.metadata).toEqual({ k: 'v' });
  });

  it('a cancelled session (DELETE) answers 499 and is gone', async () => {
    const uri = await initiate('cancelled');
    const del = await fetch(uri, { method: 'DELETE' });
    expect(del.status).toBe(499);
    const after = await put(uri, Buffer.from('x'));
    expect(after.status).toBe(404);
  });

  it('an unknown session id is a 404', async () => {
    const res = await put(
      `${emu.url}/upload/storage/v1/b/${B}/o?uploadType=resumable&upload_id=nope`,
      Buffer.from('x'),
    );
    expect(res.status).toBe(404);
  });
});
