// The admission.k8s.io/v1 AdmissionReview wire format, and what a decision turns into on the wire. Pure.
//
// A decision is Allow (with an optional JSON patch and warnings) or Deny (an HTTP-like code and a message the user
// sees in kubectl's error). Malformed input is a Deny with code 400 and a message naming what is wrong; the server
// never answers a review with an HTTP error (the API server would report a 500 or apply failurePolicy).

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  resource?: { group?: string; version?: string; resource?: string };
  operation?: string;
  name?: string;
  namespace?: string;
  dryRun?: boolean;
  object?: unknown;
  oldObject?: unknown;
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patchType?: 'JSONPatch';
  /** base64 of the JSON patch. */
  patch?: string;
  warnings?: string[];
}

export interface PatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

export type Decision =
  | { allowed: true; patch: PatchOp[]; warnings: string[] }
  | { allowed: false; code: number; message: string; warnings?: string[] };

export const allow = (patch: PatchOp[] = [], warnings: string[] = []): Decision => ({ allowed: true, patch, warnings });
export const deny = (code: number, message: string): Decision => ({ allowed: false, code, message });

/** RFC 6901: a key as one JSON-pointer segment. */
export function pointer(...segments: string[]): string {
  return segments.map((s) => `/${s.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** Kubernetes limits a warning to 256 characters (longer ones are cut by the API server); keep them readable. */
const MAX_WARNING = 256;

function warning(text: string): string {
  // Warnings must be printable ASCII-ish single lines; the API server drops ones with control characters.
  const oneLine = text.replace(/[\r\n\t]+/g, ' ');
  return oneLine.length <= MAX_WARNING ? oneLine : `${oneLine.slice(0, MAX_WARNING - 1)}…`;
}

/** The response for a decision on request `uid`. */
export function toResponse(uid: string, d: Decision): AdmissionResponse {
  const warnings = (d.warnings ?? []).map(warning);
  if (!d.allowed) {
    return {
      uid,
      allowed: false,
      status: { code: d.code, message: d.message, reason: d.code === 400 ? 'BadRequest' : 'Forbidden' },
      ...(warnings.length > 0 ? { warnings } : {}),
    };
  }
  return {
    uid,
    allowed: true,
    ...(d.patch.length > 0
      ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(d.patch)).toString('base64') }
      : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** Parses a request body into a review; a string error names what is wrong. */
export function parseReview(body: string): { ok: true; request: AdmissionRequest } | { ok: false; error: string } {
  let review: unknown;
  try {
    review = JSON.parse(body);
  } catch {
    return { ok: false, error: 'the body is not JSON' };
  }
  if (!isObject(review)) return { ok: false, error: 'the body is not an AdmissionReview object' };
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    return { ok: false, error: 'only admission.k8s.io/v1 AdmissionReview is served' };
  }
  const req = review.request;
  if (!isObject(req) || typeof req.uid !== 'string' || req.uid === '') {
    return { ok: false, error: 'the AdmissionReview has no request.uid' };
  }
  return { ok: true, request: req as unknown as AdmissionRequest };
}

export function reviewResponse(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A map of strings (absent = empty), or an error message naming the field. */
export function stringMap(
  value: unknown,
  field: string,
): { ok: true; map: Record<string, string> } | { ok: false; error: string } {
  if (value === undefined || value === null) return { ok: true, map: {} };
  if (!isObject(value)) return { ok: false, error: `${field} must be a map of strings, not ${describe(value)}` };
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      return { ok: false, error: `${field}[${JSON.stringify(k.slice(0, 100))}] must be a string, not ${describe(v)}` };
    }
  }
  return { ok: true, map: value as Record<string, string> };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}
