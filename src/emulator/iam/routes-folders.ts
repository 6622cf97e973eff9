// Managed folders (`/storage/v1/b/:bucket/managedFolders`) and their IAM policies.
import { type EmuRequest, type EmuResponse, HttpError, type Route } from '../contract.js';
import { cmp, type ManagedFolder, normalizeFolderName } from './folders.js';
import { caller, objectBody } from './http.js';
import { applyWrite, parsePolicy, readVersion } from './policy.js';
import { askedPermissions, noSuchBucket, requireOn, storagePolicyJson, wrapPolicyError } from './routes-storage.js';
import { folderKey, type IamState } from './state.js';

const MAX_PAGE = 1000;

function folderJson(baseUrl: string, f: ManagedFolder): object {
  const path = `b/${encodeURIComponent(f.bucket)}/managedFolders/${encodeURIComponent(f.name)}`;
  return {
    kind: 'storage#managedFolder',
    id: `${f.bucket}/${f.name}`,
    selfLink: `${baseUrl}/storage/v1/${path}`,
    name: f.name,
    bucket: f.bucket,
    createTime: f.createTime,
    updateTime: f.updateTime,
    metageneration: String(f.metageneration),
  };
}

function noSuchFolder(): HttpError {
  return new HttpError(404, 'The specified managed folder does not exist.', 'notFound');
}

/** ifMetagenerationMatch / ifMetagenerationNotMatch on a managed folder; 412 when they fail. */
function checkPreconditions(req: EmuRequest, f: ManagedFolder): void {
  const match = req.query.get('ifMetagenerationMatch');
  const notMatch = req.query.get('ifMetagenerationNotMatch');
  for (const [name, v] of [
    ['ifMetagenerationMatch', match],
    ['ifMetagenerationNotMatch', notMatch],
  ] as const) {
    if (v !== null && !/^\d+$/.test(v)) throw new HttpError(400, `Invalid value for ${name}: ${v}`);
  }
  if (match !== null && Number(match) !== f.metageneration) {
    throw new HttpError(412, 'Precondition Failed', 'conditionNotMet');
  }
  if (notMatch !== null && Number(notMatch) === f.metageneration) {
    throw new HttpError(412, 'Precondition Failed', 'conditionNotMet');
  }
}

export function folderRoutes(state: IamState): Route[] {
  const bucketOf = (req: EmuRequest): string => {
    const b = req.params.bucket;
    if (!b) throw new HttpError(400, 'Missing path parameter bucket.');
    return b;
  };
  /** The folder named in the path (percent-decoded by the router; a missing final '/' is added). */
  const nameOf = (req: EmuRequest): string => {
    try {
      return normalizeFolderName(req.params.folder);
    } catch (err) {
      throw new HttpError(400, err instanceof Error ? err.message : String(err));
    }
  };
  const existing = (bucket: string, name: string): ManagedFolder => {
    if (!state.storage.bucketExists(bucket)) {
      state.forgetBucket(bucket);
      throw noSuchBucket();
    }
    const f = state.folders.get(bucket, name);
    if (!f) throw noSuchFolder();
    return f;
  };

  const insert = (req: EmuRequest): EmuResponse => {
    const bucket = bucketOf(req);
    const body = objectBody(req);
    let name: string;
    try {
      name = normalizeFolderName(body.name);
    } catch (err) {
      throw new HttpError(400, err instanceof Error ? err.message : String(err));
    }
    requireOn(state, caller(req), 'storage.managedFolders.create', { bucket, managedFolder: name });
    if (!state.bucketPolicy(bucket)) throw noSuchBucket();
    if (!state.storage.uniformBucketLevelAccess(bucket)) {
      throw new HttpError(
        400,
        'Managed folders can only be created in buckets that have uniform bucket-level access enabled.',
      );
    }
    if (state.folders.get(bucket, name)) {
      throw new HttpError(409, 'The managed folder you tried to create already exists.', 'conflict');
    }
    const f = state.folders.create(bucket, name, new Date(state.now()));
    return { status: 200, body: folderJson(state.storage.baseUrl(), f) };
  };

  const get = (req: EmuRequest): EmuResponse => {
    const bucket = bucketOf(req);
    const name = nameOf(req);
    requireOn(state, caller(req), 'storage.managedFolders.get', { bucket, managedFolder: name });
    const f = existing(bucket, name);
    checkPreconditions(req, f);
    return { status: 200, body: folderJson(state.storage.baseUrl(), f) };
  };

  const list = (req: EmuRequest): EmuResponse => {
    const bucket = bucketOf(req);
    const member = caller(req);
    const prefix = req.query.get('prefix') ?? '';
    // Bucket-wide, or within a managed folder that grants list on the prefix (a folder-only grant).
    const bucketWide = state.allowed(member, 'storage.managedFolders.list', { kind: 'storage', ref: { bucket } });
    if (!bucketWide) requireOn(state, member, 'storage.managedFolders.list', { bucket, managedFolder: prefix });
    if (!state.bucketPolicy(bucket)) throw noSuchBucket();
    const rawSize = req.query.get('pageSize') ?? req.query.get('maxResults');
    let size = MAX_PAGE;
    if (rawSize !== null) {
      if (!/^\d+$/.test(rawSize) || Number(rawSize) < 1) throw new HttpError(400, `Invalid pageSize: ${rawSize}`);
      size = Math.min(Number(rawSize), MAX_PAGE);
    }
    const token = req.query.get('pageToken');
    let after: string | undefined;
    if (token) {
      after = Buffer.from(token, 'base64url').toString('utf8');
      if (!after) throw new HttpError(400, 'Invalid pageToken.');
    }
    const all = state.folders.list(bucket, prefix).filter((f) => after === undefined || cmp(f.name, after) > 0);
    const page = all.slice(0, size);
    const last = page[page.length - 1];
    return {
      status: 200,
      body: {
        kind: 'storage#managedFolders',
        ...(page.length > 0 ? { items: page.map((f) => folderJson(state.storage.baseUrl(), f)) } : {}),
        ...(all.length > size && last ? { nextPageToken: Buffer.from(last.name).toString('base64url') } : {}),
      },
    };
  };

  const del = (req: EmuRequest): EmuResponse => {
    const bucket = bucketOf(req);
    const name = nameOf(req);
    requireOn(state, caller(req), 'storage.managedFolders.delete', { bucket, managedFolder: name });
    const f = existing(bucket, name);
    checkPreconditions(req, f);
    const allowNonEmpty = req.query.get('allowNonEmpty') === 'true';
    if (!allowNonEmpty && (state.storage.hasObjectsUnder(bucket, name) || state.folders.hasNested(bucket, name))) {
      throw new HttpError(
        409,
        `The managed folder ${name} is not empty: delete its objects and managed folders first, or pass ` +
          'allowNonEmpty=true.',
        'conflict',
      );
    }
    state.folders.delete(bucket, name);
    // Its grants outlive it by the propagation delay, like any revoke.
    state.policies.remove(folderKey(bucket, name));
    return { status: 204 };
  };

  const getPolicy = (req: EmuRequest): EmuResponse => {
    const bucket = bucketOf(req);
    const name = nameOf(req);
    requireOn(state, caller(req), 'storage.managedFolders.getIamPolicy', { bucket, managedFolder: name });
    existing(bucket, name);
    const policy = state.folderPolicy(bucket, name);
    const version = wrapPolicyError(() => readVersion(policy, req.query.get('optionsRequestedPolicyVersion')));
    return { status: 200, body: storagePolicyJson(resourceId(bucket, name), policy, version) };
  };

  const setPolicy = (req: EmuRequest): EmuResponse => {
    const bucket = bucketOf(req);
    const name = nameOf(req);
    requireOn(state, caller(req), 'storage.managedFolders.setIamPolicy', { bucket, managedFolder: name });
    existing(bucket, name);
    const body = objectBody(req);
    const next = wrapPolicyError(() =>
      applyWrite(
        state.folderPolicy(bucket, name),
        parsePolicy(body, (r) => state.roles.exists(r), 'managedFolder'),
        {
          kind: 'managedFolder',
          uniformBucketLevelAccess: state.storage.uniformBucketLevelAccess(bucket),
        },
      ),
    );
    state.policies.set(folderKey(bucket, name), next);
    state.folders.touch(bucket, name, new Date(state.now()));
    return { status: 200, body: storagePolicyJson(resourceId(bucket, name), next, next.version) };
  };

  const testPermissions = (req: EmuRequest): EmuResponse => {
    const bucket = bucketOf(req);
    const name = nameOf(req);
    const member = caller(req);
    const perms = askedPermissions(req);
    existing(bucket, name);
    const held = perms.filter((p) =>
      state.allowed(member, p, { kind: 'storage', ref: { bucket, managedFolder: name } }),
    );
    return {
      status: 200,
      body: { kind: 'storage#testIamPermissionsResponse', ...(held.length > 0 ? { permissions: held } : {}) },
    };
  };

  const base = '/storage/v1/b/:bucket/managedFolders';
  return [
    { method: 'POST', path: base, op: 'storage.managedFolders.insert', handler: insert },
    { method: 'GET', path: base, op: 'storage.managedFolders.list', handler: list },
    { method: 'GET', path: `${base}/:folder`, op: 'storage.managedFolders.get', handler: get },
    { method: 'DELETE', path: `${base}/:folder`, op: 'storage.managedFolders.delete', handler: del },
    { method: 'GET', path: `${base}/:folder/iam`, op: 'storage.managedFolders.getIamPolicy', handler: getPolicy },
    { method: 'PUT', path: `${base}/:folder/iam`, op: 'storage.managedFolders.setIamPolicy', handler: setPolicy },
    {
      method: 'GET',
      path: `${base}/:folder/iam/testPermissions`,
      op: 'storage.managedFolders.testIamPermissions',
      handler: testPermissions,
    },
  ];
}

function resourceId(bucket: string, folder: string): string {
  return `projects/_/buckets/${bucket}/managedFolders/${folder}`;
}
