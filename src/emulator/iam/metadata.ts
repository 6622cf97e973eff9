// A metadata server the way GKE's hands a pod its identity: per registered principal, a dedicated listener
// (for clients that take only host:port in GCE_METADATA_HOST, such as google-auth-library for Node) and a path
// under the emulator (`/_emulator/metadata/<id>`, for clients that prepend the host to the path: gcloud's
// GCE_METADATA_ROOT, Java's GCE_METADATA_HOST). The emulator's own `/computeMetadata/v1` answers project facts only.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { EmuResponse } from '../contract.js';
import { metadataEmail, tokenMemberError } from './members.js';
import { impersonate } from './routes-credentials.js';
import type { IamState } from './state.js';
import type { MintedToken } from './tokens.js';

const FLAVOR = { 'Metadata-Flavor': 'Google' };
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
/** Reuse a minted token while it has this much life left, as GKE's metadata server caches. */
const REUSE_MS = 5 * 60_000;

export interface MetadataRegistration {
  id: string;
  /** The workload's own identity, e.g. a Workload Identity `principal://…/subject/ns/NS/sa/KSA`. */
  principal: string;
  /**
   * Like the KSA annotation `iam.gke.io/gcp-service-account`: tokens are for this service account, minted only
   * while `principal` holds iam.serviceAccounts.getAccessToken on it (roles/iam.workloadIdentityUser).
   */
  serviceAccount?: string;
  /** host:port of the dedicated listener, for GCE_METADATA_HOST. */
  host?: string;
}

interface Entry extends MetadataRegistration {
  server?: Server;
  token?: MintedToken;
}

function text(status: number, body: string): EmuResponse {
  return { status, headers: { ...FLAVOR, 'Content-Type': 'application/text' }, body };
}

function json(body: object): EmuResponse {
  return { status: 200, headers: { ...FLAVOR, 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
}

export class MetadataServers {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly state: IamState) {}

  /** Registers a principal and starts its listener on the emulator's host. Throws Error on bad input. */
  async register(body: Record<string, unknown>, listenHost: string): Promise<MetadataRegistration> {
    const principal = body.principal;
    if (typeof principal !== 'string') throw new Error('"principal" (an IAM member) is required.');
    const err = tokenMemberError(principal);
    if (err) throw new Error(err);
    let serviceAccount: string | undefined;
    if (body.serviceAccount !== undefined) {
      if (
        typeof body.serviceAccount !== 'string' ||
        !/^[^@\s]+@[^@\s]+\.gserviceaccount\.com$/.test(body.serviceAccount)
      ) {
        throw new Error('"serviceAccount" must be a service account email.');
      }
      serviceAccount = body.serviceAccount.toLowerCase();
    }
    const id = randomBytes(12).toString('base64url');
    const entry: Entry = { id, principal, ...(serviceAccount ? { serviceAccount } : {}) };
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://metadata');
      let r: EmuResponse;
      try {
        r = this.answer(this.entries.get(id), req.method ?? 'GET', url.pathname, url.searchParams, req.headers);
      } catch (e) {
        r = text(500, e instanceof Error ? e.message : String(e));
      }
      res.writeHead(r.status, r.headers);
      res.end(typeof r.body === 'string' || Buffer.isBuffer(r.body) ? r.body : JSON.stringify(r.body ?? ''));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, listenHost, () => resolve());
    });
    server.unref();
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('The metadata listener has no TCP address.');
    entry.server = server;
    entry.host = `${listenHost}:${addr.port}`;
    this.entries.set(id, entry);
    return publicView(entry);
  }

  get(id: string): MetadataRegistration | undefined {
    const e = this.entries.get(id);
    return e ? publicView(e) : undefined;
  }

  list(): MetadataRegistration[] {
    return [...this.entries.values()].map(publicView);
  }

  async remove(id: string): Promise<boolean> {
    const e = this.entries.get(id);
    if (!e) return false;
    this.entries.delete(id);
    await closeServer(e.server);
    return true;
  }

  /** Stops every listener and forgets every registration. */
  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => closeServer(e.server)));
  }

  /** Answers a metadata request for registration `id` (undefined: the emulator's own root, no identity). */
  answerFor(
    id: string | undefined,
    method: string,
    path: string,
    query: URLSearchParams,
    headers: IncomingHttpHeaders,
  ) {
    const entry = id === undefined ? undefined : this.entries.get(id);
    if (id !== undefined && !entry) return text(404, `No metadata server ${id} is registered.\n`);
    return this.answer(entry, method, path, query, headers);
  }

  private answer(
    entry: Entry | undefined,
    method: string,
    path: string,
    query: URLSearchParams,
    headers: IncomingHttpHeaders,
  ): EmuResponse {
    if (method !== 'GET' && method !== 'HEAD') return text(405, 'Method not allowed.\n');
    if (path === '' || path === '/') return text(200, 'computeMetadata/\n');
    const m = /^\/?computeMetadata\/v1(\/.*)?$/.exec(path);
    if (!m) return text(404, 'Not found.\n');
    if (headers['metadata-flavor'] !== 'Google') {
      return text(403, 'Missing required header "Metadata-Flavor": "Google"\n');
    }
    const key = (m[1] ?? '/').replace(/^\/+/, '').replace(/\/+$/, '');
    const storage = this.state.storage;
    const email = entry ? (entry.serviceAccount ?? metadataEmail(entry.principal, storage.projectId)) : undefined;
    switch (key) {
      case '':
        return text(200, 'instance/\nproject/\nuniverse/\n');
      case 'project':
        return text(200, 'numeric-project-id\nproject-id\n');
      case 'project/project-id':
        return text(200, storage.projectId);
      case 'project/numeric-project-id':
        return text(200, storage.projectNumber);
      case 'universe/universe-domain':
        return text(200, 'googleapis.com');
      case 'instance':
        return text(200, 'attributes/\nhostname\nid\nservice-accounts/\nzone\n');
      case 'instance/id':
        return text(200, '1234567890123456789');
      case 'instance/zone':
        return text(200, `projects/${storage.projectNumber}/zones/us-central1-a`);
      case 'instance/hostname':
        return text(200, 'emulator.c.internal');
      case 'instance/attributes':
        return text(200, 'cluster-location\ncluster-name\n');
      case 'instance/attributes/cluster-name':
        return text(200, 'emulator');
      case 'instance/attributes/cluster-location':
        return text(200, 'us-central1');
      case 'instance/service-accounts':
        return email ? text(200, `default/\n${email}/\n`) : text(200, '');
    }
    const sa = /^instance\/service-accounts\/([^/]+)(?:\/(.*))?$/.exec(key);
    if (!sa) return text(404, `No metadata at ${key}.\n`);
    if (!entry || !email) {
      return text(
        404,
        'The emulator root has no identity: register one with POST /_emulator/metadata-servers and point the ' +
          'client at the host it returns.\n',
      );
    }
    if (sa[1] !== 'default' && sa[1] !== email) return text(404, `No service account ${sa[1]} here.\n`);
    const leaf = sa[2] ?? '';
    switch (leaf) {
      case '':
        return query.get('recursive') === 'true'
          ? json({ aliases: ['default'], email, scopes: [CLOUD_PLATFORM] })
          : text(200, 'aliases\nemail\nidentity\nscopes\ntoken\n');
      case 'aliases':
        return text(200, 'default\n');
      case 'email':
        return text(200, email);
      case 'scopes':
        return text(200, `${CLOUD_PLATFORM}\n`);
      case 'token': {
        const r = this.token(entry);
        if ('error' in r) return text(403, `${r.error}\n`);
        return json({
          access_token: r.token.token,
          expires_in: Math.max(0, Math.floor((r.token.expiresAt - this.state.now()) / 1000)),
          token_type: 'Bearer',
        });
      }
      case 'identity':
        return text(404, 'Identity tokens are not supported by the emulator.\n');
      default:
        return text(404, `No metadata at ${key}.\n`);
    }
  }

  private token(entry: Entry): { token: MintedToken } | { error: string } {
    if (entry.serviceAccount) {
      // Checked on every fetch, so a revoked workloadIdentityUser binding shows at once.
      const permission = 'iam.serviceAccounts.getAccessToken';
      if (!this.state.allowed(entry.principal, permission, { kind: 'serviceAccount', email: entry.serviceAccount })) {
        return {
          error:
            `Unable to generate access token; IAM returned 403 Forbidden: Permission '${permission}' denied on ` +
            'resource (or it may not exist). (The principal needs roles/iam.workloadIdentityUser on ' +
            `${entry.serviceAccount}.)`,
        };
      }
    }
    if (entry.token && entry.token.expiresAt - this.state.now() > REUSE_MS) return { token: entry.token };
    entry.token = entry.serviceAccount
      ? impersonate(this.state, entry.principal, entry.serviceAccount, 3600)
      : this.state.tokens.mint(entry.principal, 3600);
    return { token: entry.token };
  }
}

function publicView(e: Entry): MetadataRegistration {
  return {
    id: e.id,
    principal: e.principal,
    ...(e.serviceAccount ? { serviceAccount: e.serviceAccount } : {}),
    ...(e.host ? { host: e.host } : {}),
  };
}

function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
