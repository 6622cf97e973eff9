// Resumable upload sessions: what was received so far, and the Content-Range arithmetic. Pure apart from the map.
import { randomBytes } from 'node:crypto';
import { HttpError } from './contract.js';
import type { Preconditions } from './preconditions.js';
import type { WritableObjectMeta } from './store.js';

export interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  meta: WritableObjectMeta;
  /** md5Hash/crc32c the client declared in the metadata, checked when the upload completes. */
  expect: { md5Hash?: string; crc32c?: string };
  pre: Preconditions;
  member: string;
  chunks: Buffer[];
  received: number;
  /** Total size once known (X-Upload-Content-Length or a Content-Range with a total). */
  total?: number;
  /** The object resource once complete (later PUTs answer it again). */
  result?: object;
  createdAt: number;
}

/** A parsed `Content-Range` of a resumable PUT. */
export type ChunkRange =
  | { kind: 'query'; total?: number } // bytes */total or bytes */*
  | { kind: 'data'; start: number; end?: number; total?: number }; // bytes a-b/total, a-b/*, a-*/*

export function parseContentRange(header: string | undefined, bodyLength: number): ChunkRange {
  if (header === undefined || header.trim() === '') {
    // No Content-Range: the body is the whole object.
    return { kind: 'data', start: 0, ...(bodyLength > 0 ? { end: bodyLength - 1 } : {}), total: bodyLength };
  }
  const m = /^\s*bytes\s+(?:\*|(\d+)-(\d+|\*))\/(\d+|\*)\s*$/i.exec(header);
  if (!m) throw new HttpError(400, `Invalid Content-Range header '${header}'.`);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (m[1] === undefined) return { kind: 'query', ...(total !== undefined ? { total } : {}) };
  const start = Number(m[1]);
  const end = m[2] === '*' ? undefined : Number(m[2]);
  if (end !== undefined) {
    if (end < start) throw new HttpError(400, `Invalid Content-Range header '${header}': end before start.`);
    if (end - start + 1 !== bodyLength) {
      throw new HttpError(
        400,
        `Content-Range '${header}' says ${end - start + 1} bytes but the request carries ${bodyLength}.`,
      );
    }
  }
  if (total !== undefined && end !== undefined && end >= total) {
    throw new HttpError(400, `Invalid Content-Range header '${header}': end beyond total.`);
  }
  return { kind: 'data', start, ...(end !== undefined ? { end } : {}), ...(total !== undefined ? { total } : {}) };
}

/**
 * Applies a chunk to a session. Bytes the session already has are skipped (a client resending after an
 * interruption); a gap is refused. Returns whether the upload is complete.
 */
export function applyChunk(s: UploadSession, range: ChunkRange, body: Buffer): boolean {
  let total = s.total;
  if (range.total !== undefined) {
    if (total !== undefined && total !== range.total) {
      throw new HttpError(400, `The upload's total size changed from ${total} to ${range.total}.`);
    }
    total = range.total;
  }
  let fresh: Buffer | undefined;
  if (range.kind === 'data') {
    if (range.start > s.received) {
      throw new HttpError(
        400,
        `Invalid request. According to the Content-Range header, the upload offset is ${range.start} byte(s), ` +
          `which exceeds already uploaded size of ${s.received} byte(s).`,
      );
    }
    const skip = s.received - range.start;
    if (skip < body.length) fresh = body.subarray(skip);
  }
  const received = s.received + (fresh?.length ?? 0);
  if (total !== undefined && received > total) {
    throw new HttpError(400, `The upload would hold ${received} bytes, more than its total of ${total}.`);
  }
  // An open-ended chunk (`a-*/*`) is the rest of the stream: the upload ends with it.
  if (range.kind === 'data' && range.end === undefined && total === undefined) total = received;
  if (fresh) s.chunks.push(fresh);
  s.received = received;
  if (total !== undefined) s.total = total;
  return total !== undefined && received === total;
}

/** The `Range` header of a 308 answer (absent when nothing was received). */
export function receivedRange(s: UploadSession): Record<string, string> {
  return s.received > 0 ? { range: `bytes=0-${s.received - 1}` } : {};
}

export class UploadSessions {
  private readonly sessions = new Map<string, UploadSession>();

  create(s: Omit<UploadSession, 'id' | 'chunks' | 'received' | 'createdAt'>): UploadSession {
    const session: UploadSession = {
      ...s,
      id: randomBytes(18).toString('base64url'),
      chunks: [],
      received: 0,
      createdAt: Date.now(),
    };
    this.sessions.set(session.id, session);
    return session;
  }

  get(id: string | null): UploadSession | undefined {
    return id ? this.sessions.get(id) : undefined;
  }

  delete(id: string): boolean {
    return this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  reset(): void {
    this.sessions.clear();
  }
}
