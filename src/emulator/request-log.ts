// The emulator's request log (`GET /_emulator/requests`): one entry per counted call (HTTP requests and batch parts;
// emulator-only endpoints excluded), so that tests can tell who wrote what, when, and from which process. A bounded
// ring: the oldest entries go first once `capacity` is reached (`dropped` says how many).
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface RequestLogEntry {
  /** 1, 2, 3, ... in the order calls were answered. */
  seq: number;
  /** When the call was received (ms since the epoch). */
  startMs: number;
  /** When it was answered. */
  endMs: number;
  /** The method id, e.g. storage.buckets.setIamPolicy. */
  op: string;
  /** The HTTP method (after X-HTTP-Method-Override). */
  method: string;
  /** The authenticated member, or `anonymous`. */
  principal: string;
  /** The bucket the call names, if any. */
  bucket?: string;
  /**
   * The object (objects.*) or managed folder (managedFolders.*) the call's path names, if any, e.g. what a delete
   * removed (an upload names its object in the query, not the path: absent there).
   */
  name?: string;
  /** The answer's HTTP status; 0 for a connection reset. */
  status: number;
  /** The User-Agent header as sent. */
  userAgent?: string;
  /**
   * A fingerprint of the bearer token (first 12 hex digits of its SHA-256): each process that fetched its own token
   * has its own, so two processes acting as one principal can be told apart.
   */
  credential?: string;
}

export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private seq = 0;
  private dropped = 0;

  constructor(private readonly capacity = 200_000) {}

  record(e: Omit<RequestLogEntry, 'seq'>): void {
    this.entries.push({ seq: ++this.seq, ...e });
    if (this.entries.length > this.capacity) {
      const excess = this.entries.length - this.capacity;
      this.entries.splice(0, excess);
      this.dropped += excess;
    }
  }

  /** Entries with seq greater than `since` (all when 0), oldest first. */
  snapshot(since = 0): { entries: RequestLogEntry[]; lastSeq: number; dropped: number } {
    const entries = this.entries.filter((e) => e.seq > since);
    return { entries, lastSeq: this.seq, dropped: this.dropped };
  }

  reset(): void {
    this.entries = [];
    this.dropped = 0;
  }
}

/** The fingerprint of the call's bearer token, if it has one. */
export function credentialFingerprint(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  const value = Array.isArray(auth) ? auth[0] : auth;
  const m = /^Bearer\s+(\S+)/i.exec(value ?? '');
  return m?.[1] ? createHash('sha256').update(m[1]).digest('hex').slice(0, 12) : undefined;
}
