// The emulator's IAM half: tokens, policies (project, bucket, managed folder, service account), CEL conditions,
// managed folders, the metadata server and enforcement. See docs/emulator-iam.md.
import type { IamPart, StorageView } from '../contract.js';
import { createAuthorizer } from './authorizer.js';
import { MetadataServers } from './metadata.js';
import { publicBindings } from './policy.js';
import { adminRoutes } from './routes-admin.js';
import { credentialsRoutes } from './routes-credentials.js';
import { folderRoutes } from './routes-folders.js';
import { projectRoutes } from './routes-project.js';
import { storageRoutes } from './routes-storage.js';
import { IamState } from './state.js';

export interface IamOptions {
  adminToken: string;
  /** Clock, for tests of expiry and propagation; default Date.now. */
  now?: () => number;
}

export function createIam(storage: StorageView, opts: IamOptions): IamPart {
  const state = new IamState(storage, opts.adminToken, opts.now);
  const metadata = new MetadataServers(state);
  return {
    authorizer: createAuthorizer(state),
    routes: [
      ...storageRoutes(state),
      ...folderRoutes(state),
      ...projectRoutes(state),
      ...credentialsRoutes(state),
      ...adminRoutes(state, metadata),
    ],
    reset() {
      state.tokens.reset();
      state.policies.clear();
      state.folders.clear();
      state.roles.reset();
      void metadata.closeAll();
    },
    dump() {
      return {
        policies: Object.fromEntries(
          state.policies
            .entries()
            .map(([key, p]) => [key, { version: p.version, etag: p.etag, bindings: publicBindings(p) }]),
        ),
        managedFolders: state.folders.all(),
        customRoles: state.roles.customRoles(),
        tokens: state.tokens.summary(),
        metadataServers: metadata.list(),
      };
    },
    hasManagedFolders: (bucket) => state.folders.list(bucket).length > 0,
    bucketDeleted: (bucket) => state.forgetBucket(bucket),
    close: () => metadata.closeAll(),
  };
}
