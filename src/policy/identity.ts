// Which IAM members a job's grant goes to.
//
// The job's Kubernetes service accounts (KSAs): driver = spec.driver.serviceAccount, else `default`; executor =
// spec.executor.serviceAccount, else the driver's (a scheduled job's spec is its ScheduledSparkApplication's
// spec.template). Executors write state-store files, so both get access.
// - identity KubernetesServiceAccount: each KSA's Workload Identity Federation principal
//   `principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL/subject/ns/NS/sa/KSA`.
//   The KSA need not exist yet (GitOps may create it after the job); the principal names it regardless.
// - identity GoogleServiceAccount: `serviceAccount:EMAIL` where EMAIL is the KSA's annotation
//   `iam.gke.io/gcp-service-account`, only when EMAIL matches the policy's allowedServiceAccounts. Patterns are an
//   exact email or a glob whose `*` (only in the part before '@') stands for a run of one or more characters other
//   than '@'; the domain is always literal (as the CRD says) and the match is anchored at both ends. So
//   `*@proj.iam.gserviceaccount.com` never matches `x@evil-proj.iam.gserviceaccount.com`,
//   `x@a.proj.iam.gserviceaccount.com` or `x@proj.iam.gserviceaccount.com.evil.io`.
// Members come out deduplicated and sorted.

import type { SparkApplicationSpecLike } from './job.js';
import { dns1123LabelError, dns1123SubdomainError } from './names.js';
import { cmp } from './selector.js';

export const GSA_ANNOTATION = 'iam.gke.io/gcp-service-account';

export type IdentityMode = 'KubernetesServiceAccount' | 'GoogleServiceAccount';

export interface IdentityAccess {
  identity?: IdentityMode | string | undefined;
  workloadIdentity?: { projectNumber?: string | undefined; pool?: string | undefined } | null | undefined;
  allowedServiceAccounts?: readonly string[] | null | undefined;
}

export interface ServiceAccountLike {
  metadata: { name?: string | undefined; annotations?: Readonly<Record<string, string>> | null | undefined };
}

export type IdentityReason =
  | 'InvalidIdentityMode'
  | 'InvalidWorkloadIdentity'
  | 'InvalidAllowedServiceAccounts'
  | 'InvalidServiceAccountName'
  | 'ServiceAccountMissing'
  | 'ServiceAccountAnnotationMissing'
  | 'InvalidServiceAccountAnnotation'
  | 'ServiceAccountNotAllowed';

export interface IdentityProblem {
  /** The KSA concerned, when there is one. */
  serviceAccount?: string;
  reason: IdentityReason;
  message: string;
}

export interface ResolvedIdentity {
  serviceAccount: string;
  roles: ('driver' | 'executor')[];
  member: string;
}

export type IdentityResult =
  | { ok: true; members: string[]; driver: string; executor: string; identities: ResolvedIdentity[] }
  | { ok: false; reason: IdentityReason; message: string; problems: IdentityProblem[] };

/** The driver's and executors' KSA names (not validated). */
export function jobServiceAccounts(spec: SparkApplicationSpecLike | null | undefined): {
  driver: string;
  executor: string;
} {
  const driver = nonEmpty(spec?.driver?.serviceAccount) ?? 'default';
  const executor = nonEmpty(spec?.executor?.serviceAccount) ?? driver;
  return { driver, executor };
}

function nonEmpty(s: string | null | undefined): string | undefined {
  return typeof s === 'string' && s !== '' ? s : undefined;
}

/** The Workload Identity Federation principal of a KSA. */
export function workloadIdentityPrincipal(projectNumber: string, pool: string, namespace: string, ksa: string): string {
  return `principal://iam.googleapis.com/projects/${projectNumber}/locations/global/workloadIdentityPools/${pool}/subject/ns/${namespace}/sa/${ksa}`;
}

const POOL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** Why a workloadIdentity block is unusable, or undefined. */
export function workloadIdentityError(
  wi: { projectNumber?: string | undefined; pool?: string | undefined } | null | undefined,
): string | undefined {
  if (!wi)
    return 'access.workloadIdentity (projectNumber and pool) is required when identity is KubernetesServiceAccount';
  const { projectNumber, pool } = wi;
  if (typeof projectNumber !== 'string' || !/^[1-9][0-9]{0,19}$/.test(projectNumber)) {
    return `access.workloadIdentity.projectNumber ${JSON.stringify(projectNumber)} must be a project number (digits)`;
  }
  if (typeof pool !== 'string' || pool.length > 253 || !POOL.test(pool)) {
    return `access.workloadIdentity.pool ${JSON.stringify(pool)} must be a pool name such as my-project.svc.id.goog`;
  }
  return undefined;
}

const EMAIL = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

/** Why `email` is not a (lower-case) service account email, or undefined. */
export function serviceAccountEmailError(email: string): string | undefined {
  if (email.length > 254 || !EMAIL.test(email)) {
    return `${JSON.stringify(email)} is not a service account email (lower-case name@domain)`;
  }
  return undefined;
}

export type AllowedMatcher = (email: string) => boolean;

const LOCAL_PATTERN = /^[a-z0-9._*-]+$/;

/** Compiles allowedServiceAccounts into one matcher, or lists every invalid pattern. */
export function compileAllowedServiceAccounts(
  patterns: readonly string[] | null | undefined,
): { ok: true; matches: AllowedMatcher } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  (patterns ?? []).forEach((p, i) => {
    const at = `access.allowedServiceAccounts[${i}] ${JSON.stringify(p)}`;
    if (typeof p !== 'string') {
      errors.push(`${at} must be a string`);
      return;
    }
    if (!p.includes('*')) {
      const err = serviceAccountEmailError(p);
      if (err) errors.push(`${at}: ${err}`);
      else exact.add(p);
      return;
    }
    const parts = p.split('@');
    if (parts.length !== 2) {
      errors.push(`${at}: a pattern must have exactly one "@"`);
      return;
    }
    const [local, domain] = parts as [string, string];
    if (!LOCAL_PATTERN.test(local)) {
      errors.push(`${at}: the part before "@" may only contain lower-case letters, digits, ".", "_", "-" and "*"`);
      return;
    }
    if (domain.includes('*')) {
      errors.push(`${at}: the domain is never a wildcard; only the part before "@" may hold "*"`);
      return;
    }
    const domainErr = serviceAccountEmailError(`x@${domain}`);
    if (domainErr) {
      errors.push(`${at}: "${domain}" is not a service account domain`);
      return;
    }
    // `*` is one run of one or more characters, never '@'; `**` is the same run as `*`.
    const localRe = local
      .replace(/\*+/g, '*')
      .split('*')
      .map((lit) => lit.replace(/[.-]/g, (c) => `\\${c}`))
      .join('[^@]+');
    const domainRe = domain.replace(/[.-]/g, (c) => `\\${c}`);
    globs.push(new RegExp(`^${localRe}@${domainRe}$`));
  });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    matches: (email) =>
      serviceAccountEmailError(email) === undefined && (exact.has(email) || globs.some((g) => g.test(email))),
  };
}

export interface IdentityInput {
  namespace: string;
  /** The job's spec (a scheduled job: its ScheduledSparkApplication's spec.template). */
  spec: SparkApplicationSpecLike | null | undefined;
  access: IdentityAccess;
  /** The namespace's ServiceAccounts by name (needed in GoogleServiceAccount mode). */
  serviceAccount: (name: string) => ServiceAccountLike | undefined;
}

/** The IAM members that should hold the job's grant, or why there are none. */
export function resolveJobIdentities(input: IdentityInput): IdentityResult {
  const { namespace, access } = input;
  const { driver, executor } = jobServiceAccounts(input.spec);
  const nsErr = dns1123LabelError(namespace);
  if (nsErr) return fail([{ reason: 'InvalidServiceAccountName', message: `namespace "${namespace}" ${nsErr}` }]);

  const byKsa = new Map<string, ('driver' | 'executor')[]>();
  byKsa.set(driver, ['driver']);
  if (executor === driver) byKsa.get(driver)?.push('executor');
  else byKsa.set(executor, ['executor']);

  const problems: IdentityProblem[] = [];
  for (const ksa of byKsa.keys()) {
    const err = dns1123SubdomainError(ksa);
    if (err) {
      problems.push({
        serviceAccount: ksa,
        reason: 'InvalidServiceAccountName',
        message: `service account name "${ksa}" ${err}`,
      });
    }
  }
  if (problems.length > 0) return fail(problems);

  const mode = access.identity ?? 'KubernetesServiceAccount';
  const identities: ResolvedIdentity[] = [];
  if (mode === 'KubernetesServiceAccount') {
    const wiErr = workloadIdentityError(access.workloadIdentity);
    if (wiErr) return fail([{ reason: 'InvalidWorkloadIdentity', message: wiErr }]);
    const { projectNumber, pool } = access.workloadIdentity as { projectNumber: string; pool: string };
    for (const [ksa, roles] of byKsa) {
      identities.push({
        serviceAccount: ksa,
        roles,
        member: workloadIdentityPrincipal(projectNumber, pool, namespace, ksa),
      });
    }
  } else if (mode === 'GoogleServiceAccount') {
    const allowed = compileAllowedServiceAccounts(access.allowedServiceAccounts);
    if (!allowed.ok) {
      return fail([{ reason: 'InvalidAllowedServiceAccounts', message: allowed.errors.join('; ') }]);
    }
    for (const [ksa, roles] of byKsa) {
      const sa = input.serviceAccount(ksa);
      const who = `ServiceAccount ${namespace}/${ksa} (${roles.join(' and ')})`;
      if (!sa) {
        problems.push({ serviceAccount: ksa, reason: 'ServiceAccountMissing', message: `${who} does not exist` });
        continue;
      }
      const annotations = sa.metadata.annotations ?? {};
      const email = Object.hasOwn(annotations, GSA_ANNOTATION) ? annotations[GSA_ANNOTATION] : undefined;
      if (email === undefined || email === '') {
        problems.push({
          serviceAccount: ksa,
          reason: 'ServiceAccountAnnotationMissing',
          message: `${who} has no ${GSA_ANNOTATION} annotation naming its Google service account`,
        });
        continue;
      }
      const emailErr = serviceAccountEmailError(email);
      if (emailErr) {
        problems.push({
          serviceAccount: ksa,
          reason: 'InvalidServiceAccountAnnotation',
          message: `${who}: annotation ${GSA_ANNOTATION} ${emailErr}`,
        });
        continue;
      }
      if (!allowed.matches(email)) {
        const list = (access.allowedServiceAccounts ?? []).join(', ') || 'none';
        problems.push({
          serviceAccount: ksa,
          reason: 'ServiceAccountNotAllowed',
          message: `${who} maps to ${email}, which the policy's allowedServiceAccounts (${list}) do not allow`,
        });
        continue;
      }
      identities.push({ serviceAccount: ksa, roles, member: `serviceAccount:${email}` });
    }
    if (problems.length > 0) return fail(problems);
  } else {
    return fail([
      {
        reason: 'InvalidIdentityMode',
        message: `access.identity ${JSON.stringify(mode)} is not KubernetesServiceAccount or GoogleServiceAccount`,
      },
    ]);
  }
  const members = [...new Set(identities.map((i) => i.member))].sort(cmp);
  return { ok: true, members, driver, executor, identities };
}

function fail(problems: IdentityProblem[]): IdentityResult {
  const first = problems[0] as IdentityProblem;
  return {
    ok: false,
    reason: first.reason,
    message: `${problems.map((p) => p.message).join('; ')}.`,
    problems,
  };
}
