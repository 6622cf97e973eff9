// Roles → permissions: Google's predefined roles (role-data.ts) plus custom roles of the emulator's project,
// registered through `PUT /_emulator/roles/{roleId}`.
import { PREDEFINED_ROLES } from './role-data.js';

export interface CustomRole {
  /** `projects/<project>/roles/<id>` */
  name: string;
  title: string;
  includedPermissions: string[];
}

const PERMISSION_RE = /^[a-z][a-zA-Z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*){2}$/;
const ROLE_ID_RE = /^[a-zA-Z0-9_.]{3,64}$/;

/** The error text for a malformed permission name, or undefined when it is well-formed. */
export function permissionError(permission: string): string | undefined {
  return PERMISSION_RE.test(permission)
    ? undefined
    : `Permission '${permission}' is not valid: expected <service>.<resource>.<verb>, e.g. storage.objects.get.`;
}

export class RoleRegistry {
  private readonly predefined = new Map<string, ReadonlySet<string>>();
  private readonly custom = new Map<string, { role: CustomRole; permissions: ReadonlySet<string> }>();

  constructor(private readonly projectId: string) {
    for (const [name, def] of Object.entries(PREDEFINED_ROLES)) {
      this.predefined.set(name, new Set(def.includedPermissions));
    }
  }

  /** The permissions a role grants, or undefined for a role that does not exist. */
  permissions(role: string): ReadonlySet<string> | undefined {
    return this.predefined.get(role) ?? this.custom.get(role)?.permissions;
  }

  exists(role: string): boolean {
    return this.permissions(role) !== undefined;
  }

  /** The full name for a custom role id; accepts `<id>` or `projects/<this project>/roles/<id>`. */
  customRoleName(roleId: string): string {
    const m = /^projects\/([^/]+)\/roles\/([^/]+)$/.exec(roleId);
    let id = roleId;
    if (m) {
      if (m[1] !== this.projectId) {
        throw new Error(`Custom role ${roleId} must belong to project ${this.projectId}.`);
      }
      id = m[2] as string;
    }
    if (!ROLE_ID_RE.test(id)) {
      throw new Error(`Role id '${id}' is not valid: 3 to 64 characters of letters, digits, '_' and '.'.`);
    }
    return `projects/${this.projectId}/roles/${id}`;
  }

  /** Creates or replaces a custom role; throws Error with a clear message on bad input. */
  putCustom(roleId: string, body: unknown): CustomRole {
    const name = this.customRoleName(roleId);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new Error('The body must be a JSON object with "includedPermissions": [...].');
    }
    const b = body as { includedPermissions?: unknown; title?: unknown };
    const perms = b.includedPermissions;
    if (!Array.isArray(perms) || perms.length === 0 || perms.some((p) => typeof p !== 'string')) {
      throw new Error('"includedPermissions" must be a non-empty array of permission names.');
    }
    for (const p of perms as string[]) {
      const err = permissionError(p);
      if (err) throw new Error(err);
    }
    if (b.title !== undefined && typeof b.title !== 'string') throw new Error('"title" must be a string.');
    const role: CustomRole = {
      name,
      title: (b.title as string | undefined) ?? name.slice(name.lastIndexOf('/') + 1),
      includedPermissions: [...new Set(perms as string[])].sort(),
    };
    this.custom.set(name, { role, permissions: new Set(role.includedPermissions) });
    return role;
  }

  getCustom(roleId: string): CustomRole | undefined {
    return this.custom.get(this.customRoleName(roleId))?.role;
  }

  deleteCustom(roleId: string): boolean {
    return this.custom.delete(this.customRoleName(roleId));
  }

  customRoles(): CustomRole[] {
    return [...this.custom.values()].map((c) => c.role);
  }

  reset(): void {
    this.custom.clear();
  }
}
