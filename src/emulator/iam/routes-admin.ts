// Emulator-only endpoints of the IAM half (admin token): minting tokens, custom roles, metadata servers; and the
// metadata paths themselves (public, like a real metadata server; the registration id is the capability).
import { type EmuRequest, type EmuResponse, HttpError, type Route } from '../contract.js';
import { objectBody } from './http.js';
import { tokenMemberError } from './members.js';
import type { MetadataServers } from './metadata.js';
import type { IamState } from './state.js';
import { DEFAULT_TOKEN_LIFETIME_S } from './tokens.js';

function badRequest(err: unknown): HttpError {
  return new HttpError(400, err instanceof Error ? err.message : String(err), 'invalid');
}

export function adminRoutes(state: IamState, metadata: MetadataServers): Route[] {
  const mintToken = (req: EmuRequest): EmuResponse => {
    const body = objectBody(req);
    const principal = body.principal;
    if (typeof principal !== 'string') throw badRequest('"principal" (an IAM member) is required.');
    const err = tokenMemberError(principal);
    if (err) throw badRequest(err);
    const lifetime = body.lifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_S;
    if (typeof lifetime !== 'number') throw badRequest('"lifetimeSeconds" must be a number.');
    let t: ReturnType<typeof state.tokens.mint>;
    try {
      t = state.tokens.mint(principal, lifetime);
    } catch (e) {
      throw badRequest(e);
    }
    return {
      status: 200,
      body: {
        access_token: t.token,
        expires_in: Math.round((t.expiresAt - state.now()) / 1000),
        token_type: 'Bearer',
        principal,
      },
    };
  };

  const roleId = (req: EmuRequest): string => {
    const id = req.params.role;
    if (!id) throw badRequest('A role id is required: /_emulator/roles/<id>.');
    return id;
  };

  const putRole = (req: EmuRequest): EmuResponse => {
    try {
      return { status: 200, body: state.roles.putCustom(roleId(req), objectBody(req)) };
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw badRequest(e);
    }
  };

  const getRole = (req: EmuRequest): EmuResponse => {
    let role: ReturnType<typeof state.roles.getCustom>;
    try {
      role = state.roles.getCustom(roleId(req));
    } catch (e) {
      throw badRequest(e);
    }
    if (!role) throw new HttpError(404, `No custom role ${roleId(req)}.`, 'notFound');
    return { status: 200, body: role };
  };

  const deleteRole = (req: EmuRequest): EmuResponse => {
    let gone: boolean;
    try {
      gone = state.roles.deleteCustom(roleId(req));
    } catch (e) {
      throw badRequest(e);
    }
    if (!gone) throw new HttpError(404, `No custom role ${roleId(req)}.`, 'notFound');
    return { status: 204 };
  };

  const listRoles = (): EmuResponse => ({ status: 200, body: { roles: state.roles.customRoles() } });

  const registerMetadata = async (req: EmuRequest): Promise<EmuResponse> => {
    const body = objectBody(req);
    const base = new URL(state.storage.baseUrl());
    let reg: Awaited<ReturnType<MetadataServers['register']>>;
    try {
      reg = await metadata.register(body, base.hostname);
    } catch (e) {
      throw badRequest(e);
    }
    return {
      status: 200,
      body: {
        ...reg,
        // For clients that prepend host to path (gcloud GCE_METADATA_ROOT, Java GCE_METADATA_HOST).
        pathHost: `${base.host}/_emulator/metadata/${reg.id}`,
      },
    };
  };

  const deleteMetadata = async (req: EmuRequest): Promise<EmuResponse> => {
    const id = req.params.id ?? '';
    if (!(await metadata.remove(id))) throw new HttpError(404, `No metadata server ${id}.`, 'notFound');
    return { status: 204 };
  };

  const metadataByPath = (req: EmuRequest): EmuResponse => {
    const rest = req.params.rest ?? '';
    return metadata.answerFor(req.params.id ?? '', req.method, `/${rest}`, req.query, req.headers);
  };

  const metadataRoot = (req: EmuRequest): EmuResponse => {
    const rest = req.params.rest ?? '';
    return metadata.answerFor(undefined, req.method, `/computeMetadata/v1/${rest}`, req.query, req.headers);
  };

  return [
    { method: 'POST', path: '/_emulator/tokens', op: 'emulator.tokens.create', auth: 'admin', handler: mintToken },
    { method: 'GET', path: '/_emulator/roles', op: 'emulator.roles.list', auth: 'admin', handler: listRoles },
    { method: 'PUT', path: '/_emulator/roles/:role*', op: 'emulator.roles.put', auth: 'admin', handler: putRole },
    { method: 'GET', path: '/_emulator/roles/:role*', op: 'emulator.roles.get', auth: 'admin', handler: getRole },
    {
      method: 'DELETE',
      path: '/_emulator/roles/:role*',
      op: 'emulator.roles.delete',
      auth: 'admin',
      handler: deleteRole,
    },
    {
      method: 'POST',
      path: '/_emulator/metadata-servers',
      op: 'emulator.metadataServers.create',
      auth: 'admin',
      handler: registerMetadata,
    },
    {
      method: 'GET',
      path: '/_emulator/metadata-servers',
      op: 'emulator.metadataServers.list',
      auth: 'admin',
      handler: () => ({ status: 200, body: { servers: metadata.list() } }),
    },
    {
      method: 'DELETE',
      path: '/_emulator/metadata-servers/:id',
      op: 'emulator.metadataServers.delete',
      auth: 'admin',
      handler: deleteMetadata,
    },
    { method: 'GET', path: '/_emulator/metadata/:id', op: 'metadata.get', auth: 'none', handler: metadataByPath },
    {
      method: 'GET',
      path: '/_emulator/metadata/:id/:rest*',
      op: 'metadata.get',
      auth: 'none',
      handler: metadataByPath,
    },
    { method: 'GET', path: '/computeMetadata/v1', op: 'metadata.get', auth: 'none', handler: metadataRoot },
    { method: 'GET', path: '/computeMetadata/v1/:rest*', op: 'metadata.get', auth: 'none', handler: metadataRoot },
  ];
}
