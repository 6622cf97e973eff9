// What the HTTP core's route handlers share: the store, the IAM part, knobs, and small request helpers.
import { type Authorizer, type EmulatorConfig, type EmuRequest, HttpError, type IamPart } from './contract.js';
import { requestObject } from './json.js';
import type { BucketWriteLimiter, Counters } from './knobs.js';
import type { RequestLog } from './request-log.js';
import type { Store, StoredBucket, StoredObject } from './store.js';
import type { UploadSessions } from './upload-sessions.js';

export interface CoreContext {
  store: Store;
  iam: () => IamPart;
  config: () => EmulatorConfig;
  setConfig: (c: EmulatorConfig) => void;
  counters: Counters;
  requestLog: RequestLog;
  limiter: BucketWriteLimiter;
  uploads: UploadSessions;
  baseUrl: () => string;
  projectId: string;
  projectNumber: string;
}

export function authz(ctx: CoreContext): Authorizer {
  return ctx.iam().authorizer;
}

/** The authenticated member of a bearer route. */
export function memberOf(req: EmuRequest): string {
  if (req.member === undefined) throw new HttpError(401, 'Invalid Credentials', 'authError');
  return req.member;
}

export function pathParam(req: EmuRequest, name: string): string {
  const v = req.params[name];
  if (v === undefined || v === '') throw new HttpError(400, `Missing path parameter '${name}'.`, 'required');
  return v;
}

export function noSuchBucket(): HttpError {
  return new HttpError(404, 'The specified bucket does not exist.', 'notFound');
}

export function noSuchObject(bucket: string, name: string): HttpError {
  return new HttpError(404, `No such object: ${bucket}/${name}`, 'notFound');
}

export function getBucket(ctx: CoreContext, name: string): StoredBucket {
  const b = ctx.store.bucket(name);
  if (!b) throw noSuchBucket();
  return b;
}

/** The live object; with `generation`, only when that is the live generation (older ones are not kept). */
export function getObject(ctx: CoreContext, bucket: string, name: string, generation?: number): StoredObject {
  const b = getBucket(ctx, bucket);
  const o = b.objects.get(name);
  if (!o || (generation !== undefined && o.generation !== generation)) throw noSuchObject(bucket, name);
  return o;
}

/** The JSON body as an object (empty body = {}; nulls are absent except in a PATCH); 400 when not an object. */
export function jsonObject(req: EmuRequest): Record<string, unknown> {
  return requestObject(req);
}

export function boolParam(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  if (v === null || v === '') return false;
  const l = v.toLowerCase();
  if (l === 'true' || l === '1') return true;
  if (l === 'false' || l === '0') return false;
  throw new HttpError(400, `Invalid boolean value for ${name}: '${v}'.`);
}

/** Google's object name rules: 1..1024 UTF-8 bytes, no CR/LF, not `.` or `..`. */
export function checkObjectName(name: string | undefined): string {
  if (name === undefined || name === '') throw new HttpError(400, 'Required parameter: name', 'required');
  if (Buffer.byteLength(name) > 1024) throw new HttpError(400, 'The object name is too long (over 1024 bytes).');
  if (/[\r\n]/.test(name)) throw new HttpError(400, 'Object names cannot contain carriage return or line feed.');
  if (name === '.' || name === '..') throw new HttpError(400, `The object name '${name}' is not valid.`);
  return name;
}
