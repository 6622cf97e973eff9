// IAM Credentials `generateAccessToken`, and the IAM API's service-account policies that decide who may call it
// (roles/iam.serviceAccountTokenCreator or roles/iam.workloadIdentityUser on the account or on the project).
import type { EmuRequest, EmuResponse, Route } from '../contract.js';
import { caller, objectBody, platformError, platformPolicyError } from './http.js';
import { applyWrite, parsePolicy, type StoredPolicy } from './policy.js';
import { permissionError } from './roles.js';
import { denied, platformPolicyJson, requestedVersion } from './routes-project.js';
import { type IamState, serviceAccountKey } from './state.js';
import { MAX_TOKEN_LIFETIME_S } from './tokens.js';

const SA_EMAIL_RE = /^[a-z0-9-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.gserviceaccount\.com$/i;
/** Without the org policy that allows 12 h tokens, Google caps generateAccessToken at one hour. */
export const DEFAULT_MAX_LIFETIME_S = 3600;

/** `"3600s"` → 3600; undefined → the default; throws a 400 for anything else or out of range. */
export function parseLifetime(raw: unknown): number {
  if (raw === undefined || raw === null || raw === '') return DEFAULT_MAX_LIFETIME_S;
  const m = typeof raw === 'string' ? /^(\d+)(\.\d+)?s$/.exec(raw) : null;
  const n = m ? Number(m[1]) : Number.NaN;
  if (!(n >= 1) || n > DEFAULT_MAX_LIFETIME_S) {
    throw platformError(
      400,
      'INVALID_ARGUMENT',
      `The lifetime ${JSON.stringify(raw)} is invalid: it must be a duration such as "3600s" between 1s and ` +
        `${DEFAULT_MAX_LIFETIME_S}s (up to ${MAX_TOKEN_LIFETIME_S}s needs an organization policy the emulator ` +
        'does not model).',
    );
  }
  return n;
}

/** The service account email in the path; 404 as Google answers for something that is not one. */
export function serviceAccountEmail(req: EmuRequest): string {
  const email = req.params.email ?? '';
  if (!SA_EMAIL_RE.test(email)) {
    throw platformError(404, 'NOT_FOUND', `Not found; Gaia id not found for email ${email}`);
  }
  return email.toLowerCase();
}

/** RFC 3339 with seconds, as Google writes `expireTime`. */
export function rfc3339(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}Z`;
}

/**
 * Mints a token for `serviceAccount:<email>` when `member` holds iam.serviceAccounts.getAccessToken on it;
 * otherwise throws Google's 403 PERMISSION_DENIED.
 */
export function impersonate(state: IamState, member: string, email: string, lifetimeSeconds: number) {
  const permission = 'iam.serviceAccounts.getAccessToken';
  if (!state.allowed(member, permission, { kind: 'serviceAccount', email })) denied(permission);
  return state.tokens.mint(`serviceAccount:${email}`, lifetimeSeconds);
}

export function credentialsRoutes(state: IamState): Route[] {
  const generateAccessToken = (req: EmuRequest): EmuResponse => {
    const member = caller(req);
    const email = serviceAccountEmail(req);
    const body = objectBody(req);
    const scope = body.scope;
    if (!Array.isArray(scope) || scope.length === 0 || scope.some((s) => typeof s !== 'string' || s === '')) {
      throw platformError(400, 'INVALID_ARGUMENT', 'Scope required.');
    }
    if (Array.isArray(body.delegates) && body.delegates.length > 0) {
      throw platformError(
        400,
        'INVALID_ARGUMENT',
        'Delegation chains ("delegates") are not supported by the emulator: grant the caller ' +
          'roles/iam.serviceAccountTokenCreator on the target account instead.',
      );
    }
    const lifetime = parseLifetime(body.lifetime);
    const t = impersonate(state, member, email, lifetime);
    return { status: 200, body: { accessToken: t.token, expireTime: rfc3339(t.expiresAt) } };
  };

  const saPolicy = (email: string): StoredPolicy => state.serviceAccountPolicy(email);

  const getPolicy = (req: EmuRequest): EmuResponse => {
    const email = serviceAccountEmail(req);
    if (!state.allowed(caller(req), 'iam.serviceAccounts.getIamPolicy', { kind: 'serviceAccount', email })) {
      denied('iam.serviceAccounts.getIamPolicy');
    }
    const body = objectBody(req);
    return { status: 200, body: platformPolicyJson(saPolicy(email), requestedVersion(req, body)) };
  };

  const setPolicy = (req: EmuRequest): EmuResponse => {
    const email = serviceAccountEmail(req);
    if (!state.allowed(caller(req), 'iam.serviceAccounts.setIamPolicy', { kind: 'serviceAccount', email })) {
      denied('iam.serviceAccounts.setIamPolicy');
    }
    const body = objectBody(req);
    if (typeof body.policy !== 'object' || body.policy === null) {
      throw platformError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument: "policy" is required.');
    }
    let next: StoredPolicy;
    try {
      next = applyWrite(
        saPolicy(email),
        parsePolicy(body.policy, (r) => state.roles.exists(r), 'serviceAccount'),
        { kind: 'serviceAccount' },
      );
    } catch (err) {
      throw platformPolicyError(err);
    }
    state.policies.set(serviceAccountKey(email), next);
    return { status: 200, body: platformPolicyJson(next, 3) };
  };

  const testPermissions = (req: EmuRequest): EmuResponse => {
    const member = caller(req);
    const email = serviceAccountEmail(req);
    const perms = objectBody(req).permissions;
    if (!Array.isArray(perms) || perms.some((x) => typeof x !== 'string' || permissionError(x) !== undefined)) {
      throw platformError(400, 'INVALID_ARGUMENT', '"permissions" must be an array of permission names.');
    }
    const held = (perms as string[]).filter((p) => state.allowed(member, p, { kind: 'serviceAccount', email }));
    return { status: 200, body: held.length > 0 ? { permissions: held } : {} };
  };

  const sa = '/v1/projects/:project/serviceAccounts/:email';
  return [
    {
      method: 'POST',
      path: `${sa}:generateAccessToken`,
      op: 'iamcredentials.serviceAccounts.generateAccessToken',
      handler: generateAccessToken,
    },
    { method: 'POST', path: `${sa}:getIamPolicy`, op: 'iam.serviceAccounts.getIamPolicy', handler: getPolicy },
    { method: 'POST', path: `${sa}:setIamPolicy`, op: 'iam.serviceAccounts.setIamPolicy', handler: setPolicy },
    {
      method: 'POST',
      path: `${sa}:testIamPermissions`,
      op: 'iam.serviceAccounts.testIamPermissions',
      handler: testPermissions,
    },
  ];
}
