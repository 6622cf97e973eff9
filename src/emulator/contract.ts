// The seams between the emulator's parts: the HTTP core (router, objects, buckets, uploads, batch, knobs) and the
// IAM engine (tokens, policies, CEL conditions, managed folders, enforcement). Types only.
import type { IncomingHttpHeaders } from 'node:http';

/** The member string the admin token authenticates as. It acts as project owner. */
export const ADMIN_MEMBER = 'emulator:admin';

/**
 * An error that becomes an HTTP answer. Thrown by handlers and by the Authorizer; the server answers it with
 * `body` when set (APIs whose error shape differs, e.g. IAM Credentials' `status: PERMISSION_DENIED`), otherwise
 * with Cloud Storage's JSON error shape:
 * `{"error": {"code", "message", "errors": [{"message", "domain": "global", "reason"}]}}`.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Google's `errors[].reason`, e.g. `forbidden`, `required`, `invalid`, `conditionNotMet`, `notFound`. */
    readonly reason: string = defaultReason(status),
    /** A complete response body to send instead of the Cloud Storage shape. */
    readonly body?: object,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  /** The JSON body to answer with. */
  toBody(): object {
    return (
      this.body ?? {
        error: {
          code: this.status,
          message: this.message,
          errors: [{ message: this.message, domain: 'global', reason: this.reason }],
        },
      }
    );
  }
}

function defaultReason(status: number): string {
  switch (status) {
    case 400:
      return 'invalid';
    case 401:
      return 'required';
    case 403:
      return 'forbidden';
    case 404:
      return 'notFound';
    case 409:
      return 'conflict';
    case 412:
      return 'conditionNotMet';
    case 429:
      return 'rateLimitExceeded';
    default:
      return 'backendError';
  }
}

export interface EmuRequest {
  method: string;
  /** Full request URL as received (host is the emulator's). */
  url: URL;
  /** Path segments after the route template matched, percent-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Body with any Content-Encoding: gzip already decoded (an empty gzip body is an empty body). */
  body: Buffer;
  /** The authenticated IAM member (ADMIN_MEMBER for the admin token); undefined when the route is public. */
  member: string | undefined;
}

export interface EmuResponse {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a Buffer or string as is. */
  body?: Buffer | string | object;
}

export type Handler = (req: EmuRequest) => Promise<EmuResponse> | EmuResponse;

export interface Route {
  method: string;
  /**
   * Template such as `/storage/v1/b/:bucket/iam`; a final `:name*` captures the rest including `/`. A `:name`
   * segment may end in a literal Google custom verb: `/v1/projects/:project:getIamPolicy` matches
   * `/v1/projects/p1:getIamPolicy` (project = `p1`) and nothing else; the parameter is the segment (percent-decoded)
   * without the verb. IAM and Resource Manager paths need this (`.../serviceAccounts/:email:generateAccessToken`).
   */
  path: string;
  /** Google's method id, used for counters, faults and latency, e.g. `storage.buckets.getIamPolicy`. */
  op: string;
  /** `bearer` (default): the request must carry a valid token; `admin`: the admin token; `none`: public. */
  auth?: 'bearer' | 'admin' | 'none';
  /** When set, the route matches only paths whose parameters it accepts (a catch-all that must leave some alone). */
  accepts?: (params: Record<string, string>) => boolean;
  handler: Handler;
}

/** What a permission check is about. */
export interface ResourceRef {
  bucket: string;
  /** Object name for object-level permissions. */
  object?: string;
  /** Managed folder name (ending in `/`) for managedFolders.* permissions. */
  managedFolder?: string;
  /** For storage.objects.list: the request's `prefix` ('' when absent). */
  listPrefix?: string;
}

export interface Authorizer {
  /** Maps an `Authorization` header to a member; throws HttpError 401 when missing, unknown or expired. */
  authenticate(authorization: string | undefined): string;
  /** Throws HttpError 403 with Google's message when `member` lacks `permission` on `resource`. */
  require(member: string, permission: string, resource: ResourceRef): void;
  /** Non-throwing form, for testIamPermissions and for list filtering. */
  allowed(member: string, permission: string, resource: ResourceRef): boolean;
}

/** Runtime knobs, settable at start and through `PUT /_emulator/config` (partial updates merge). */
export interface EmulatorConfig {
  /** Added to every call before it is answered. */
  latencyMs: number;
  /** Bucket metadata writes (IAM policy, lifecycle, bucket patch) allowed per second per bucket; 0 = unlimited. */
  bucketWriteLimitPerSecond: number;
  /** A new grant takes effect only after this many ms. */
  iamPropagationDelayMs: number;
  faults: FaultRule[];
}

export interface FaultRule {
  /** Google method id (Route.op) or `*`. */
  op: string;
  /** 0..1 chance per matching call. */
  rate: number;
  /**
   * HTTP status to answer, or `reset` (destroy the socket), or `slow` (delay by delayMs, then answer normally), or
   * `malformedJson` (answer 200 with a JSON content type and a body that is not JSON; the call has no effect), or
   * `truncated` (the call takes effect, then the connection closes after half of its answer's body, with the full
   * Content-Length announced: the client cannot know whether it happened).
   */
  kind: number | 'reset' | 'slow' | 'malformedJson' | 'truncated';
  delayMs?: number;
  /** Only for calls by this member, if set. */
  member?: string;
}

/** What the IAM part needs from the storage part. */
export interface StorageView {
  bucketExists(bucket: string): boolean;
  uniformBucketLevelAccess(bucket: string): boolean;
  /** True when any live object name starts with `prefix`. */
  hasObjectsUnder(bucket: string, prefix: string): boolean;
  /** Counts one bucket-metadata write; throws HttpError 429 when over the configured per-bucket rate. */
  bucketMetadataWrite(bucket: string): void;
  config(): EmulatorConfig;
  projectId: string;
  projectNumber: string;
  /** The emulator's own base URL, e.g. http://127.0.0.1:4443 */
  baseUrl(): string;
}

/** What the IAM part gives the server. */
export interface IamPart {
  authorizer: Authorizer;
  routes: Route[];
  /** Forget every policy, token (except the admin token), custom role and managed folder. */
  reset(): void;
  /** JSON-able state for `GET /_emulator/state`. */
  dump(): unknown;
  /**
   * Whether the bucket holds managed folders. Google refuses to delete such a bucket (409, like objects): the
   * storage part should ask before a bucket delete.
   */
  hasManagedFolders?(bucket: string): boolean;
  /** Call after a bucket is deleted: its IAM policy and managed folders go with it (a re-created bucket starts clean). */
  bucketDeleted?(bucket: string): void;
  /** Stops anything the IAM part listens on (per-principal metadata servers); call when the emulator stops. */
  close?(): Promise<void>;
}
