// Cloud Storage IAM: bucket policies (`/storage/v1/b/:bucket/iam`) and testIamPermissions.
import { type EmuRequest, type EmuResponse, HttpError, type ResourceRef, type Route } from '../contract.js';
import { denial } from './authorizer.js';
import { caller, objectBody, repeated, storagePolicyError } from './http.js';
import { applyWrite, parsePolicy, publicBindings, readVersion, type StoredPolicy } from './policy.js';
import { permissionError } from './roles.js';
import { bucketKey, type IamState } from './state.js';

export function storagePolicyJson(resourceId: string, policy: StoredPolicy, version: number): object {
  const bindings = publicBindings(policy);
  return {
    kind: 'storage#policy',
    resourceId,
    version,
    etag: policy.etag,
    ...(bindings.length > 0 ? { bindings } : {}),
  };
}

export function noSuchBucket(): HttpError {
  return new HttpError(404, 'The specified bucket does not exist.', 'notFound');
}

/** Checks permission first (a 403 says "or it may not exist"), then existence. */
export function requireOn(state: IamState, member: string, permission: string, ref: ResourceRef): void {
  if (!state.allowed(member, permission, { kind: 'storage', ref })) throw denial(member, permission, ref);
}

/** The permissions asked for in `?permissions=`; 400 when none or malformed. */
export function askedPermissions(req: EmuRequest): string[] {
  const perms = repeated(req.query, 'permissions');
  if (perms.length === 0) throw new HttpError(400, 'Required parameter: permissions', 'required');
  for (const p of perms) {
    const err = permissionError(p);
    if (err) throw new HttpError(400, err);
    if (!p.startsWith('storage.')) throw new HttpError(400, `Permission '${p}' is not valid for this resource.`);
  }
  return perms;
}

export function storageRoutes(state: IamState): Route[] {
  const param = (req: EmuRequest, name: string): string => {
    const v = req.params[name];
    if (v === undefined || v === '') throw new HttpError(400, `Missing path parameter ${name}.`);
    return v;
  };

  const getPolicy = (req: EmuRequest): EmuResponse => {
    const bucket = param(req, 'bucket');
    requireOn(state, caller(req), 'storage.buckets.getIamPolicy', { bucket });
    const policy = state.bucketPolicy(bucket);
    if (!policy) throw noSuchBucket();
    const version = wrapPolicyError(() => readVersion(policy, req.query.get('optionsRequestedPolicyVersion')));
    return { status: 200, body: storagePolicyJson(`projects/_/buckets/${bucket}`, policy, version) };
  };

  const setPolicy = (req: EmuRequest): EmuResponse => {
    const bucket = param(req, 'bucket');
    requireOn(state, caller(req), 'storage.buckets.setIamPolicy', { bucket });
    const current = state.bucketPolicy(bucket);
    if (!current) throw noSuchBucket();
    const body = objectBody(req);
    state.storage.bucketMetadataWrite(bucket);
    const next = wrapPolicyError(() =>
      applyWrite(
        current,
        parsePolicy(body, (r) => state.roles.exists(r), 'bucket'),
        {
          kind: 'bucket',
          uniformBucketLevelAccess: state.storage.uniformBucketLevelAccess(bucket),
        },
      ),
    );
    state.policies.set(bucketKey(bucket), next);
    return { status: 200, body: storagePolicyJson(`projects/_/buckets/${bucket}`, next, next.version) };
  };

  const testPermissions = (req: EmuRequest): EmuResponse => {
    const bucket = param(req, 'bucket');
    const member = caller(req);
    const perms = askedPermissions(req);
    if (!state.storage.bucketExists(bucket)) throw noSuchBucket();
    const held = perms.filter((p) => state.allowed(member, p, { kind: 'storage', ref: { bucket } }));
    return {
      status: 200,
      body: { kind: 'storage#testIamPermissionsResponse', ...(held.length > 0 ? { permissions: held } : {}) },
    };
  };

  return [
    { method: 'GET', path: '/storage/v1/b/:bucket/iam', op: 'storage.buckets.getIamPolicy', handler: getPolicy },
    { method: 'PUT', path: '/storage/v1/b/:bucket/iam', op: 'storage.buckets.setIamPolicy', handler: setPolicy },
    {
      method: 'GET',
      path: '/storage/v1/b/:bucket/iam/testPermissions',
      op: 'storage.buckets.testIamPermissions',
      handler: testPermissions,
    },
  ];
}

export function wrapPolicyError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw storagePolicyError(err);
  }
}
