// JSON API batch deletes: up to 100 `DELETE /storage/v1/b/B/o/NAME?ifGenerationMatch=G` in one
// `POST /batch/storage/v1` (multipart/mixed), since googleapis has no HTTP batch (design §3). Building the body and
// reading the answer are pure; `sendDeleteBatch` does the one HTTP call with the controller's own credentials.
import { randomBytes } from 'node:crypto';
import type { Gcs } from '../gcs/client.js';
import { linkSignals } from '../kube/signals.js';

export const MAX_BATCH = 100;

export interface ObjectRef {
  name: string;
  /** The generation listed: the delete only takes that one (a newer write makes it 412, never a silent loss). */
  generation: string;
  size: number;
}

export interface BatchBody {
  contentType: string;
  body: string;
}

/** The multipart/mixed body for deleting `objects` (at most 100) from `bucket`. */
export function buildDeleteBatch(bucket: string, objects: readonly ObjectRef[], boundary?: string): BatchBody {
  if (objects.length === 0 || objects.length > MAX_BATCH) {
    throw new Error(`a batch holds 1 to ${MAX_BATCH} requests, got ${objects.length}`);
  }
  const b = boundary ?? `tidemark_${randomBytes(12).toString('hex')}`;
  const parts = objects.map((o, i) => {
    const path = `/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(o.name)}?ifGenerationMatch=${encodeURIComponent(o.generation)}`;
    return `--${b}\r\nContent-Type: application/http\r\nContent-ID: <${i + 1}>\r\n\r\nDELETE ${path} HTTP/1.1\r\n\r\n`;
  });
  return { contentType: `multipart/mixed; boundary=${b}`, body: `${parts.join('')}--${b}--\r\n` };
}

export interface PartResult {
  /** Index into the request's objects. */
  index: number;
  status: number;
  /** Google's error message, when the part failed. */
  message?: string | undefined;
}

function boundaryOf(contentType: string): string | undefined {
  const m = /boundary=(?:"([^"]+)"|'([^']+)'|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

/** Reads a multipart/mixed batch answer into one status per request part (matched by Content-ID, else by order). */
export function parseBatchResponse(contentType: string, body: string, count: number): PartResult[] {
  const boundary = boundaryOf(contentType);
  if (!boundary) throw new Error(`batch answer without a multipart boundary (Content-Type: ${contentType})`);
  const chunks = body.split(`--${boundary}`).slice(1);
  const out: PartResult[] = [];
  let order = 0;
  for (const chunk of chunks) {
    if (chunk.startsWith('--')) break;
    const status = /HTTP\/1\.[01] (\d{3})/.exec(chunk);
    if (!status) continue;
    const id = /Content-ID:\s*<?response-(\d+)>?/i.exec(chunk);
    const index = id ? Number(id[1]) - 1 : order;
    order++;
    const code = Number(status[1]);
    let message: string | undefined;
    if (code >= 300) {
      const json = chunk.slice(chunk.indexOf('{'));
      try {
        message = (JSON.parse(json.slice(0, json.lastIndexOf('}') + 1)) as { error?: { message?: string } }).error
          ?.message;
      } catch {
        message = undefined;
      }
    }
    if (index >= 0 && index < count) out.push({ index, status: code, message });
  }
  return out;
}

/** The headers googleapis would send for this client (its auth: ADC, a metadata server, or a static token). */
async function authHeaders(gcs: Gcs): Promise<Headers> {
  const auth = (gcs.storage.context._options as { auth?: unknown }).auth as
    | { getRequestHeaders(url?: string): Promise<Headers | Record<string, string>> }
    | undefined;
  if (!auth || typeof auth !== 'object') return new Headers();
  return new Headers((await auth.getRequestHeaders()) as ConstructorParameters<typeof Headers>[0]);
}

export class BatchHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'BatchHttpError';
  }
}

/** One batch call. Resolves with every part's status; rejects (BatchHttpError) when the batch itself failed. */
export async function sendDeleteBatch(gcs: Gcs, bucket: string, objects: readonly ObjectRef[]): Promise<PartResult[]> {
  const { contentType, body } = buildDeleteBatch(bucket, objects);
  const headers = await authHeaders(gcs);
  headers.set('content-type', contentType);
  const root = gcs.rootUrl ?? 'https://storage.googleapis.com/';
  const started = performance.now();
  // Fenced like every other call of the client: once its signal (a leadership term) is aborted, no batch is sent and
  // one in flight is abandoned.
  const linked = linkSignals([gcs.signal], 60_000);
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${root}batch/storage/v1`, { method: 'POST', headers, body, signal: linked.signal });
    text = await res.text();
  } catch (err) {
    gcs.onCall?.('storage.batch', 0, performance.now() - started);
    if (gcs.signal?.aborted) throw gcs.signal.reason;
    throw new BatchHttpError(0, `batch request failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    linked.done();
  }
  gcs.onCall?.('storage.batch', res.status, performance.now() - started);
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not JSON: keep the text
    }
    throw new BatchHttpError(res.status, `batch request: HTTP ${res.status}: ${message}`);
  }
  const results = parseBatchResponse(res.headers.get('content-type') ?? '', text, objects.length);
  if (results.length !== objects.length) {
    throw new BatchHttpError(502, `batch answer has ${results.length} parts for ${objects.length} requests`);
  }
  return results;
}
