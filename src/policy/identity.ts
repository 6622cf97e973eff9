// Which IAM members a job's grant goes to.
//
// The job's Kubernetes service accounts (KSAs) are the ones its pods run as, resolved the way the Spark Operator
// v2.5.2 and Spark (<= 4.3) do (a scheduled job's spec is its ScheduledSparkApplication's spec.template):
// - The operator turns spec.driver.serviceAccount into `--conf spark.kubernetes.authenticate.driver.serviceAccountName`
//   (and spec.executor.serviceAccount into the `.executor.` key) AFTER the sparkConf entries; spark-submit keeps the
//   last --conf, so spec.*.serviceAccount beats the sparkConf key. The operator's webhook never sets the account.
// - Driver pod: Spark sets the driver conf over whatever the pod template says (only when the conf is set);
//   otherwise the driver template's spec.serviceAccountName (or the deprecated spec.serviceAccount); else `default`.
//   Driver: spec.driver.serviceAccount > sparkConf driver key > driver template > default.
// - Executor pods: when the executor template sets the deprecated spec.serviceAccount, it is kept; otherwise Spark
//   sets the executor conf, else the DRIVER CONF (not the driver template), when either is set; otherwise the
//   template's spec.serviceAccountName; else `default`. (Spark 4.4 is to keep a template's serviceAccountName too.)
//   Executor: template serviceAccount > spec.executor.serviceAccount > sparkConf executor key > the driver conf >
//   template serviceAccountName > default.
// When two sources name different accounts for one role, `disagreement` says so (the controller reports it on the
// Checkpoint as IdentitySourcesDisagree); the grant still goes where the pods will run.
// Executors write state-store files, so both get access.
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
  | {
      ok: true;
      members: string[];
      driver: string;
      executor: string;
      identities: ResolvedIdentity[];
      /** Sources of the service accounts disagree (see resolveServiceAccounts). */
      disagreement?: string | undefined;
    }
  | { ok: false; reason: IdentityReason; message: string; problems: IdentityProblem[] };

export const DRIVER_SA_CONF = 'spark.kubernetes.authenticate.driver.serviceAccountName';
export const EXECUTOR_SA_CONF = 'spark.kubernetes.authenticate.executor.serviceAccountName';
export const IDENTITY_SOURCES_DISAGREE = 'IdentitySourcesDisagree';

/** A KSA name and the field it came from ('default' when none names one). */
export interface AccountChoice {
  name: string;
  source: string;
}

export interface ServiceAccounts {
  driver: AccountChoice;
  executor: AccountChoice;
  /** Set when sources name different accounts for one role: a sentence naming them. */
  disagreement?: string | undefined;
}

/** The driver's and executors' KSAs as the pods will run (not validated), with where each came from. */
export function resolveServiceAccounts(spec: SparkApplicationSpecLike | null | undefined): ServiceAccounts {
  const conf = spec?.sparkConf ?? {};
  const pick = (name: string | null | undefined, source: string): AccountChoice | undefined => {
    const n = nonEmpty(name);
    return n === undefined ? undefined : { name: n, source };
  };
  const confKey = (key: string) => pick(Object.hasOwn(conf, key) ? conf[key] : undefined, `sparkConf["${key}"]`);
  const tpl = (role: 'driver' | 'executor', field: 'serviceAccountName' | 'serviceAccount') =>
    pick(spec?.[role]?.template?.spec?.[field], `spec.${role}.template.spec.${field}`);
  const dflt: AccountChoice = { name: 'default', source: 'default' };

  const driverConf = pick(spec?.driver?.serviceAccount, 'spec.driver.serviceAccount') ?? confKey(DRIVER_SA_CONF);
  const driverSources = [
    pick(spec?.driver?.serviceAccount, 'spec.driver.serviceAccount'),
    confKey(DRIVER_SA_CONF),
    tpl('driver', 'serviceAccountName'),
    tpl('driver', 'serviceAccount'),
  ];
  const driver = driverConf ?? tpl('driver', 'serviceAccountName') ?? tpl('driver', 'serviceAccount') ?? dflt;

  const executorConf =
    pick(spec?.executor?.serviceAccount, 'spec.executor.serviceAccount') ?? confKey(EXECUTOR_SA_CONF);
  const executorSources = [
    tpl('executor', 'serviceAccount'),
    pick(spec?.executor?.serviceAccount, 'spec.executor.serviceAccount'),
    confKey(EXECUTOR_SA_CONF),
    tpl('executor', 'serviceAccountName'),
  ];
  const executor =
    tpl('executor', 'serviceAccount') ?? executorConf ?? driverConf ?? tpl('executor', 'serviceAccountName') ?? dflt;

  const conflicts = (role: string, chosen: AccountChoice, sources: (AccountChoice | undefined)[]) => {
    const others = sources.filter((c): c is AccountChoice => c !== undefined && c.name !== chosen.name);
    if (others.length === 0) return undefined;
    return `the ${role} runs as "${chosen.name}" (${chosen.source}), not ${others.map((o) => `"${o.name}" (${o.source})`).join(', ')}`;
  };
  const parts = [conflicts('driver', driver, driverSources), conflicts('executors', executor, executorSources)].filter(
    (p): p is string => p !== undefined,
  );
  return {
    driver,
    executor,
    disagreement:
      parts.length > 0
        ? `The job names different service accounts: ${parts.join('; ')}. Access is granted to the accounts the pods run as (Spark Operator and Spark precedence); remove the others to silence this.`
        : undefined,
  };
}

/** The driver's and executors' KSA names (not validated). */
export function jobServiceAccounts(spec: SparkApplicationSpecLike | null | undefined): {
  driver: string;
  executor: string;
} {
  const r = resolveServiceAccounts(spec);
  return { driver: r.driver.name, executor: r.executor.name };
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
  const accounts = resolveServiceAccounts(input.spec);
  const driver = accounts.driver.name;
  const executor = accounts.executor.name;
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
  return { ok: true, members, driver, executor, identities, disagreement: accounts.disagreement };
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
