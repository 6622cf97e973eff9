// Small request/response helpers shared by the IAM routes.
import { type EmuRequest, HttpError } from '../contract.js';
import { requestObject } from '../json.js';
import { PolicyWriteError } from './policy.js';

/** The request body as a JSON object (an empty body is `{}`; nulls are absent except in a PATCH). */
export function objectBody(req: EmuRequest): Record<string, unknown> {
  return requestObject(req);
}

/** The member a bearer route was called by (the server authenticated it). */
export function caller(req: EmuRequest): string {
  if (req.member === undefined) throw new HttpError(401, 'Invalid Credentials', 'authError');
  return req.member;
}

/** The error shape of Google's One Platform APIs (Resource Manager, IAM, IAM Credentials). */
export function platformError(code: number, status: string, message: string, details?: object[]): HttpError {
  const reason =
    { 400: 'badRequest', 403: 'forbidden', 404: 'notFound', 409: 'aborted', 429: 'rateLimitExceeded' }[code] ??
    'backendError';
  return new HttpError(code, message, reason, {
    error: {
      code,
      message,
      errors: [{ message, domain: 'global', reason }],
      status,
      ...(details ? { details } : {}),
    },
  });
}

/** A storage-API form of a PolicyWriteError. */
export function storagePolicyError(err: unknown): unknown {
  if (err instanceof PolicyWriteError) return new HttpError(err.status, err.message);
  return err;
}

/** A Resource Manager / IAM form of a PolicyWriteError (409 ABORTED on a stale etag). */
export function platformPolicyError(err: unknown): unknown {
  if (err instanceof PolicyWriteError) {
    return platformError(err.status, err.status === 400 ? 'INVALID_ARGUMENT' : 'ABORTED', err.message);
  }
  return err;
}

/** The values of a repeated query parameter (`?permissions=a&permissions=b`, also comma-separated). */
export function repeated(query: URLSearchParams, name: string): string[] {
  return query
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}
