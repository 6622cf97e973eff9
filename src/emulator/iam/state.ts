// The IAM half's state — roles, policies, managed folders, tokens — and the decisions over it: which policies
// apply to a resource, and whether a member holds a permission there.
import { ADMIN_MEMBER, type ResourceRef, type StorageView } from '../contract.js';
import { type ConditionInput, LIST_PREFIX_ATTRIBUTE } from './conditions.js';
import { ManagedFolderStore } from './folders.js';
import { type Caller, callerOf, type MatchContext, memberMatches } from './members.js';
import { type Binding, initialPolicy, PolicyStore, type StoredPolicy } from './policy.js';
import { RoleRegistry } from './roles.js';
import { TokenStore } from './tokens.js';

/** What a permission is checked on. */
export type Target =
  | { kind: 'storage'; ref: ResourceRef }
  | { kind: 'project' }
  | { kind: 'serviceAccount'; email: string };

export const PROJECT_KEY = 'project';
export const bucketKey = (bucket: string): string => `b/${bucket}`;
export const folderKey = (bucket: string, folder: string): string => `b/${bucket}/f/${folder}`;
export const serviceAccountKey = (email: string): string => `sa/${email.toLowerCase()}`;

const STORAGE = 'storage.googleapis.com';

/** A new bucket's policy on Google: the project's basic roles through the convenience members. */
export function defaultBucketBindings(projectId: string): Binding[] {
  return [
    { role: 'roles/storage.legacyBucketOwner', members: [`projectEditor:${projectId}`, `projectOwner:${projectId}`] },
    { role: 'roles/storage.legacyBucketReader', members: [`projectViewer:${projectId}`] },
    { role: 'roles/storage.legacyObjectOwner', members: [`projectEditor:${projectId}`, `projectOwner:${projectId}`] },
    { role: 'roles/storage.legacyObjectReader', members: [`projectViewer:${projectId}`] },
  ];
}

export class IamState {
  readonly roles: RoleRegistry;
  /** Enforcement sees each policy as it was `iamPropagationDelayMs` ago (grants and revokes alike). */
  readonly policies = new PolicyStore(
    () => this.now(),
    () => this.storage.config().iamPropagationDelayMs,
  );
  readonly folders = new ManagedFolderStore();
  readonly tokens: TokenStore;

  constructor(
    readonly storage: StorageView,
    adminToken: string,
    readonly now: () => number = Date.now,
  ) {
    this.roles = new RoleRegistry(storage.projectId);
    this.tokens = new TokenStore(adminToken, now);
  }

  /** Whether `project` names the emulator's project (by id or number). */
  isOwnProject(project: string): boolean {
    return project === this.storage.projectId || project === this.storage.projectNumber;
  }

  projectPolicy(): StoredPolicy {
    return this.policies.getOrCreate(PROJECT_KEY);
  }

  /**
   * The bucket's policy (its default bindings until someone sets one), or undefined when the bucket does not
   * exist. A bucket that is gone takes its policy and its managed folders with it.
   */
  bucketPolicy(bucket: string): StoredPolicy | undefined {
    if (!this.storage.bucketExists(bucket)) {
      this.forgetBucket(bucket);
      return undefined;
    }
    return this.policies.getOrCreate(bucketKey(bucket), () =>
      initialPolicy(defaultBucketBindings(this.storage.projectId)),
    );
  }

  forgetBucket(bucket: string): void {
    this.policies.deleteTree(bucketKey(bucket));
    this.folders.deleteBucket(bucket);
  }

  folderPolicy(bucket: string, folder: string): StoredPolicy {
    return this.policies.getOrCreate(folderKey(bucket, folder));
  }

  serviceAccountPolicy(email: string): StoredPolicy {
    return this.policies.getOrCreate(serviceAccountKey(email));
  }

  /** Whether a service account email belongs to the emulator's project (so project bindings reach it). */
  inProject(email: string): boolean {
    const domain = email.slice(email.indexOf('@') + 1).toLowerCase();
    const p = this.storage.projectId.toLowerCase();
    return domain === `${p}.iam.gserviceaccount.com` || domain === 'developer.gserviceaccount.com';
  }

  /**
   * The policies enforced on a target now (each as it was the propagation delay ago), outermost first. A managed
   * folder's policy applies to what lies under its name; a deleted folder's grants last until the delay has passed.
   */
  policiesFor(target: Target): StoredPolicy[] {
    const out: StoredPolicy[] = [];
    const add = (key: string) => {
      const p = this.policies.effective(key);
      if (p) out.push(p);
    };
    if (target.kind === 'serviceAccount') {
      if (this.inProject(target.email)) add(PROJECT_KEY);
      add(serviceAccountKey(target.email));
    } else {
      add(PROJECT_KEY);
      if (target.kind === 'storage' && this.bucketPolicy(target.ref.bucket)) {
        const { bucket } = target.ref;
        add(bucketKey(bucket));
        const path = target.ref.managedFolder ?? target.ref.object ?? target.ref.listPrefix ?? '';
        for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1))
          add(folderKey(bucket, path.slice(0, i + 1)));
      }
    }
    return out;
  }

  conditionInput(target: Target, at: number): ConditionInput {
    const requestTime = new Date(at);
    if (target.kind === 'project') {
      return {
        resourceName: `projects/${this.storage.projectNumber}`,
        resourceType: 'cloudresourcemanager.googleapis.com/Project',
        resourceService: 'cloudresourcemanager.googleapis.com',
        requestTime,
        attributes: {},
      };
    }
    if (target.kind === 'serviceAccount') {
      return {
        resourceName: `projects/-/serviceAccounts/${target.email}`,
        resourceType: 'iam.googleapis.com/ServiceAccount',
        resourceService: 'iam.googleapis.com',
        requestTime,
        attributes: {},
      };
    }
    const r = target.ref;
    const bucketName = `projects/_/buckets/${r.bucket}`;
    if (r.managedFolder !== undefined) {
      return {
        resourceName: `${bucketName}/managedFolders/${r.managedFolder}`,
        resourceType: `${STORAGE}/ManagedFolder`,
        resourceService: STORAGE,
        requestTime,
        attributes: {},
      };
    }
    if (r.object !== undefined) {
      return {
        resourceName: `${bucketName}/objects/${r.object}`,
        resourceType: `${STORAGE}/Object`,
        resourceService: STORAGE,
        requestTime,
        attributes: {},
      };
    }
    return {
      resourceName: bucketName,
      resourceType: `${STORAGE}/Bucket`,
      resourceService: STORAGE,
      requestTime,
      attributes: r.listPrefix !== undefined ? { [LIST_PREFIX_ATTRIBUTE]: r.listPrefix } : {},
    };
  }

  /** Whether `member` holds `permission` on `target` now (the admin member always does). */
  allowed(member: string, permission: string, target: Target): boolean {
    if (member === ADMIN_MEMBER) return true;
    const input = this.conditionInput(target, this.now());
    const project = this.policies.effective(PROJECT_KEY);
    const who = callerOf(member);
    const basic: MatchContext = {
      projectId: this.storage.projectId,
      projectNumber: this.storage.projectNumber,
      hasProjectRole: () => false,
    };
    const held = new Map<string, boolean>();
    const ctx: MatchContext = {
      ...basic,
      hasProjectRole: (role) => {
        let v = held.get(role);
        if (v === undefined) {
          v = project !== undefined && grants(project, who, (r) => r === role, input, basic);
          held.set(role, v);
        }
        return v;
      },
    };
    for (const policy of this.policiesFor(target)) {
      if (grants(policy, who, (r) => this.roles.permissions(r)?.has(permission) === true, input, ctx)) {
        return true;
      }
    }
    return false;
  }
}

/** Whether any binding of `policy` whose role passes `roleOk` covers `member`. */
function grants(
  policy: StoredPolicy,
  member: Caller,
  roleOk: (role: string) => boolean,
  input: ConditionInput,
  ctx: MatchContext,
): boolean {
  for (const b of policy.bindings) {
    if (!roleOk(b.role)) continue;
    let conditionResult: boolean | undefined;
    for (let i = 0; i < b.members.length; i++) {
      if (!memberMatches(b.members[i] as string, member, ctx)) continue;
      conditionResult ??= b.compiled ? b.compiled(input) : true;
      if (conditionResult) return true;
    }
  }
  return false;
}
