// Cloud Storage JSON API bucket methods: insert (project-level storage.buckets.create), get, list, patch, update,
// delete (empty buckets only), and getStorageLayout.

import { authz, type CoreContext, getBucket, jsonObject, memberOf, pathParam } from './context.js';
import { type EmuRequest, type EmuResponse, HttpError } from './contract.js';
import type { CoreRoute } from './pipeline.js';
import { checkPreconditions, intParam, readPreconditions } from './preconditions.js';
import { bucketResource } from './resources.js';
import type { LifecycleConfig, StoredBucket } from './store.js';

type BucketFields = Omit<StoredBucket, 'objects' | 'names'>;

const DEFAULT_SOFT_DELETE_SECONDS = 7 * 24 * 3600;
const STORAGE_CLASSES = ['STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE', 'MULTI_REGIONAL', 'REGIONAL'];
const DUAL_REGIONS = ['ASIA1', 'EUR4', 'EUR5', 'EUR7', 'EUR8', 'NAM4'];

/** Google's bucket name rules (the dotted-name DNS rules in short). */
export function bucketNameError(name: string): string | undefined {
  if (name.length < 3 || name.length > 222) return 'Bucket names must be 3 to 63 characters (222 with dots).';
  if (!name.includes('.') && name.length > 63) return 'Bucket names must be 3 to 63 characters (222 with dots).';
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name)) {
    return 'Bucket names may contain only lowercase letters, digits, dashes, underscores and dots, and must start and end with a letter or digit.';
  }
  if (name.startsWith('goog') || name.includes('google'))
    return 'Bucket names cannot begin with "goog" or contain "google".';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'Bucket names cannot be IP addresses.';
  return undefined;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new HttpError(400, `Invalid value for field '${what}': expected an object.`);
  }
  return v as Record<string, unknown>;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new HttpError(400, `Invalid value for field '${what}': expected a boolean.`);
  return v;
}

function lifecycle(v: unknown): LifecycleConfig | undefined {
  if (v === null) return undefined;
  const l = obj(v, 'lifecycle');
  if (l.rule === undefined) return undefined;
  if (!Array.isArray(l.rule)) throw new HttpError(400, "Invalid value for field 'lifecycle.rule': expected a list.");
  for (const [i, r] of l.rule.entries()) {
    const rule = obj(r, `lifecycle.rule[${i}]`);
    const action = obj(rule.action, `lifecycle.rule[${i}].action`);
    if (typeof action.type !== 'string') throw new HttpError(400, `lifecycle.rule[${i}].action.type is required.`);
    obj(rule.condition, `lifecycle.rule[${i}].condition`);
  }
  return l.rule.length > 0 ? { rule: structuredClone(l.rule) } : undefined;
}

function labels(v: unknown, current: Record<string, string> | undefined, merge: boolean): Record<string, string> {
  if (v === null) return {};
  const out: Record<string, string> = merge ? { ...(current ?? {}) } : {};
  for (const [k, val] of Object.entries(obj(v, 'labels'))) {
    if (val === null) delete out[k];
    else if (typeof val === 'string') out[k] = val;
    else throw new HttpError(400, `Invalid value for label '${k}': expected a string.`);
  }
  return out;
}

/** Applies the writable bucket fields of `body` (patch semantics: absent fields are kept). */
function applyBucketFields(b: BucketFields, body: Record<string, unknown>, now: number, merge: boolean): void {
  if (body.storageClass !== undefined) {
    if (typeof body.storageClass !== 'string' || !STORAGE_CLASSES.includes(body.storageClass.toUpperCase())) {
      throw new HttpError(400, `Invalid storage class '${String(body.storageClass)}'.`);
    }
    b.storageClass = body.storageClass.toUpperCase();
  }
  if (body.iamConfiguration !== undefined && body.iamConfiguration !== null) {
    const iam = obj(body.iamConfiguration, 'iamConfiguration');
    const ubla = iam.uniformBucketLevelAccess ?? iam.bucketPolicyOnly;
    if (ubla !== undefined && ubla !== null) {
      const enabled = obj(ubla, 'iamConfiguration.uniformBucketLevelAccess').enabled;
      if (enabled !== undefined) {
        const on = bool(enabled, 'iamConfiguration.uniformBucketLevelAccess.enabled');
        if (!on && b.hierarchicalNamespace) {
          throw new HttpError(
            400,
            'Uniform bucket-level access cannot be disabled on a bucket with hierarchical namespace.',
          );
        }
        if (on && !b.uniformBucketLevelAccess) b.ublaSince = now;
        if (!on) delete b.ublaSince;
        b.uniformBucketLevelAccess = on;
      }
    }
    if (iam.publicAccessPrevention !== undefined) {
      if (iam.publicAccessPrevention !== 'inherited' && iam.publicAccessPrevention !== 'enforced') {
        throw new HttpError(400, "iamConfiguration.publicAccessPrevention must be 'inherited' or 'enforced'.");
      }
      b.publicAccessPrevention = iam.publicAccessPrevention;
    }
  }
  if (body.softDeletePolicy !== undefined) {
    if (body.softDeletePolicy === null) b.softDeleteRetentionSeconds = 0;
    else {
      const sd = obj(body.softDeletePolicy, 'softDeletePolicy');
      const secs = Number(sd.retentionDurationSeconds ?? 0);
      if (!Number.isInteger(secs) || secs < 0 || (secs > 0 && (secs < 7 * 86400 || secs > 90 * 86400))) {
        throw new HttpError(
          400,
          'softDeletePolicy.retentionDurationSeconds must be 0 or between 604800 (7 days) and 7776000 (90 days).',
        );
      }
      b.softDeleteRetentionSeconds = secs;
      b.softDeleteEffectiveTime = now;
    }
  }
  if (body.lifecycle !== undefined) {
    const l = lifecycle(body.lifecycle);
    if (l) b.lifecycle = l;
    else delete b.lifecycle;
  }
  if (body.versioning !== undefined) {
    b.versioning =
      body.versioning === null
        ? false
        : bool(obj(body.versioning, 'versioning').enabled ?? false, 'versioning.enabled');
  }
  if (body.labels !== undefined) b.labels = labels(body.labels, b.labels, merge);
}

export function bucketRoutes(ctx: CoreContext): CoreRoute[] {
  const res = (b: StoredBucket): EmuResponse => ({
    status: 200,
    body: bucketResource(b, ctx.baseUrl(), ctx.projectNumber),
  });

  const checkProject = (req: EmuRequest): void => {
    const project = req.query.get('project');
    if (!project) throw new HttpError(400, 'Required parameter: project', 'required');
    if (project !== ctx.projectId && project !== ctx.projectNumber) {
      throw new HttpError(
        404,
        `The project '${project}' does not exist in this emulator (it serves project ${ctx.projectId}).`,
        'notFound',
      );
    }
  };

  const insert = (req: EmuRequest): EmuResponse => {
    const body = jsonObject(req);
    const name = body.name;
    if (typeof name !== 'string' || name === '') throw new HttpError(400, 'Required parameter: name', 'required');
    authz(ctx).require(memberOf(req), 'storage.buckets.create', { bucket: name });
    checkProject(req);
    const err = bucketNameError(name);
    if (err) throw new HttpError(400, `Invalid bucket name: '${name}'. ${err}`);
    if (ctx.store.bucket(name)) {
      throw new HttpError(
        409,
        'Your previous request to create the named bucket succeeded and you already own it.',
        'conflict',
      );
    }
    const now = ctx.store.now();
    const location = typeof body.location === 'string' ? body.location.toUpperCase() : 'US';
    const b: BucketFields = {
      name,
      timeCreated: now,
      updated: now,
      metageneration: 1,
      location,
      locationType:
        location === 'US' || location === 'EU' || location === 'ASIA'
          ? 'multi-region'
          : DUAL_REGIONS.includes(location)
            ? 'dual-region'
            : 'region',
      storageClass: 'STANDARD',
      uniformBucketLevelAccess: false,
      publicAccessPrevention: 'inherited',
      softDeleteRetentionSeconds: DEFAULT_SOFT_DELETE_SECONDS,
      softDeleteEffectiveTime: now,
      hierarchicalNamespace: false,
      versioning: false,
    };
    if (body.hierarchicalNamespace !== undefined && body.hierarchicalNamespace !== null) {
      b.hierarchicalNamespace = bool(
        obj(body.hierarchicalNamespace, 'hierarchicalNamespace').enabled ?? false,
        'hierarchicalNamespace.enabled',
      );
    }
    const hns = b.hierarchicalNamespace;
    b.hierarchicalNamespace = false; // so that the UBLA check below sees the request, not this default
    applyBucketFields(b, body, now, false);
    if (hns && !b.uniformBucketLevelAccess) {
      throw new HttpError(400, 'Hierarchical namespace requires uniform bucket-level access to be enabled.');
    }
    b.hierarchicalNamespace = hns;
    return res(ctx.store.addBucket(b));
  };

  const get = (req: EmuRequest): EmuResponse => {
    const bucket = pathParam(req, 'bucket');
    authz(ctx).require(memberOf(req), 'storage.buckets.get', { bucket });
    const b = getBucket(ctx, bucket);
    checkBucketPreconditions(b, req.query);
    return res(b);
  };

  const list = (req: EmuRequest): EmuResponse => {
    authz(ctx).require(memberOf(req), 'storage.buckets.list', { bucket: '' });
    checkProject(req);
    const prefix = req.query.get('prefix') ?? '';
    const max = Math.min(intParam(req.query, 'maxResults') || 1000, 1000);
    const token = req.query.get('pageToken');
    const start = token ? Buffer.from(token, 'base64url').toString('utf8') : '';
    const names = [...ctx.store.buckets.keys()].filter((n) => n.startsWith(prefix) && n >= start).sort();
    const page = names.slice(0, max);
    const body: Record<string, unknown> = { kind: 'storage#buckets' };
    if (page.length > 0)
      body.items = page.map((n) =>
        bucketResource(ctx.store.bucket(n) as StoredBucket, ctx.baseUrl(), ctx.projectNumber),
      );
    const next = names[max];
    if (next !== undefined) body.nextPageToken = Buffer.from(next).toString('base64url');
    return { status: 200, body };
  };

  const modify = (req: EmuRequest, replace: boolean): EmuResponse => {
    const bucket = pathParam(req, 'bucket');
    authz(ctx).require(memberOf(req), 'storage.buckets.update', { bucket });
    const b = getBucket(ctx, bucket);
    checkBucketPreconditions(b, req.query);
    const body = jsonObject(req);
    if (body.hierarchicalNamespace !== undefined) {
      const want = obj(body.hierarchicalNamespace ?? {}, 'hierarchicalNamespace').enabled ?? false;
      if (want !== b.hierarchicalNamespace) {
        throw new HttpError(400, 'The hierarchical namespace setting of a bucket cannot be changed after creation.');
      }
    }
    if (body.location !== undefined && String(body.location).toUpperCase() !== b.location) {
      throw new HttpError(400, 'The location of a bucket cannot be changed.');
    }
    // Work on a copy so that a refused write (400, 429) changes nothing.
    const next: StoredBucket = { ...b, ...(b.labels ? { labels: { ...b.labels } } : {}) };
    const now = ctx.store.now();
    if (replace) {
      // update: fields the body leaves out go back to their defaults.
      next.lifecycle = undefined;
      next.labels = undefined;
      next.versioning = false;
    }
    applyBucketFields(next, body, now, !replace);
    ctx.limiter.write(bucket, ctx.config().bucketWriteLimitPerSecond);
    Object.assign(b, next);
    if (next.lifecycle === undefined) delete b.lifecycle;
    if (next.labels === undefined) delete b.labels;
    b.metageneration++;
    b.updated = now;
    return res(b);
  };

  const del = (req: EmuRequest): EmuResponse => {
    const bucket = pathParam(req, 'bucket');
    authz(ctx).require(memberOf(req), 'storage.buckets.delete', { bucket });
    const b = getBucket(ctx, bucket);
    checkBucketPreconditions(b, req.query);
    if (b.objects.size > 0) throw new HttpError(409, 'The bucket you tried to delete is not empty.', 'conflict');
    const iam = ctx.iam();
    if (iam.hasManagedFolders?.(bucket)) {
      throw new HttpError(409, 'The bucket you tried to delete is not empty (it holds managed folders).', 'conflict');
    }
    ctx.store.deleteBucket(bucket);
    ctx.limiter.forget(bucket);
    iam.bucketDeleted?.(bucket);
    return { status: 204 };
  };

  /** getStorageLayout needs storage.objects.list (for `prefix` when given), not storage.buckets.get. */
  const storageLayout = (req: EmuRequest): EmuResponse => {
    const bucket = pathParam(req, 'bucket');
    authz(ctx).require(memberOf(req), 'storage.objects.list', { bucket, listPrefix: req.query.get('prefix') ?? '' });
    const b = getBucket(ctx, bucket);
    return {
      status: 200,
      body: {
        kind: 'storage#storageLayout',
        bucket: b.name,
        location: b.location,
        locationType: b.locationType,
        hierarchicalNamespace: { enabled: b.hierarchicalNamespace },
      },
    };
  };

  return [
    { method: 'POST', path: '/storage/v1/b', op: 'storage.buckets.insert', handler: insert },
    { method: 'GET', path: '/storage/v1/b', op: 'storage.buckets.list', handler: list },
    { method: 'GET', path: '/storage/v1/b/:bucket', op: 'storage.buckets.get', handler: get },
    { method: 'PATCH', path: '/storage/v1/b/:bucket', op: 'storage.buckets.patch', handler: (r) => modify(r, false) },
    { method: 'PUT', path: '/storage/v1/b/:bucket', op: 'storage.buckets.update', handler: (r) => modify(r, true) },
    { method: 'DELETE', path: '/storage/v1/b/:bucket', op: 'storage.buckets.delete', handler: del },
    {
      method: 'GET',
      path: '/storage/v1/b/:bucket/storageLayout',
      op: 'storage.buckets.getStorageLayout',
      handler: storageLayout,
    },
  ];
}

/** Buckets have only metagenerations: `ifMetagenerationMatch` / `ifMetagenerationNotMatch` (412 on failure). */
function checkBucketPreconditions(b: StoredBucket, query: URLSearchParams): void {
  const { ifMetagenerationMatch, ifMetagenerationNotMatch } = readPreconditions(query);
  checkPreconditions(
    { generation: 0, metageneration: b.metageneration },
    {
      ...(ifMetagenerationMatch !== undefined ? { ifMetagenerationMatch } : {}),
      ...(ifMetagenerationNotMatch !== undefined ? { ifMetagenerationNotMatch } : {}),
    },
  );
}
