// IAM member strings: validation, and whether a binding's member covers the caller.
import { ADMIN_MEMBER } from '../contract.js';

const EMAIL_RE = /^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
/** Legacy GKE Workload Identity member: `serviceAccount:POOL[NS/KSA]`. */
const LEGACY_WI_RE = /^([a-z0-9-]+(?:\.[a-z0-9-]+)*\.svc\.id\.goog)\[([^/\]]+)\/([^/\]]+)\]$/;
const WIF_PREFIX = '//iam.googleapis.com/projects/';
/** principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL/subject/SUBJECT */
const PRINCIPAL_RE =
  /^principal:\/\/iam\.googleapis\.com\/projects\/(\d+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/subject\/(.+)$/;
/** principalSet://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL/<selector> */
const PRINCIPAL_SET_RE =
  /^principalSet:\/\/iam\.googleapis\.com\/projects\/(\d+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/(.+)$/;
const GKE_SUBJECT_RE = /^ns\/([^/]+)\/sa\/([^/]+)$/;

export interface WorkloadPrincipal {
  projectNumber: string;
  pool: string;
  subject: string;
  /** Kubernetes namespace and service account when the subject is GKE's `ns/NS/sa/KSA`. */
  namespace?: string;
  ksa?: string;
}

export function parsePrincipal(member: string): WorkloadPrincipal | undefined {
  const m = PRINCIPAL_RE.exec(member);
  if (!m) return undefined;
  const subject = m[3] as string;
  const gke = GKE_SUBJECT_RE.exec(subject);
  return {
    projectNumber: m[1] as string,
    pool: m[2] as string,
    subject,
    ...(gke ? { namespace: gke[1] as string, ksa: gke[2] as string } : {}),
  };
}

/** Why `member` is not a valid IAM member, or undefined when it is. */
export function memberError(member: string): string | undefined {
  if (member === 'allUsers' || member === 'allAuthenticatedUsers') return undefined;
  const colon = member.indexOf(':');
  if (colon <= 0) return `Invalid member '${member}': expected <type>:<id>, allUsers or allAuthenticatedUsers.`;
  const type = member.slice(0, colon);
  const id = member.slice(colon + 1);
  switch (type) {
    case 'user':
    case 'group':
      return EMAIL_RE.test(id) ? undefined : `Invalid member '${member}': '${id}' is not an email address.`;
    case 'serviceAccount':
      return EMAIL_RE.test(id) || LEGACY_WI_RE.test(id)
        ? undefined
        : `Invalid member '${member}': '${id}' is not a service account email.`;
    case 'domain':
      return /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(id) ? undefined : `Invalid member '${member}'.`;
    case 'projectOwner':
    case 'projectEditor':
    case 'projectViewer':
      return /^[a-z0-9][a-z0-9-]*$/.test(id) ? undefined : `Invalid member '${member}': '${id}' is not a project.`;
    case 'principal':
      return PRINCIPAL_RE.test(member)
        ? undefined
        : `Invalid member '${member}': expected principal:${WIF_PREFIX}N/locations/global/workloadIdentityPools/POOL/subject/SUBJECT.`;
    case 'principalSet':
      return PRINCIPAL_SET_RE.test(member)
        ? undefined
        : `Invalid member '${member}': expected principalSet:${WIF_PREFIX}N/locations/global/workloadIdentityPools/POOL/<*|namespace/NS|...>.`;
    case 'deleted':
      return undefined;
    default:
      return `Invalid member '${member}': unknown member type '${type}'.`;
  }
}

/** What a token may stand for: any valid member except the group-like ones, which name sets of callers. */
export function tokenMemberError(member: string): string | undefined {
  if (member === ADMIN_MEMBER) return `The admin member cannot be minted; use the admin token.`;
  const err = memberError(member);
  if (err) return err;
  if (
    member === 'allUsers' ||
    member === 'allAuthenticatedUsers' ||
    /^(principalSet|domain|projectOwner|projectEditor|projectViewer|deleted):/.test(member)
  ) {
    return `A token must stand for one principal, not the set '${member}'.`;
  }
  return undefined;
}

function lowerEmailMember(m: string): string {
  return /^(user|group|serviceAccount):/.test(m) ? m.toLowerCase() : m;
}

/** Other spellings of the same principal (GKE's legacy Workload Identity member for a `principal://` KSA). */
export function aliasesOf(member: string): string[] {
  const out = [lowerEmailMember(member)];
  const p = parsePrincipal(member);
  if (p?.namespace && p.ksa && p.pool.endsWith('.svc.id.goog')) {
    out.push(`serviceAccount:${p.pool}[${p.namespace}/${p.ksa}]`.toLowerCase());
  }
  return out;
}

/** Which basic project role a `projectOwner:`/`projectEditor:`/`projectViewer:` member stands for. */
export function convenienceRole(member: string): { role: string; project: string } | undefined {
  const m = /^project(Owner|Editor|Viewer):(.+)$/.exec(member);
  if (!m) return undefined;
  return { role: `roles/${(m[1] as string).toLowerCase()}`, project: m[2] as string };
}

export interface MatchContext {
  /** The emulator's project id and number: `projectOwner:` members of other projects match nobody. */
  projectId: string;
  projectNumber: string;
  /** Whether the caller holds a basic role (roles/owner …) in the project policy. */
  hasProjectRole(role: string): boolean;
}

/** A caller parsed once per permission check: its spellings and, for Workload Identity, its parts. */
export interface Caller {
  member: string;
  aliases: ReadonlySet<string>;
  principal: WorkloadPrincipal | undefined;
}

export function callerOf(member: string): Caller {
  return { member, aliases: new Set(aliasesOf(member)), principal: parsePrincipal(member) };
}

/**
 * Whether `bindingMember` (from a policy) covers `caller` (the authenticated member).
 * Exact match (emails case-insensitive), allUsers, allAuthenticatedUsers, the project convenience members and
 * Workload Identity principal sets (`/*` and `/namespace/NS`). Other principal sets match nobody here.
 */
export function memberMatches(bindingMember: string, caller: string | Caller, ctx: MatchContext): boolean {
  if (bindingMember === 'allUsers' || bindingMember === 'allAuthenticatedUsers') return true;
  const c = typeof caller === 'string' ? callerOf(caller) : caller;
  if (c.aliases.has(lowerEmailMember(bindingMember))) return true;
  if (bindingMember.startsWith('project')) {
    const conv = convenienceRole(bindingMember);
    if (conv) {
      return (conv.project === ctx.projectId || conv.project === ctx.projectNumber) && ctx.hasProjectRole(conv.role);
    }
    return false;
  }
  if (!bindingMember.startsWith('principalSet:')) return false;
  const set = PRINCIPAL_SET_RE.exec(bindingMember);
  const p = c.principal;
  if (!set || !p || p.projectNumber !== set[1] || p.pool !== set[2]) return false;
  const selector = set[3] as string;
  if (selector === '*') return true;
  const ns = /^namespace\/([^/]+)$/.exec(selector);
  return ns !== null && p.namespace === ns[1];
}

/** How Google names the caller in a 403 message: the bare email for users and service accounts. */
export function displayMember(member: string): string {
  const m = /^(user|serviceAccount|group):(.+)$/.exec(member);
  return m ? (m[2] as string) : member;
}

/** The email a metadata server reports for a principal (GKE reports the pool for direct Workload Identity). */
export function metadataEmail(member: string, projectId: string): string {
  const sa = /^serviceAccount:(.+)$/.exec(member);
  if (sa) return sa[1] as string;
  const user = /^user:(.+)$/.exec(member);
  if (user) return user[1] as string;
  const p = parsePrincipal(member);
  if (p) return p.pool;
  return `${projectId}.svc.id.goog`;
}
