// Pure parts of the emulator's HTTP core: the sorted name set, listing, CRC32C, multipart parsing, routing,
// resumable-upload arithmetic, ranges, preconditions and config validation.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, mergeConfig } from '../../src/emulator/config.js';
import { HttpError } from '../../src/emulator/contract.js';
import { crc32c, crc32cBase64 } from '../../src/emulator/hashes.js';
import { BucketWriteLimiter, pickFault } from '../../src/emulator/knobs.js';
import { globToRegExp, listNames } from '../../src/emulator/listing.js';
import { headerParam, parseHttpMessage, parseMultipart } from '../../src/emulator/multipart.js';
import { parseRange } from '../../src/emulator/objects.js';
import { failedPrecondition } from '../../src/emulator/preconditions.js';
import { Router } from '../../src/emulator/router.js';
import { prefixSuccessor, SortedStrings } from '../../src/emulator/sorted.js';
import { applyChunk, parseContentRange, type UploadSession } from '../../src/emulator/upload-sessions.js';

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
const nameArb = fc.string({ unit: fc.constantFrom('a', 'b', '/', 'é', 'z', '-'), minLength: 1, maxLength: 6 });

describe('SortedStrings', () => {
  it('behaves like a sorted set under random adds and deletes (chunk splits included)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 4 })), { maxLength: 3000 }), (ops) => {
        const s = new SortedStrings();
        const model = new Set<string>();
        for (const [add, k] of ops) {
          if (add) expect(s.add(k)).toBe(!model.has(k));
          else expect(s.delete(k)).toBe(model.has(k));
          if (add) model.add(k);
          else model.delete(k);
        }
        expect([...s.from('')]).toEqual(sorted(model));
        expect(s.size).toBe(model.size);
        for (const k of ['', 'a', 'm', 'zz']) {
          expect([...s.from(k)]).toEqual(sorted(model).filter((x) => x >= k));
          expect(s.first(k)).toBe(sorted(model).find((x) => x >= k));
        }
      }),
      { numRuns: 30 },
    );
  });

  it('prefixSuccessor bounds every string with the prefix', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string(), (p, rest) => {
        const succ = prefixSuccessor(p);
        if (succ !== undefined) {
          expect(p + rest < succ).toBe(true);
          expect(p <= succ).toBe(true);
        }
      }),
    );
    expect(prefixSuccessor('a/')).toBe('a0');
    expect(prefixSuccessor('\uffff')).toBeUndefined();
  });
});

describe('listNames', () => {
  /** The listing by definition, over a plain sorted array. */
  function model(names: string[], prefix: string, delimiter: string | undefined) {
    const items: string[] = [];
    const prefixes = new Set<string>();
    for (const n of sorted(names)) {
      if (!n.startsWith(prefix)) continue;
      const at = delimiter ? n.indexOf(delimiter, prefix.length) : -1;
      if (at >= 0) prefixes.add(n.slice(0, at + (delimiter as string).length));
      else items.push(n);
    }
    return { items, prefixes: [...prefixes] };
  }

  it('paging through all pages gives exactly the model listing, for any page size', () => {
    fc.assert(
      fc.property(
        fc.array(nameArb, { maxLength: 60 }),
        fc.constantFrom('', 'a', 'a/', 'b/'),
        fc.constantFrom(undefined, '/'),
        fc.integer({ min: 1, max: 7 }),
        (names, prefix, delimiter, max) => {
          const s = new SortedStrings();
          for (const n of names) s.add(n);
          const items: string[] = [];
          const prefixes: string[] = [];
          let pageToken: string | undefined;
          let pages = 0;
          do {
            const page = listNames(s, { prefix, delimiter, maxResults: max, ...(pageToken ? { pageToken } : {}) });
            expect(page.names.length + page.prefixes.length).toBeLessThanOrEqual(max);
            items.push(...page.names);
            prefixes.push(...page.prefixes);
            pageToken = page.nextPageToken;
            expect(++pages).toBeLessThan(100);
          } while (pageToken);
          expect({ items, prefixes }).toEqual(model(names, prefix, delimiter));
        },
      ),
    );
  });

  it('startOffset/endOffset bound the names; includeTrailingDelimiter adds the marker object', () => {
    const s = new SortedStrings();
    for (const n of ['a/', 'a/x', 'b', 'c/d', 'e']) s.add(n);
    expect(listNames(s, { startOffset: 'a/x', endOffset: 'e' }).names).toEqual(['a/x', 'b', 'c/d']);
    expect(listNames(s, { delimiter: '/', includeTrailingDelimiter: true })).toEqual({
      names: ['a/', 'b', 'e'],
      prefixes: ['a/', 'c/'],
    });
  });

  it('rejects a forged page token', () => {
    expect(() => listNames(new SortedStrings(), { pageToken: 'not-a-token' })).toThrow(HttpError);
  });

  it('matchGlob: * stays within a segment, ** crosses, ? [] {} work', () => {
    const re = (g: string) => globToRegExp(g);
    expect(re('a/*.txt').test('a/b.txt')).toBe(true);
    expect(re('a/*.txt').test('a/b/c.txt')).toBe(false);
    expect(re('a/**.txt').test('a/b/c.txt')).toBe(true);
    expect(re('f?o').test('foo')).toBe(true);
    expect(re('[ab]x').test('bx')).toBe(true);
    expect(re('[!ab]x').test('bx')).toBe(false);
    expect(re('*.{json,txt}').test('x.json')).toBe(true);
    expect(re('a.b').test('axb')).toBe(false);
  });
});

describe('crc32c', () => {
  it('matches the standard check values', () => {
    expect(crc32c(Buffer.from('123456789')).toString(16)).toBe('e3069283');
    expect(crc32c(Buffer.alloc(32, 0)).toString(16)).toBe('8a9136aa');
    expect(crc32c(Buffer.alloc(32, 0xff)).toString(16)).toBe('62a8ab43');
    expect(crc32cBase64(crc32c(Buffer.alloc(0)))).toBe('AAAAAA==');
  });

  it('continues across chunks', () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), (a, b) => {
        expect(crc32c(b, crc32c(a))).toBe(crc32c(Buffer.concat([a, b])));
      }),
    );
  });
});

describe('multipart', () => {
  it('reads bare, double- and single-quoted boundaries', () => {
    expect(headerParam('multipart/related; boundary=abc', 'boundary')).toBe('abc');
    expect(headerParam('multipart/related; boundary="a b;c"', 'boundary')).toBe('a b;c');
    expect(headerParam("multipart/related; boundary='===x=='", 'boundary')).toBe('===x==');
    expect(headerParam('multipart/related', 'boundary')).toBeUndefined();
  });

  it('parses CRLF and bare-LF bodies, keeping binary data exact', () => {
    const data = Buffer.from([0, 13, 10, 45, 45, 255, 10]);
    for (const nl of ['\r\n', '\n']) {
      const body = Buffer.concat([
        Buffer.from(`preamble${nl}--xx${nl}Content-Type: application/json${nl}${nl}{"a":1}${nl}--xx${nl}${nl}`),
        data,
        Buffer.from(`${nl}--xx--${nl}`),
      ]);
      const parts = parseMultipart(body, 'xx');
      expect(parts).toHaveLength(2);
      expect(parts[0]?.headers['content-type']).toBe('application/json');
      expect(parts[0]?.body.toString()).toBe('{"a":1}');
      expect(parts[1]?.body.equals(data)).toBe(true);
    }
  });

  it('refuses a body without the boundary or without its closing delimiter', () => {
    expect(() => parseMultipart(Buffer.from('nothing here'), 'xx')).toThrow(HttpError);
    expect(() => parseMultipart(Buffer.from('--xx\r\n\r\nbody'), 'xx')).toThrow(/closing boundary/);
  });

  it('parses an embedded HTTP request (batch part)', () => {
    const msg = parseHttpMessage(
      Buffer.from('PATCH /storage/v1/b/b/o/x HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"k":1}'),
    );
    expect(msg).toMatchObject({ method: 'PATCH', target: '/storage/v1/b/b/o/x' });
    expect(msg.headers['content-type']).toBe('application/json');
    expect(msg.body.toString()).toBe('{"k":1}');
    expect(parseHttpMessage(Buffer.from('DELETE /x\r\n\r\n')).body.length).toBe(0);
    expect(() => parseHttpMessage(Buffer.from('garbage'))).toThrow(HttpError);
  });
});

describe('Router', () => {
  const h = () => ({ status: 200 });
  const router = new Router([
    { method: 'GET', path: '/storage/v1/b/:bucket/o/:object', op: 'get', handler: h },
    { method: 'GET', path: '/storage/v1/b/:bucket/o/:object*', op: 'get-rest', handler: h },
    { method: 'POST', path: '/storage/v1/b/:bucket/o/:object/compose', op: 'compose', handler: h },
    { method: 'POST', path: '/v1/projects/:project:getIamPolicy', op: 'getIam', handler: h },
    { method: 'GET', path: '/v1/projects/:project', op: 'project', handler: h },
  ]);
  const match = (m: string, p: string) => {
    const r = router.match(m, p);
    return r.route ? { op: r.route.op, params: (r as { params: Record<string, string> }).params } : r;
  };

  it('matches encoded segments, catch-alls, custom verbs, and reports allowed methods', () => {
    expect(match('GET', '/storage/v1/b/bk/o/a%2Fb%20c')).toEqual({
      op: 'get',
      params: { bucket: 'bk', object: 'a/b c' },
    });
    expect(match('GET', '/storage/v1/b/bk/o/a/b/c')).toEqual({
      op: 'get-rest',
      params: { bucket: 'bk', object: 'a/b/c' },
    });
    expect(match('POST', '/storage/v1/b/bk/o/x%2Fy/compose')).toEqual({
      op: 'compose',
      params: { bucket: 'bk', object: 'x/y' },
    });
    expect(match('POST', '/v1/projects/p1:getIamPolicy')).toEqual({ op: 'getIam', params: { project: 'p1' } });
    expect(match('POST', '/v1/projects/p1%3AgetIamPolicy')).toEqual({ op: 'getIam', params: { project: 'p1' } });
    expect(match('GET', '/v1/projects/p1')).toEqual({ op: 'project', params: { project: 'p1' } });
    expect(match('DELETE', '/storage/v1/b/bk/o/x')).toEqual({ route: undefined, methods: ['GET'] });
    expect(match('GET', '/nothing')).toEqual({ route: undefined, methods: [] });
    expect(() => router.match('GET', '/storage/v1/b/bk/o/%E0%A4%A')).toThrow(HttpError);
  });

  it('refuses two routes with the same shape', () => {
    expect(
      () =>
        new Router([
          { method: 'GET', path: '/b/:x', op: 'a', handler: h },
          { method: 'GET', path: '/b/:y', op: 'b', handler: h },
        ]),
    ).toThrow(/route conflict/);
  });
});

describe('resumable upload arithmetic', () => {
  const session = (): UploadSession => ({
    id: 's',
    bucket: 'b',
    name: 'n',
    meta: {},
    expect: {},
    pre: {},
    member: 'm',
    chunks: [],
    received: 0,
    createdAt: 0,
  });

  it('parses every Content-Range form clients send', () => {
    expect(parseContentRange('bytes 0-9/100', 10)).toEqual({ kind: 'data', start: 0, end: 9, total: 100 });
    expect(parseContentRange('bytes 0-9/*', 10)).toEqual({ kind: 'data', start: 0, end: 9 });
    expect(parseContentRange('bytes 0-*/*', 10)).toEqual({ kind: 'data', start: 0 });
    expect(parseContentRange('bytes */*', 0)).toEqual({ kind: 'query' });
    expect(parseContentRange('bytes */100', 0)).toEqual({ kind: 'query', total: 100 });
    expect(parseContentRange(undefined, 5)).toEqual({ kind: 'data', start: 0, end: 4, total: 5 });
    for (const bad of ['bytes 5-1/10', 'bytes 0-9/100x', 'items 0-9/10', 'bytes 0-20/10']) {
      expect(() => parseContentRange(bad, 10)).toThrow(HttpError);
    }
    expect(() => parseContentRange('bytes 0-9/100', 5)).toThrow(/carries 5/);
  });

  it('any split of the data into chunks, with resends, reassembles it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
        fc.array(fc.integer({ min: 0, max: 20 })),
        (data, sizes, backs) => {
          const buf = Buffer.from(data);
          const s = session();
          let i = 0;
          let k = 0;
          let done = false;
          while (!done) {
            const start = Math.max(0, s.received - (backs[k] ?? 0)); // a client resending bytes it already sent
            const end = Math.min(buf.length, start + (sizes[k % sizes.length] as number)) - 1;
            k++;
            done = applyChunk(
              s,
              parseContentRange(`bytes ${start}-${end}/${buf.length}`, end - start + 1),
              buf.subarray(start, end + 1),
            );
            expect(++i).toBeLessThan(10_000);
          }
          expect(Buffer.concat(s.chunks).equals(buf)).toBe(true);
        },
      ),
    );
  });

  it('refuses a gap and leaves the session unchanged', () => {
    const s = session();
    applyChunk(s, parseContentRange('bytes 0-3/10', 4), Buffer.from('abcd'));
    expect(() => applyChunk(s, parseContentRange('bytes 6-7/10', 2), Buffer.from('gh'))).toThrow(/exceeds/);
    expect(() => applyChunk(s, parseContentRange('bytes 4-5/12', 2), Buffer.from('ef'))).toThrow(/total size changed/);
    expect(s.received).toBe(4);
    expect(s.total).toBe(10);
  });

  it('an open-ended chunk completes the upload', () => {
    const s = session();
    expect(applyChunk(s, parseContentRange('bytes 0-*/*', 3), Buffer.from('abc'))).toBe(true);
    expect(s.total).toBe(3);
  });
});

describe('ranges and preconditions', () => {
  it('parseRange', () => {
    expect(parseRange('bytes=0-4', 10)).toEqual([0, 4]);
    expect(parseRange('bytes=5-', 10)).toEqual([5, 9]);
    expect(parseRange('bytes=-3', 10)).toEqual([7, 9]);
    expect(parseRange('bytes=-30', 10)).toEqual([0, 9]);
    expect(parseRange('bytes=8-100', 10)).toEqual([8, 9]);
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBeUndefined();
    expect(parseRange('lines=1-2', 10)).toBeUndefined();
    expect(parseRange(undefined, 10)).toBeUndefined();
  });

  it('failedPrecondition follows Google’s rules (0 = must not exist; NotMatch fails when absent)', () => {
    const live = { generation: 5, metageneration: 2 };
    expect(failedPrecondition(undefined, { ifGenerationMatch: 0 })).toBeUndefined();
    expect(failedPrecondition(live, { ifGenerationMatch: 0 })).toBe('ifGenerationMatch');
    expect(failedPrecondition(live, { ifGenerationMatch: 5 })).toBeUndefined();
    expect(failedPrecondition(undefined, { ifGenerationMatch: 5 })).toBe('ifGenerationMatch');
    expect(failedPrecondition(live, { ifGenerationNotMatch: 5 })).toBe('ifGenerationNotMatch');
    expect(failedPrecondition(undefined, { ifGenerationNotMatch: 5 })).toBe('ifGenerationNotMatch');
    expect(failedPrecondition(live, { ifMetagenerationMatch: 2, ifMetagenerationNotMatch: 3 })).toBeUndefined();
    expect(failedPrecondition(live, { ifMetagenerationNotMatch: 2 })).toBe('ifMetagenerationNotMatch');
  });
});

describe('knobs', () => {
  it('config merges partial updates and refuses bad ones with the field named', () => {
    const c = mergeConfig(DEFAULT_CONFIG, { latencyMs: 30, faults: [{ op: '*', rate: 0.5, kind: 'reset' }] });
    expect(c).toEqual({ ...DEFAULT_CONFIG, latencyMs: 30, faults: [{ op: '*', rate: 0.5, kind: 'reset' }] });
    expect(mergeConfig(c, { bucketWriteLimitPerSecond: 3 }).faults).toHaveLength(1);
    expect(() => mergeConfig(c, { latencyMs: Number.NaN })).toThrow(ConfigError);
    expect(() => mergeConfig(c, { faults: [{ op: 'x', rate: 1, kind: 503, extra: 1 }] })).toThrow(
      /unknown field 'extra'/,
    );
    expect(() => mergeConfig(c, { faults: [{ op: '', rate: 1, kind: 503 }] })).toThrow(/op/);
  });

  it('pickFault honours op, member and rate', () => {
    const rules = [
      { op: 'a', rate: 1, kind: 503 as const, member: 'm1' },
      { op: '*', rate: 0.5, kind: 429 as const },
    ];
    expect(pickFault(rules, 'a', 'm1', () => 0.9)?.kind).toBe(503);
    expect(pickFault(rules, 'a', 'm2', () => 0.9)).toBeUndefined();
    expect(pickFault(rules, 'b', 'm2', () => 0.1)?.kind).toBe(429);
  });

  it('the bucket write limiter allows N writes per sliding second per bucket', () => {
    let now = 1000;
    const l = new BucketWriteLimiter(() => now);
    l.write('b', 2);
    l.write('b', 2);
    expect(() => l.write('b', 2)).toThrow(/rate limit/);
    l.write('other', 2);
    now += 999;
    expect(() => l.write('b', 2)).toThrow(HttpError);
    now += 2;
    l.write('b', 2);
    for (let i = 0; i < 100; i++) l.write('c', 0); // 0 = unlimited
  });
});
