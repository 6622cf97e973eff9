// JSON request bodies as Google reads them. A JSON `null` is an absent field (clients send it for "not set":
// Python's compose sends `"generation": null` for each source), except in a patch, where `null` clears a field.
// Every body of the emulator (storage, IAM, Resource Manager, IAM Credentials, batch parts) is read through here.
import { type EmuRequest, HttpError } from './contract.js';

/** `value` with every object member whose value is null removed, at any depth (array elements are kept). */
export function withoutNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => withoutNulls(v)) as T;
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null) out[k] = withoutNulls(v);
  }
  return out as T;
}

/** The body as a JSON object (an empty body is `{}`), nulls kept; 400 with Google's wording when it is not one. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `Invalid JSON payload received. ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new HttpError(400, 'Invalid JSON payload received: the body must be a JSON object.');
  }
  return v as Record<string, unknown>;
}

/** A request's JSON object body: nulls removed, except in a PATCH (where they mean "clear"). */
export function requestObject(req: Pick<EmuRequest, 'method' | 'body'>): Record<string, unknown> {
  const body = parseJsonObject(req.body);
  return req.method === 'PATCH' ? body : withoutNulls(body);
}

/**
 * An int64 field of a JSON body (Google sends int64 as a decimal string; clients also send numbers): undefined
 * when absent, 400 naming `field` when it is neither a non-negative integer nor its decimal string.
 */
export function int64Field(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,16}$/.test(value)) return Number(value);
  throw new HttpError(400, `Invalid value for ${field}: ${JSON.stringify(value)} is not an int64.`);
}
