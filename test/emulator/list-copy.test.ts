// objects.list (paging, delimiter, trailing delimiter, offsets, glob) and rewrite / copy / move / compose.
import { gzipSync } from 'node:zlib';
import type { Storage } from '@google-cloud/storage';
import type { storage_v1 } from 'googleapis';
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { adminFetch, failure, start, useAdminEmulator } from './clients.js';

let emu: RunningEmulator;
let gcs: Storage;
let api: storage_v1.Storage;
const B = 'list-bucket';
const B2 = 'other-bucket';

useAdminEmulator({ buckets: [B, B2] }, (x) => {
  ({ emu, gcs, api } = x);
});

async function put(names: string[], bucket = B): Promise<void> {
  for (const n of names) await gcs.bucket(bucket).file(n).save(`<${n}>`, { resumable: false });
}

describe('list', () => {
  const tree = ['a/1', 'a/2', 'a/b/3', 'a/', 'b/x', 'c', 'd/e/f', 'z'];

  it('lists everything in name order', async () => {
    await put(tree);
    const [files] = await gcs.bucket(B).getFiles();
    expect(files.map((f) => f.name)).toEqual([...tree].sort());
  });

  it('pages with maxResults and nextPageToken (the client follows them)', async () => {
    const names = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(3, '0')}`);
    await put(names);
    const pages: string[][] = [];
    let pageToken: string | undefined;
    do {
      const res = await api.objects.list({ bucket: B, maxResults: 10, ...(pageToken ? { pageToken } : {}) });
      pages.push((res.data.items ?? []).map((o) => o.name as string));
      pageToken = res.data.nextPageToken ?? undefined;
    } while (pageToken);
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    expect(pages.flat()).toEqual(names);
    // The storage client's manual paging: it hands back the next query with the page token.
    const [first, next] = await gcs.bucket(B).getFiles({ maxResults: 7, autoPaginate: false });
    expect(first).toHaveLength(7);
    const [second] = await gcs.bucket(B).getFiles({ ...(next as object), maxResults: 100, autoPaginate: false });
    expect([...first, ...second].map((f) => f.name)).toEqual(names);
  });

  it('prefix + delimiter gives items and prefixes; prefixes count towards maxResults', async () => {
    await put(tree);
    const res = await api.objects.list({ bucket: B, delimiter: '/' });
    expect(res.data.prefixes).toEqual(['a/', 'b/', 'd/']);
    expect(res.data.items?.map((o) => o.name)).toEqual(['c', 'z']);
    const sub = await api.objects.list({ bucket: B, prefix: 'a/', delimiter: '/' });
    expect(sub.data.items?.map((o) => o.name)).toEqual(['a/', 'a/1', 'a/2']);
    expect(sub.data.prefixes).toEqual(['a/b/']);
    const paged: { items: string[]; prefixes: string[] }[] = [];
    let pageToken: string | undefined;
    do {
      const r = await api.objects.list({
        bucket: B,
        delimiter: '/',
        maxResults: 2,
        ...(pageToken ? { pageToken } : {}),
      });
      paged.push({ items: (r.data.items ?? []).map((o) => o.name as string), prefixes: r.data.prefixes ?? [] });
      pageToken = r.data.nextPageToken ?? undefined;
    } while (pageToken);
    expect(paged.flatMap((p) => p.prefixes)).toEqual(['a/', 'b/', 'd/']);
    expect(paged.flatMap((p) => p.items)).toEqual(['c', 'z']);
    expect(paged.every((p) => p.items.length + p.prefixes.length <= 2)).toBe(true);
  });

  it('includeTrailingDelimiter lists the marker object a/ as an item too (the connector’s directory probe)', async () => {
    await put(tree);
    const res = await api.objects.list({ bucket: B, delimiter: '/', includeTrailingDelimiter: true });
    expect(res.data.prefixes).toEqual(['a/', 'b/', 'd/']);
    expect(res.data.items?.map((o) => o.name)).toEqual(['a/', 'c', 'z']);
    const probe = await api.objects.list({
      bucket: B,
      prefix: 'a/',
      delimiter: '/',
      includeTrailingDelimiter: true,
      maxResults: 1,
    });
    expect((probe.data.items ?? []).length + (probe.data.prefixes ?? []).length).toBe(1);
    expect(probe.data.nextPageToken).toBeTruthy();
  });

  it('startOffset (inclusive) and endOffset (exclusive)', async () => {
    await put(tree);
    const res = await api.objects.list({ bucket: B, startOffset: 'a/2', endOffset: 'c' });
    expect(res.data.items?.map((o) => o.name)).toEqual(['a/2', 'a/b/3', 'b/x']);
  });

  it('matchGlob', async () => {
    await put(['x/a.txt', 'x/b.json', 'x/y/c.txt', 'top.txt']);
    const one = await api.objects.list({ bucket: B, matchGlob: 'x/*.txt' });
    expect(one.data.items?.map((o) => o.name)).toEqual(['x/a.txt']);
    const deep = await api.objects.list({ bucket: B, matchGlob: '**.txt' });
    expect(deep.data.items?.map((o) => o.name)).toEqual(['top.txt', 'x/a.txt', 'x/y/c.txt']);
  });

  it('accepts versions=true (gcloud rm) and projection=full', async () => {
    await put(['v1']);
    const res = await api.objects.list({ bucket: B, versions: true, projection: 'full' });
    expect(res.data.items?.map((o) => o.name)).toEqual(['v1']);
  });

  it('an empty listing has no items field, as on Google; a bad pageToken is a 400', async () => {
    const res = await adminFetch(emu, `/storage/v1/b/${B}/o`);
    expect(await res.json()).toEqual({ kind: 'storage#objects' });
    const bad = await adminFetch(emu, `/storage/v1/b/${B}/o?pageToken=%%%`);
    expect(bad.status).toBe(400);
  });
});

describe('rewrite, copy, move, compose', () => {
  it('rewriteTo answers done:true with the resource, across buckets, keeping content and metadata', async () => {
    await gcs
      .bucket(B)
      .file('src')
      .save('rewrite me', { resumable: false, metadata: { contentType: 'text/plain', metadata: { a: 'b' } } });
    const res = await api.objects.rewrite({
      sourceBucket: B,
      sourceObject: 'src',
      destinationBucket: B2,
      destinationObject: 'dst/copy',
    });
    expect(res.data).toMatchObject({ kind: 'storage#rewriteResponse', done: true, objectSize: '10' });
    expect(res.data.resource).toMatchObject({ name: 'dst/copy', bucket: B2, contentType: 'text/plain' });
    expect(res.data.resource?.metadata).toEqual({ a: 'b' });
    const [data] = await gcs.bucket(B2).file('dst/copy').download();
    expect(data.toString()).toBe('rewrite me');
  });

  it('rewriteTo with a chunked gzip body (the connector’s rename), then delete with ifGenerationMatch', async () => {
    await gcs.bucket(B).file('job/.offsets.1.uuid.tmp').save('0', { resumable: false });
    const [tmp] = await gcs.bucket(B).file('job/.offsets.1.uuid.tmp').getMetadata();
    const body = gzipSync(Buffer.alloc(0));
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(body.subarray(0, 5));
        c.enqueue(body.subarray(5));
        c.close();
      },
    });
    const res = await adminFetch(
      emu,
      `/storage/v1/b/${B}/o/${encodeURIComponent('job/.offsets.1.uuid.tmp')}/rewriteTo/b/${B}/o/${encodeURIComponent('job/offsets/1')}?ifGenerationMatch=0`,
      {
        method: 'POST',
        headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit,
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as { done: boolean }).done).toBe(true);
    await api.objects.delete({
      bucket: B,
      object: 'job/.offsets.1.uuid.tmp',
      ifGenerationMatch: tmp.generation as string,
    });
    const [files] = await gcs.bucket(B).getFiles();
    expect(files.map((f) => f.name)).toEqual(['job/offsets/1']);
  });

  it('rewrite with a metadata body replaces the metadata; source and destination preconditions apply', async () => {
    await put(['s']);
    const r = await api.objects.rewrite({
      sourceBucket: B,
      sourceObject: 's',
      destinationBucket: B,
      destinationObject: 'd',
      requestBody: { contentType: 'application/x-new', metadata: { n: '1' } },
    });
    expect(r.data.resource).toMatchObject({ contentType: 'application/x-new', metadata: { n: '1' } });
    const exists = await failure(() =>
      api.objects.rewrite({
        sourceBucket: B,
        sourceObject: 's',
        destinationBucket: B,
        destinationObject: 'd',
        ifGenerationMatch: '0',
      }),
    );
    expect(exists.status).toBe(412);
    const srcGen = await failure(() =>
      api.objects.rewrite({
        sourceBucket: B,
        sourceObject: 's',
        destinationBucket: B,
        destinationObject: 'd2',
        ifSourceGenerationMatch: '1',
      }),
    );
    expect(srcGen.status).toBe(412);
    const missing = await failure(() =>
      api.objects.rewrite({ sourceBucket: B, sourceObject: 'nope', destinationBucket: B, destinationObject: 'd3' }),
    );
    expect(missing.status).toBe(404);
  });

  it('copyTo (storage client copy)', async () => {
    await put(['orig']);
    await gcs.bucket(B).file('orig').copy(gcs.bucket(B2).file('copied'));
    const [data] = await gcs.bucket(B2).file('copied').download();
    expect(data.toString()).toBe('<orig>');
    const res = await api.objects.copy({
      sourceBucket: B,
      sourceObject: 'orig',
      destinationBucket: B,
      destinationObject: 'copy2',
    });
    expect(res.data.name).toBe('copy2');
  });

  it('moveTo (objects.move): the source is gone, the destination has a new generation', async () => {
    await put(['from']);
    const [before] = await gcs.bucket(B).file('from').getMetadata();
    const res = await api.objects.move({ bucket: B, sourceObject: 'from', destinationObject: 'to/here' });
    expect(res.data.name).toBe('to/here');
    expect(res.data.metageneration).toBe('1');
    expect(BigInt(res.data.generation as string)).toBeGreaterThan(BigInt(before.generation as string));
    const [files] = await gcs.bucket(B).getFiles();
    expect(files.map((f) => f.name)).toEqual(['to/here']);
    const same = await failure(() =>
      api.objects.move({ bucket: B, sourceObject: 'to/here', destinationObject: 'to/here' }),
    );
    expect(same.status).toBe(400);
  });

  it('compose concatenates, has crc32c and a componentCount but no md5Hash (as on Google)', async () => {
    await put(['c1', 'c2', 'c3']);
    const [composed] = await gcs.bucket(B).combine(['c1', 'c2', 'c3'], 'all');
    const [m] = await composed.getMetadata();
    expect(m.componentCount).toBe(3);
    expect(m.md5Hash).toBeUndefined();
    const [data] = await composed.download();
    expect(data.toString()).toBe('<c1><c2><c3>');
    const again = await api.objects.compose({
      destinationBucket: B,
      destinationObject: 'nested',
      requestBody: { sourceObjects: [{ name: 'all' }, { name: 'c1' }], destination: { contentType: 'text/plain' } },
    });
    expect(again.data.componentCount).toBe(4);
    expect(again.data.contentType).toBe('text/plain');
    const bad = await failure(() =>
      api.objects.compose({
        destinationBucket: B,
        destinationObject: 'x',
        requestBody: { sourceObjects: [{ name: 'c1', objectPreconditions: { ifGenerationMatch: '1' } }] },
      }),
    );
    expect(bad.status).toBe(412);
  });

  it('compose with deleteSourceObjects removes the sources once the composite is written', async () => {
    await put(['d1', 'd2']);
    const done = await api.objects.compose({
      destinationBucket: B,
      destinationObject: 'd-all',
      requestBody: { sourceObjects: [{ name: 'd1' }, { name: 'd2' }], deleteSourceObjects: true },
    });
    expect(done.data.componentCount).toBe(2);
    const [files] = await gcs.bucket(B).getFiles({ prefix: 'd' });
    expect(files.map((f) => f.name)).toEqual(['d-all']);
  });
});
