// Resource Manager: the project's IAM policy (`POST /v1/projects/{project}:getIamPolicy` and friends, v1 and v3),
// inherited by every bucket of the project.
import { createHash } from 'node:crypto';
import type { EmuRequest, EmuResponse, Route } from '../contract.js';
import { caller, objectBody, platformError, platformPolicyError } from './http.js';
import { applyWrite, hasConditions, parsePolicy, publicBindings, type StoredPolicy } from './policy.js';
import { permissionError } from './roles.js';
import { type IamState, PROJECT_KEY } from './state.js';

/** A Resource Manager policy as JSON, formatted for the requested version. */
export function platformPolicyJson(policy: StoredPolicy, requested: number): object {
  const bindings = publicBindings(policy);
  if (hasConditions(policy) && requested < 3) {
    // Resource Manager answers a version-1 read of a conditional policy with the conditions folded into the role
    // name (`roles/x_withcond_<hash>`), so a v1 read-modify-write cannot silently keep or drop them.
    return {
      version: 1,
      etag: policy.etag,
      bindings: bindings.map((b) =>
        b.condition
          ? {
              role: `${b.role}_withcond_${createHash('sha256').update(b.condition.expression).digest('hex').slice(0, 20)}`,
              members: b.members,
            }
          : b,
      ),
    };
  }
  return { version: hasConditions(policy) ? 3 : 1, etag: policy.etag, ...(bindings.length > 0 ? { bindings } : {}) };
}

/** `options.requestedPolicyVersion` from a body or `?options.requestedPolicyVersion=`; 400 when invalid. */
export function requestedVersion(req: EmuRequest, body: Record<string, unknown>): number {
  const options = body.options as { requestedPolicyVersion?: unknown } | undefined;
  const raw = options?.requestedPolicyVersion ?? req.query.get('options.requestedPolicyVersion') ?? 0;
  const n = typeof raw === 'string' ? Number(raw) : raw;
  if (typeof n !== 'number' || ![0, 1, 3].includes(n)) {
    throw platformError(400, 'INVALID_ARGUMENT', `Invalid requested policy version ${String(raw)}.`);
  }
  return n;
}

export function denied(permission: string): never {
  throw platformError(
    403,
    'PERMISSION_DENIED',
    `Permission '${permission}' denied on resource (or it may not exist).`,
    [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'IAM_PERMISSION_DENIED',
        domain: 'iam.googleapis.com',
        metadata: { permission },
      },
    ],
  );
}

export function projectRoutes(state: IamState): Route[] {
  /** The project in the path; another project is as good as missing (403, like Google for no access). */
  const project = (req: EmuRequest, permission: string): void => {
    const member = caller(req);
    const p = req.params.project ?? '';
    if (!state.isOwnProject(p) || !state.allowed(member, permission, { kind: 'project' })) denied(permission);
  };

  const getPolicy = (req: EmuRequest): EmuResponse => {
    project(req, 'resourcemanager.projects.getIamPolicy');
    const body = objectBody(req);
    return { status: 200, body: platformPolicyJson(state.projectPolicy(), requestedVersion(req, body)) };
  };

  const setPolicy = (req: EmuRequest): EmuResponse => {
    project(req, 'resourcemanager.projects.setIamPolicy');
    const body = objectBody(req);
    if (typeof body.policy !== 'object' || body.policy === null) {
      throw platformError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument: "policy" is required.');
    }
    let next: StoredPolicy;
    try {
      next = applyWrite(
        state.projectPolicy(),
        parsePolicy(body.policy, (r) => state.roles.exists(r), 'project'),
        {
          kind: 'project',
        },
      );
    } catch (err) {
      throw platformPolicyError(err);
    }
    state.policies.set(PROJECT_KEY, next);
    return { status: 200, body: platformPolicyJson(next, 3) };
  };

  const testPermissions = (req: EmuRequest): EmuResponse => {
    const member = caller(req);
    const p = req.params.project ?? '';
    const body = objectBody(req);
    const perms = body.permissions;
    if (!Array.isArray(perms) || perms.some((x) => typeof x !== 'string')) {
      throw platformError(400, 'INVALID_ARGUMENT', '"permissions" must be an array of permission names.');
    }
    for (const x of perms as string[]) {
      const err = permissionError(x);
      if (err) throw platformError(400, 'INVALID_ARGUMENT', err);
    }
    const held = state.isOwnProject(p)
      ? (perms as string[]).filter((x) => state.allowed(member, x, { kind: 'project' }))
      : [];
    return { status: 200, body: held.length > 0 ? { permissions: held } : {} };
  };

  const getProject = (req: EmuRequest): EmuResponse => {
    project(req, 'resourcemanager.projects.get');
    return {
      status: 200,
      body: {
        projectNumber: state.storage.projectNumber,
        projectId: state.storage.projectId,
        lifecycleState: 'ACTIVE',
        name: state.storage.projectId,
      },
    };
  };

  const routes: Route[] = [];
  for (const v of ['v1', 'v3']) {
    const rm = 'cloudresourcemanager.projects';
    routes.push(
      { method: 'POST', path: `/${v}/projects/:project:getIamPolicy`, op: `${rm}.getIamPolicy`, handler: getPolicy },
      { method: 'POST', path: `/${v}/projects/:project:setIamPolicy`, op: `${rm}.setIamPolicy`, handler: setPolicy },
      {
        method: 'POST',
        path: `/${v}/projects/:project:testIamPermissions`,
        op: `${rm}.testIamPermissions`,
        handler: testPermissions,
      },
    );
  }
  routes.push({
    method: 'GET',
    path: '/v1/projects/:project',
    op: 'cloudresourcemanager.projects.get',
    handler: getProject,
  });
  return routes;
}
