// What the playground prepares in the emulator, with the admin token, before the controller starts: a bucket with
// uniform bucket-level access, a custom role holding exactly the controller's permissions (docs/access.md), that
// role granted to the controller's service account on the bucket (never project-wide, never storage.admin), and a
// metadata server that hands the controller tokens for that service account, as GKE's would.

/** The GCS permissions the controller needs, for both access modes (see README "Permissions"). */
export const CONTROLLER_PERMISSIONS = [
  // the policy's Ready check
  'storage.buckets.get',
  // the orphan scan and last-write times
  'storage.objects.list',
  // ManagedFolder mode: one folder per job and its IAM policy
  'storage.managedFolders.create',
  'storage.managedFolders.list',
  'storage.managedFolders.getIamPolicy',
  'storage.managedFolders.setIamPolicy',
  // BucketCondition mode: the job's conditional binding in the bucket policy
  'storage.buckets.getIamPolicy',
  'storage.buckets.setIamPolicy',
  // garbage collection: delete a stale prefix's objects, then its managed folder (ManagedFolder mode)
  'storage.objects.delete',
  'storage.managedFolders.delete',
] as const;

export interface PlaygroundGcs {
  project: string;
  projectNumber: string;
  bucket: string;
  controllerServiceAccount: string;
  /** host:port of the controller's metadata server (GCE_METADATA_HOST). */
  metadataHost: string;
}

async function call(base: string, token: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export async function prepareGcs(
  base: string,
  adminToken: string,
  o: { project: string; projectNumber: string; bucket: string },
): Promise<PlaygroundGcs> {
  const sa = `tidemark-controller@${o.project}.iam.gserviceaccount.com`;
  await call(base, adminToken, 'POST', `/storage/v1/b?project=${o.project}`, {
    name: o.bucket,
    iamConfiguration: { uniformBucketLevelAccess: { enabled: true } },
  });
  await call(base, adminToken, 'PUT', '/_emulator/roles/tidemarkController', {
    title: 'Tidemark controller',
    includedPermissions: CONTROLLER_PERMISSIONS,
  });
  const policy = (await call(
    base,
    adminToken,
    'GET',
    `/storage/v1/b/${o.bucket}/iam?optionsRequestedPolicyVersion=3`,
  )) as { bindings?: unknown[]; etag?: string };
  await call(base, adminToken, 'PUT', `/storage/v1/b/${o.bucket}/iam`, {
    version: 3,
    etag: policy.etag,
    bindings: [
      ...(policy.bindings ?? []),
      { role: `projects/${o.project}/roles/tidemarkController`, members: [`serviceAccount:${sa}`] },
    ],
  });
  const md = (await call(base, adminToken, 'POST', '/_emulator/metadata-servers', {
    principal: `serviceAccount:${sa}`,
  })) as { host: string };
  return { ...o, controllerServiceAccount: sa, metadataHost: md.host };
}
