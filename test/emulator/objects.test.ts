// Objects through the real clients: get (metadata, media, ranges), delete, patch/update, odd names, checksums,
// preconditions.
import { createHash } from 'node:crypto';
import { CRC32C, type Storage } from '@google-cloud/storage';
import type { storage_v1 } from 'googleapis';
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { adminFetch, failure, rootUrl, start, useAdminEmulator } from './clients.js';

let emu: RunningEmulator;
let gcs: Storage;
let api: storage_v1.Storage;
const B = 'objects-bucket';

useAdminEmulator({ buckets: [B] }, (x) => {
  ({ emu, gcs, api } = x);
});

const crc = (data: Buffer): string => {
  const c = new CRC32C();
  c.update(data);
  return c.toString();
};
const md5 = (data: Buffer): string => createHash('md5').update(data).digest('base64');

describe('object resource', () => {
  it('has the fields Google returns, with checksums the client computes the same way', async () => {
    const data = Buffer.from('The quick brown fox jumps over the lazy dog');
    await gcs
      .bucket(B)
      .file('fox.txt')
      .save(data, { contentType: 'text/plain', metadata: { metadata: { k: 'v' } } });
    const [m] = await gcs.bucket(B).file('fox.txt').getMetadata();
    expect(m).toMatchObject({
      kind: 'storage#object',
      name: 'fox.txt',
      bucket: B,
      contentType: 'text/plain',
      size: String(data.length),
      md5Hash: md5(data),
      crc32c: crc(data),
      metageneration: '1',
      storageClass: 'STANDARD',
      metadata: { k: 'v' },
    });
    expect(m.id).toBe(`${B}/fox.txt/${m.generation}`);
    expect(m.generation).toMatch(/^\d{16}$/);
    expect(typeof m.etag).toBe('string');
    expect(new Date(m.timeCreated as string).getTime()).toBeGreaterThan(0);
    expect(m.updated).toBe(m.timeCreated);
    expect(m.selfLink).toBe(`${emu.url}/storage/v1/b/${B}/o/fox.txt`);
    expect(m.mediaLink).toContain(`${emu.url}/download/storage/v1/b/${B}/o/fox.txt?generation=${m.generation}`);
  });

  it('crc32c is Castagnoli, big-endian base64 (known vector)', async () => {
    await gcs.bucket(B).file('v').save('123456789', { resumable: false });
    const [m] = await gcs.bucket(B).file('v').getMetadata();
    // CRC-32C("123456789") = 0xE3069283
    expect(Buffer.from(m.crc32c as string, 'base64').toString('hex')).toBe('e3069283');
  });

  it('downloads are verified by the client against x-goog-hash (md5 and crc32c)', async () => {
    const data = Buffer.alloc(100_000, 'abc');
    await gcs.bucket(B).file('h').save(data, { validation: 'md5' });
    const [viaMd5] = await gcs.bucket(B).file('h').download({ validation: 'md5' });
    const [viaCrc] = await gcs.bucket(B).file('h').download({ validation: 'crc32c' });
    expect(viaMd5.equals(data)).toBe(true);
    expect(viaCrc.equals(data)).toBe(true);
    const res = await adminFetch(emu, `/storage/v1/b/${B}/o/h?alt=media`);
    expect(res.headers.get('x-goog-hash')).toBe(`crc32c=${crc(data)},md5=${md5(data)}`);
  });
});

describe('names', () => {
  const names = ['a/b/c.txt', 'with space.txt', 'ünïcødé/日本語 ファイル', 'dir/', 'x%2Fy?#&=+', 'quote\'"s'];
  it.each(names)('round-trips %j through upload, get, list, download and delete', async (name) => {
    const file = gcs.bucket(B).file(name);
    await file.save(`data of ${name}`, { resumable: false });
    const [m] = await file.getMetadata();
    expect(m.name).toBe(name);
    const [data] = await file.download();
    expect(data.toString()).toBe(`data of ${name}`);
    const [files] = await gcs.bucket(B).getFiles();
    expect(files.map((f) => f.name)).toEqual([name]);
    await file.delete();
    const [after] = await gcs.bucket(B).getFiles();
    expect(after).toEqual([]);
  });

  it('a name sent with raw slashes in the path addresses the same object', async () => {
    await gcs.bucket(B).file('p/q/r').save('raw', { resumable: false });
    const res = await adminFetch(emu, `/storage/v1/b/${B}/o/p/q/r`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { name: string }).name).toBe('p/q/r');
  });

  it('refuses names Google refuses', async () => {
    for (const name of ['.', '..', 'a\nb', 'x'.repeat(1025)]) {
      const { status } = await failure(() =>
        api.objects.insert({ bucket: B, name, media: { body: 'x' } }, { rootUrl: rootUrl(emu) }),
      );
      expect(status, name).toBe(400);
    }
  });
});

describe('get', () => {
  it('answers 404 for a missing object and a missing bucket, with Google messages', async () => {
    const missing = await failure(() => api.objects.get({ bucket: B, object: 'nope' }));
    expect(missing.status).toBe(404);
    expect(missing.error.message).toBe(`No such object: ${B}/nope`);
    const noBucket = await failure(() => api.objects.get({ bucket: 'no-such-bucket', object: 'x' }));
    expect(noBucket.status).toBe(404);
    expect(noBucket.error.message).toBe('The specified bucket does not exist.');
  });

  it('honours generation= (only the live generation exists)', async () => {
    const [f] = await gcs
      .bucket(B)
      .file('g')
      .save('one', { resumable: false })
      .then(() => gcs.bucket(B).file('g').get());
    const gen = f.metadata.generation as string;
    const ok = await api.objects.get({ bucket: B, object: 'g', generation: gen });
    expect(ok.data.generation).toBe(gen);
    const { status } = await failure(() => api.objects.get({ bucket: B, object: 'g', generation: '1' }));
    expect(status).toBe(404);
  });

  it('serves ranges: 206 with Content-Range, suffix and open ranges, 416 past the end', async () => {
    const data = Buffer.from('0123456789abcdef');
    await gcs.bucket(B).file('r').save(data, { resumable: false });
    const [part] = await gcs.bucket(B).file('r').download({ start: 2, end: 5 });
    expect(part.toString()).toBe('2345');
    const [m] = await gcs.bucket(B).file('r').getMetadata();
    // The connector's read: /download/storage/v1/...?alt=media&generation=N with Range.
    const get = (range: string) =>
      adminFetch(emu, `/download/storage/v1/b/${B}/o/r?alt=media&generation=${m.generation}`, {
        headers: { range },
      });
    const r1 = await get('bytes=10-');
    expect(r1.status).toBe(206);
    expect(r1.headers.get('content-range')).toBe('bytes 10-15/16');
    expect(await r1.text()).toBe('abcdef');
    const r2 = await get('bytes=-3');
    expect(r2.status).toBe(206);
    expect(await r2.text()).toBe('def');
    const r3 = await get('bytes=4-100');
    expect(r3.headers.get('content-range')).toBe('bytes 4-15/16');
    const r4 = await get('bytes=16-');
    expect(r4.status).toBe(416);
    expect(r4.headers.get('content-range')).toBe('bytes */16');
    const full = await get('');
    expect(full.status).toBe(200);
    expect(full.headers.get('x-goog-generation')).toBe(m.generation);
  });
});

describe('patch and update', () => {
  it('patch merges metadata (null removes a key), bumps metageneration, keeps the generation', async () => {
    const file = gcs.bucket(B).file('m');
    await file.save('x', { resumable: false, metadata: { contentType: 'text/plain', metadata: { a: '1', b: '2' } } });
    const [before] = await file.getMetadata();
    const [after] = await file.setMetadata({ metadata: { b: null, c: '3' }, cacheControl: 'no-cache' });
    expect(after.metadata).toEqual({ a: '1', c: '3' });
    expect(after.cacheControl).toBe('no-cache');
    expect(after.contentType).toBe('text/plain');
    expect(after.metageneration).toBe('2');
    expect(after.generation).toBe(before.generation);
    expect(after.etag).not.toBe(before.etag);
  });

  it('update replaces the writable metadata', async () => {
    await gcs
      .bucket(B)
      .file('u')
      .save('x', { resumable: false, metadata: { cacheControl: 'c', metadata: { a: '1' } } });
    const res = await api.objects.update({
      bucket: B,
      object: 'u',
      requestBody: { contentType: 'application/json', metadata: { z: '9' } },
    });
    expect(res.data.contentType).toBe('application/json');
    expect(res.data.metadata).toEqual({ z: '9' });
    expect(res.data.cacheControl).toBeUndefined();
  });

  it('POST with X-HTTP-Method-Override: PATCH is a patch (Java clients send PATCH that way)', async () => {
    await gcs.bucket(B).file('override').save('x', { resumable: false });
    const res = await adminFetch(emu, `/storage/v1/b/${B}/o/override`, {
      method: 'POST',
      headers: { 'x-http-method-override': 'PATCH' },
      body: JSON.stringify({ metadata: { via: 'override' } }),
    });
    expect(res.status).toBe(200);
    const [m] = await gcs.bucket(B).file('override').getMetadata();
    expect(m.metadata).toEqual({ via: 'override' });
    expect(m.metageneration).toBe('2');
  });

  it('ifMetagenerationMatch guards patch (412 conditionNotMet)', async () => {
    await gcs.bucket(B).file('mg').save('x', { resumable: false });
    await api.objects.patch({
      bucket: B,
      object: 'mg',
      ifMetagenerationMatch: '1',
      requestBody: { metadata: { a: 'b' } },
    });
    const { status, error } = await failure(() =>
      api.objects.patch({ bucket: B, object: 'mg', ifMetagenerationMatch: '1', requestBody: { metadata: { a: 'c' } } }),
    );
    expect(status).toBe(412);
    expect(error.message).toBe('At least one of the pre-conditions you specified did not hold.');
  });
});

describe('preconditions', () => {
  it('ifGenerationMatch=0 creates only when absent (the connector’s directory markers)', async () => {
    const file = gcs.bucket(B).file('q1/');
    await file.save('', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const { status } = await failure(() =>
      file.save('', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
    );
    expect(status).toBe(412);
  });

  it('ifGenerationMatch / ifGenerationNotMatch / ifMetagenerationNotMatch on get, delete and insert', async () => {
    await gcs.bucket(B).file('p').save('x', { resumable: false });
    const [m] = await gcs.bucket(B).file('p').getMetadata();
    const gen = m.generation as string;
    expect((await api.objects.get({ bucket: B, object: 'p', ifGenerationMatch: gen })).status).toBe(200);
    expect((await failure(() => api.objects.get({ bucket: B, object: 'p', ifGenerationMatch: '5' }))).status).toBe(412);
    // A failed *NotMatch on a GET is 304 Not Modified, as on Google.
    const notModified = await adminFetch(emu, `/storage/v1/b/${B}/o/p?ifGenerationNotMatch=${gen}`);
    expect(notModified.status).toBe(304);
    const nm = await adminFetch(emu, `/storage/v1/b/${B}/o/p?ifMetagenerationNotMatch=1`);
    expect(nm.status).toBe(304);
    expect((await failure(() => api.objects.delete({ bucket: B, object: 'p', ifGenerationMatch: '5' }))).status).toBe(
      412,
    );
    const stale = await failure(() =>
      api.objects.insert(
        { bucket: B, name: 'p', ifGenerationMatch: '5', media: { body: 'y' } },
        { rootUrl: rootUrl(emu) },
      ),
    );
    expect(stale.status).toBe(412);
    const ok = await api.objects.insert(
      { bucket: B, name: 'p', ifGenerationMatch: gen, media: { body: 'y' } },
      { rootUrl: rootUrl(emu) },
    );
    expect(BigInt(ok.data.generation as string)).toBeGreaterThan(BigInt(gen));
    await api.objects.delete({ bucket: B, object: 'p', ifGenerationMatch: ok.data.generation as string });
    expect((await failure(() => api.objects.get({ bucket: B, object: 'p' }))).status).toBe(404);
  });

  it('a malformed precondition is a 400', async () => {
    const res = await adminFetch(emu, `/storage/v1/b/${B}/o/x?ifGenerationMatch=abc`);
    expect(res.status).toBe(400);
  });
});

describe('delete', () => {
  it('deletes by generation (gcloud rm sends generation=N) and 404s on a wrong one', async () => {
    await gcs.bucket(B).file('d').save('x', { resumable: false });
    const [m] = await gcs.bucket(B).file('d').getMetadata();
    expect((await failure(() => api.objects.delete({ bucket: B, object: 'd', generation: '7' }))).status).toBe(404);
    await api.objects.delete({ bucket: B, object: 'd', generation: m.generation as string });
    const [exists] = await gcs.bucket(B).file('d').exists();
    expect(exists).toBe(false);
  });

  it('a temporary hold blocks delete and overwrite until released', async () => {
    await gcs.bucket(B).file('held').save('x', { resumable: false });
    await gcs.bucket(B).file('held').setMetadata({ temporaryHold: true });
    expect((await failure(() => gcs.bucket(B).file('held').delete())).status).toBe(403);
    await gcs.bucket(B).file('held').setMetadata({ temporaryHold: false });
    await gcs.bucket(B).file('held').delete();
  });
});
