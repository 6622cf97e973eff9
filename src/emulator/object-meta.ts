// Writable object metadata from JSON bodies: new objects, patch (merge; null clears) and update (replace). Pure.
import { HttpError } from './contract.js';
import type { WritableObjectMeta } from './store.js';

const STRING_FIELDS = [
  'contentType',
  'contentEncoding',
  'contentDisposition',
  'contentLanguage',
  'cacheControl',
  'customTime',
  'storageClass',
] as const;
const BOOL_FIELDS = ['temporaryHold', 'eventBasedHold'] as const;

const STORAGE_CLASSES = ['STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE', 'MULTI_REGIONAL', 'REGIONAL'];

function str(body: Record<string, unknown>, k: string): string | undefined {
  const v = body[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new HttpError(400, `Invalid value for field '${k}': expected a string.`);
  return v;
}

function metadataMap(v: unknown): Record<string, string | null> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new HttpError(400, "Invalid value for field 'metadata': expected an object of strings.");
  }
  const out: Record<string, string | null> = {};
  for (const [k, val] of Object.entries(v)) {
    if (val === null) out[k] = null;
    else if (typeof val === 'string') out[k] = val;
    else if (typeof val === 'number' || typeof val === 'boolean') out[k] = String(val);
    else throw new HttpError(400, `Invalid value for metadata '${k}': expected a string.`);
  }
  return out;
}

function checkValues(meta: WritableObjectMeta): WritableObjectMeta {
  if (meta.storageClass !== undefined && !STORAGE_CLASSES.includes(meta.storageClass)) {
    throw new HttpError(400, `Invalid storage class '${meta.storageClass}'.`);
  }
  if (meta.customTime !== undefined && Number.isNaN(Date.parse(meta.customTime))) {
    throw new HttpError(400, `Invalid value for field 'customTime': '${meta.customTime}' is not an RFC 3339 time.`);
  }
  return meta;
}

/** The metadata of a new object (upload metadata, rewrite/compose destination). */
export function newObjectMeta(body: Record<string, unknown>): WritableObjectMeta {
  const meta: WritableObjectMeta = {};
  for (const k of STRING_FIELDS) {
    const v = str(body, k);
    if (v !== undefined) meta[k] = v;
  }
  for (const k of BOOL_FIELDS) {
    if (typeof body[k] === 'boolean') meta[k] = body[k] as boolean;
  }
  if (body.metadata !== undefined && body.metadata !== null) {
    const m = metadataMap(body.metadata);
    meta.metadata = Object.fromEntries(Object.entries(m).filter((e): e is [string, string] => e[1] !== null));
  }
  return checkValues(meta);
}

/** Whether a body names any writable field (an empty rewrite body keeps the source's metadata). */
export function hasWritableFields(body: Record<string, unknown>): boolean {
  return [...STRING_FIELDS, ...BOOL_FIELDS, 'metadata'].some((k) => body[k] !== undefined);
}

/** objects.patch: fields present are set, `null` clears; metadata keys merge and a `null` key is removed. */
export function patchObjectMeta(current: WritableObjectMeta, body: Record<string, unknown>): WritableObjectMeta {
  const next: WritableObjectMeta = { ...current, ...(current.metadata ? { metadata: { ...current.metadata } } : {}) };
  for (const k of STRING_FIELDS) {
    if (!(k in body)) continue;
    if (k === 'storageClass' && body[k] !== undefined && body[k] !== current.storageClass) {
      throw new HttpError(400, 'The storage class of an object can only be changed by rewriting it.');
    }
    const v = str(body, k);
    if (v === undefined) delete next[k];
    else next[k] = v;
  }
  for (const k of BOOL_FIELDS) {
    if (!(k in body)) continue;
    if (body[k] === null) delete next[k];
    else if (typeof body[k] === 'boolean') next[k] = body[k] as boolean;
    else throw new HttpError(400, `Invalid value for field '${k}': expected a boolean.`);
  }
  if ('metadata' in body) {
    if (body.metadata === null) delete next.metadata;
    else {
      const merged: Record<string, string> = { ...(next.metadata ?? {}) };
      for (const [k, v] of Object.entries(metadataMap(body.metadata))) {
        if (v === null) delete merged[k];
        else merged[k] = v;
      }
      next.metadata = merged;
    }
  }
  return checkValues(next);
}

/** objects.update: the writable fields become exactly the body's (storage class is kept). */
export function updateObjectMeta(current: WritableObjectMeta, body: Record<string, unknown>): WritableObjectMeta {
  const next = newObjectMeta({ ...body, storageClass: undefined });
  if (current.storageClass !== undefined) next.storageClass = current.storageClass;
  return next;
}
