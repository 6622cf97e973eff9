// A minimal stand-in for the IAM half (src/emulator/iam/), used until that lands: only the admin token
// authenticates, and it may do everything. Also answers the metadata server's project lookups that gcloud makes.
import { ADMIN_MEMBER, HttpError, type IamPart, type StorageView } from './contract.js';

export function createStandinIam(storage: StorageView, opts: { adminToken: string }): IamPart {
  const forbidden = (member: string, permission: string) =>
    new HttpError(
      403,
      `${member} does not have ${permission} access. Permission '${permission}' denied on resource (or it may not exist).`,
      'forbidden',
    );
  return {
    authorizer: {
      authenticate(authorization) {
        const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
        if (!m || m[1] !== opts.adminToken) throw new HttpError(401, 'Invalid Credentials', 'authError');
        return ADMIN_MEMBER;
      },
      require(member, permission) {
        if (member !== ADMIN_MEMBER) throw forbidden(member, permission);
      },
      allowed: (member) => member === ADMIN_MEMBER,
    },
    routes: [
      {
        method: 'GET',
        path: '/computeMetadata/v1/project/numeric-project-id',
        op: 'metadata.get',
        auth: 'none',
        handler: () => ({
          status: 200,
          headers: { 'content-type': 'application/text', 'metadata-flavor': 'Google' },
          body: storage.projectNumber,
        }),
      },
      {
        method: 'GET',
        path: '/computeMetadata/v1/project/project-id',
        op: 'metadata.get',
        auth: 'none',
        handler: () => ({
          status: 200,
          headers: { 'content-type': 'application/text', 'metadata-flavor': 'Google' },
          body: storage.projectId,
        }),
      },
    ],
    reset() {},
    dump: () => ({ standin: true }),
  };
}
