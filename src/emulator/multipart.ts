// Multipart bodies (`multipart/related` uploads, `multipart/mixed` batches) and the HTTP messages inside batch parts.
// Tolerant the way Google is: quoted or bare boundary, CRLF or bare LF line ends. Pure.
import type { IncomingHttpHeaders } from 'node:http';
import { HttpError } from './contract.js';

export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * A parameter of a header value such as `multipart/related; boundary="abc"`. gcloud quotes its boundary with
 * single quotes (`boundary='===...=='`), which is accepted too.
 */
export function headerParam(value: string, name: string): string | undefined {
  const re = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|'([^']*)'|([^;\\s]*))`, 'i');
  const m = re.exec(value);
  if (!m) return undefined;
  if (m[1] !== undefined) return m[1].replace(/\\(.)/g, '$1');
  return m[2] ?? m[3];
}

/** The media type without parameters, lower-cased. */
export function mediaType(value: string | undefined): string {
  return (value ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Splits a block of header lines (CRLF or LF) into lower-cased names and values. */
export function parseHeaderLines(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpError(400, `Malformed header line in multipart body: '${line.slice(0, 80)}'`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** Where the header block ends: the index of the body and the header text. */
function splitHead(buf: Buffer): { head: string; body: Buffer } {
  // No headers at all: the part starts with its blank line.
  if (buf[0] === 0x0a) return { head: '', body: buf.subarray(1) };
  if (buf[0] === 0x0d && buf[1] === 0x0a) return { head: '', body: buf.subarray(2) };
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  let end: number;
  let sep: number;
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) {
    end = crlf;
    sep = 4;
  } else if (lf >= 0) {
    end = lf;
    sep = 2;
  } else {
    // Headers only, no body.
    return { head: buf.toString('latin1'), body: Buffer.alloc(0) };
  }
  return { head: buf.subarray(0, end).toString('utf8'), body: buf.subarray(end + sep) };
}

/** Parses a multipart body with the given boundary. */
export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delim = Buffer.from(`--${boundary}`);
  // Delimiter positions: at the start of the body or right after a line feed.
  const positions: number[] = [];
  let from = 0;
  for (;;) {
    const i = body.indexOf(delim, from);
    if (i < 0) break;
    if (i === 0 || body[i - 1] === 0x0a) positions.push(i);
    from = i + delim.length;
  }
  if (positions.length === 0) throw new HttpError(400, 'Multipart body has no part with the declared boundary.');
  const parts: Part[] = [];
  for (let k = 0; k < positions.length; k++) {
    const at = positions[k] as number;
    let start = at + delim.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break; // closing delimiter `--boundary--`
    // Skip transport padding to the end of the delimiter line.
    const eol = body.indexOf(0x0a, start);
    if (eol < 0) break;
    start = eol + 1;
    const next = positions[k + 1];
    if (next === undefined) throw new HttpError(400, 'Multipart body is missing its closing boundary.');
    let end = next - 1; // the LF before the next delimiter
    if (end > start && body[end - 1] === 0x0d) end--;
    const raw = body.subarray(start, Math.max(start, end));
    const { head, body: partBody } = splitHead(raw);
    parts.push({ headers: parseHeaderLines(head), body: partBody });
  }
  return parts;
}

export interface EmbeddedRequest {
  method: string;
  target: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** An HTTP request message inside a batch part (`application/http`). */
export function parseHttpMessage(buf: Buffer): EmbeddedRequest {
  const lineEnd = buf.indexOf(0x0a);
  const first = (lineEnd < 0 ? buf : buf.subarray(0, lineEnd)).toString('utf8').replace(/\r$/, '');
  const m = /^([A-Z]+)\s+(\S+)(?:\s+HTTP\/\d(?:\.\d)?)?$/.exec(first.trim());
  if (!m) throw new HttpError(400, `Malformed request line in batch part: '${first.slice(0, 120)}'`);
  const rest = lineEnd < 0 ? Buffer.alloc(0) : buf.subarray(lineEnd + 1);
  const { head, body } = splitHead(rest);
  const headers: IncomingHttpHeaders = parseHeaderLines(head);
  return { method: m[1] as string, target: m[2] as string, headers, body };
}

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  206: 'Partial Content',
  304: 'Not Modified',
  308: 'Resume Incomplete',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  416: 'Requested Range Not Satisfiable',
  429: 'Too Many Requests',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Unknown';
}
