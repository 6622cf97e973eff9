// The JSON API batch body and answer (the emulator's batch endpoint judges the real thing in the integration tests).
import { describe, expect, test } from 'vitest';
import { buildDeleteBatch, parseBatchResponse } from '../../../src/gc/batch.js';
import { nextRun } from '../../../src/gc/scheduler.js';

describe('batch deletes', () => {
  test('one application/http part per object, names and generations URL-encoded', () => {
    const b = buildDeleteBatch('bkt', [{ name: 'r/ns/j/q 1/#x', generation: '17', size: 1 }], 'BND');
    expect(b.contentType).toBe('multipart/mixed; boundary=BND');
    expect(b.body).toBe(
      '--BND\r\nContent-Type: application/http\r\nContent-ID: <1>\r\n\r\n' +
        'DELETE /storage/v1/b/bkt/o/r%2Fns%2Fj%2Fq%201%2F%23x?ifGenerationMatch=17 HTTP/1.1\r\n\r\n--BND--\r\n',
    );
  });

  test('at most 100 requests, at least one', () => {
    const o = { name: 'a', generation: '1', size: 0 };
    expect(() => buildDeleteBatch('b', Array(101).fill(o))).toThrow('1 to 100');
    expect(() => buildDeleteBatch('b', [])).toThrow('1 to 100');
  });

  test('reads each part by Content-ID, with the error message of failed parts', () => {
    const body = [
      '--R',
      'Content-Type: application/http',
      'Content-ID: <response-2>',
      '',
      'HTTP/1.1 429 Too Many Requests',
      'Content-Type: application/json',
      '',
      '{"error":{"code":429,"message":"slow down"}}',
      '--R',
      'Content-Type: application/http',
      'Content-ID: <response-1>',
      '',
      'HTTP/1.1 204 No Content',
      '',
      '',
      '--R--',
      '',
    ].join('\r\n');
    expect(parseBatchResponse('multipart/mixed; boundary=R', body, 2)).toEqual([
      { index: 1, status: 429, message: 'slow down' },
      { index: 0, status: 204, message: undefined },
    ]);
  });
});

describe('schedule', () => {
  test('cron is evaluated in UTC, strictly after the given time', () => {
    expect(nextRun('0 3 * * *', new Date('2026-11-29T02:59:59Z'))?.toISOString()).toBe('2026-11-29T03:00:00.000Z');
    expect(nextRun('0 3 * * *', new Date('2026-11-29T03:00:00Z'))?.toISOString()).toBe('2026-11-30T03:00:00.000Z');
    expect(nextRun('@hourly', new Date('2026-11-29T03:10:00Z'))?.toISOString()).toBe('2026-11-29T04:00:00.000Z');
    expect(nextRun('0 0 * * 7', new Date('2026-11-29T03:10:00Z'))?.toISOString()).toBe('2026-12-06T00:00:00.000Z');
  });
});
