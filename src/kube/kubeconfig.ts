// Our own kubeconfig loading (parse, kubectl-style merge, context selection, in-cluster service account), so that
// the controller and `tidemark gc` need not load @kubernetes/client-node: importing even its KubeConfig pulls the
// whole generated API (~70 MB of RSS). Request authentication (certificates, tokens, exec plugins) is in
// credentials.ts.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { KubeCredentials } from './credentials.js';

export interface KubeCluster {
  name: string;
  server: string;
  /** PEM from certificate-authority-data (decoded). */
  caData?: string | undefined;
  /** certificate-authority, absolute. */
  caFile?: string | undefined;
  skipTLSVerify: boolean;
  tlsServerName?: string | undefined;
  /** Fields set that tidemark does not implement (refused when this cluster is selected). */
  unsupported?: string[];
}

export interface ExecEnvVar {
  name: string;
  value: string;
}

export interface ExecConfig {
  apiVersion: string;
  command: string;
  args: string[];
  env: ExecEnvVar[];
  provideClusterInfo: boolean;
  interactiveMode?: string | undefined;
}

export interface KubeUser {
  name: string;
  token?: string | undefined;
  /** tokenFile, absolute. */
  tokenFile?: string | undefined;
  certData?: string | undefined;
  certFile?: string | undefined;
  keyData?: string | undefined;
  keyFile?: string | undefined;
  exec?: ExecConfig | undefined;
  /** Fields set that tidemark does not implement (refused when this user is selected). */
  unsupported?: string[];
}

export interface KubeContext {
  name: string;
  cluster: string;
  user: string;
  namespace?: string | undefined;
}

/** One kubeconfig, or several merged; named entries, first definition of a name wins. */
export interface KubeconfigData {
  clusters: KubeCluster[];
  users: KubeUser[];
  contexts: KubeContext[];
  currentContext?: string | undefined;
}

/**
 * Fields we do not implement. Failing with the field's name beats connecting without the authentication or route
 * the user configured.
 */
const UNSUPPORTED_CLUSTER = ['proxy-url'];
const UNSUPPORTED_USER = ['auth-provider', 'username', 'password', 'as', 'as-groups', 'as-uid', 'as-user-extra'];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new Error(`${where}: ${key} must be a string`);
  return v;
}

function named(list: unknown, key: string, file: string): { name: string; body: Obj }[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error(`kubeconfig ${file}: ${key} must be a list`);
  return list.map((item, i) => {
    if (!isObj(item) || typeof item.name !== 'string' || item.name === '') {
      throw new Error(`kubeconfig ${file}: ${key}[${i}] has no name`);
    }
    const singular = key.slice(0, -1);
    const body = item[singular] ?? {};
    if (!isObj(body)) throw new Error(`kubeconfig ${file}: ${key}[${i}] (${item.name}).${singular} must be a mapping`);
    return { name: item.name, body };
  });
}

function base64(v: string | undefined): string | undefined {
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/** Parses one kubeconfig's text; relative file paths are resolved against `baseDir` (the file's directory). */
export function parseKubeconfig(text: string, file: string, baseDir: string): KubeconfigData {
  const doc: unknown = parse(text);
  if (doc === null || doc === undefined) return { clusters: [], users: [], contexts: [] };
  if (!isObj(doc)) throw new Error(`kubeconfig ${file} is not a mapping`);
  const abs = (p: string | undefined) => (p === undefined ? undefined : isAbsolute(p) ? p : resolve(baseDir, p));
  const clusters = named(doc.clusters, 'clusters', file).map(({ name, body }): KubeCluster => {
    const where = `kubeconfig ${file}: cluster ${name}`;
    const server = str(body, 'server', where);
    if (!server) throw new Error(`${where} has no server`);
    return {
      name,
      server,
      caData: base64(str(body, 'certificate-authority-data', where)),
      caFile: abs(str(body, 'certificate-authority', where)),
      skipTLSVerify: body['insecure-skip-tls-verify'] === true,
      tlsServerName: str(body, 'tls-server-name', where),
      unsupported: UNSUPPORTED_CLUSTER.filter((f) => body[f] !== undefined),
    };
  });
  const users = named(doc.users, 'users', file).map(({ name, body }): KubeUser => {
    const where = `kubeconfig ${file}: user ${name}`;
    return {
      name,
      token: str(body, 'token', where),
      tokenFile: abs(str(body, 'tokenFile', where)),
      certData: base64(str(body, 'client-certificate-data', where)),
      certFile: abs(str(body, 'client-certificate', where)),
      keyData: base64(str(body, 'client-key-data', where)),
      keyFile: abs(str(body, 'client-key', where)),
      exec: body.exec === undefined ? undefined : parseExec(body.exec, where, baseDir),
      unsupported: UNSUPPORTED_USER.filter((f) => body[f] !== undefined),
    };
  });
  const contexts = named(doc.contexts, 'contexts', file).map(({ name, body }): KubeContext => {
    const where = `kubeconfig ${file}: context ${name}`;
    return {
      name,
      cluster: str(body, 'cluster', where) ?? '',
      user: str(body, 'user', where) ?? '',
      namespace: str(body, 'namespace', where),
    };
  });
  const current = doc['current-context'];
  return {
    clusters,
    users,
    contexts,
    currentContext: typeof current === 'string' && current !== '' ? current : undefined,
  };
}

const EXEC_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];

function parseExec(v: unknown, where: string, baseDir: string): ExecConfig {
  if (!isObj(v)) throw new Error(`${where}: exec must be a mapping`);
  const apiVersion = str(v, 'apiVersion', `${where}.exec`) ?? '';
  if (!EXEC_VERSIONS.includes(apiVersion)) {
    throw new Error(
      `${where}: exec apiVersion ${apiVersion || '(none)'} is not supported (${EXEC_VERSIONS.join(', ')})`,
    );
  }
  let command = str(v, 'command', `${where}.exec`);
  if (!command) throw new Error(`${where}: exec has no command`);
  // Like kubectl: a command with a path separator is relative to the kubeconfig's directory; a bare name is
  // looked up in PATH.
  if (command.includes('/') && !isAbsolute(command)) command = join(baseDir, command);
  const args = v.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new Error(`${where}: exec args must be a list of strings`);
  }
  const env = v.env ?? [];
  if (!Array.isArray(env) || !env.every((e) => isObj(e) && typeof e.name === 'string')) {
    throw new Error(`${where}: exec env must be a list of {name, value}`);
  }
  return {
    apiVersion,
    command,
    args: args as string[],
    env: (env as Obj[]).map((e) => ({ name: e.name as string, value: String(e.value ?? '') })),
    provideClusterInfo: v.provideClusterInfo === true,
    interactiveMode: str(v, 'interactiveMode', `${where}.exec`),
  };
}

/**
 * kubectl's merge of $KUBECONFIG files: for each named cluster, user and context the first file that defines the
 * name wins; current-context comes from the first file that sets it.
 */
export function mergeKubeconfigs(configs: KubeconfigData[]): KubeconfigData {
  const out: KubeconfigData = { clusters: [], users: [], contexts: [] };
  for (const c of configs) {
    for (const key of ['clusters', 'users', 'contexts'] as const) {
      const have = new Set(out[key].map((e) => e.name));
      for (const e of c[key]) {
        if (!have.has(e.name)) (out[key] as { name: string }[]).push(e);
        have.add(e.name);
      }
    }
    out.currentContext ??= c.currentContext;
  }
  return out;
}

/** The files of the in-cluster service account (a directory, for tests). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function inClusterKubeconfig(env: NodeJS.ProcessEnv, dir = SERVICE_ACCOUNT_DIR): KubeconfigData {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  const tokenFile = join(dir, 'token');
  if (!existsSync(tokenFile)) {
    throw new Error(`KUBERNETES_SERVICE_HOST is set but the service account token ${tokenFile} does not exist`);
  }
  const nsFile = join(dir, 'namespace');
  return {
    clusters: [
      {
        name: 'in-cluster',
        server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
        caFile: join(dir, 'ca.crt'),
        skipTLSVerify: false,
      },
    ],
    users: [{ name: 'in-cluster', tokenFile }],
    contexts: [
      {
        name: 'in-cluster',
        cluster: 'in-cluster',
        user: 'in-cluster',
        namespace: existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : undefined,
      },
    ],
    currentContext: 'in-cluster',
  };
}

export function readKubeconfigFile(path: string): KubeconfigData {
  return parseKubeconfig(readFileSync(path, 'utf8'), path, dirname(resolve(path)));
}

export interface KubeConfigSource {
  /** An explicit kubeconfig file; wins over everything else. */
  kubeconfig?: string | undefined;
  /** A context inside the kubeconfig; default its current-context. */
  context?: string | undefined;
  /** Environment to read KUBECONFIG / KUBERNETES_SERVICE_HOST from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The in-cluster service account's directory (default SERVICE_ACCOUNT_DIR; for tests). */
  serviceAccountDir?: string;
}

export type KubeConfigOrigin = 'file' | 'env' | 'in-cluster' | 'home';

/** A loaded kubeconfig with its context selected: the cluster and user requests use. */
export interface SelectedKubeconfig {
  context: KubeContext;
  cluster: KubeCluster;
  user: KubeUser;
}

function select(data: KubeconfigData, contextName: string | undefined): SelectedKubeconfig {
  if (contextName !== undefined && !data.contexts.some((c) => c.name === contextName)) {
    throw new Error(`kubeconfig has no context named ${contextName}`);
  }
  const name = contextName ?? data.currentContext;
  const context = data.contexts.find((c) => c.name === name);
  const cluster = data.clusters.find((c) => c.name === context?.cluster);
  if (!context || !cluster) throw new Error('kubeconfig has no current context/cluster');
  // A context without a (known) user talks to the cluster anonymously, as with kubectl.
  const user = data.users.find((u) => u.name === context.user) ?? { name: context.user };
  for (const [what, entry] of [
    ['cluster', cluster],
    ['user', user],
  ] as const) {
    if (entry.unsupported?.length) {
      throw new Error(
        `kubeconfig ${what} ${entry.name}: ${entry.unsupported.join(', ')} ${entry.unsupported.length > 1 ? 'are' : 'is'} not supported by tidemark`,
      );
    }
  }
  return { context, cluster, user };
}

/**
 * Reads the kubeconfig in this order: an explicit path; $KUBECONFIG (colon-separated files are merged, like
 * kubectl); the in-cluster service account (when KUBERNETES_SERVICE_HOST is set); ~/.kube/config. Unlike
 * @kubernetes/client-node's `loadFromDefault`, it never falls back silently to http://localhost:8080: no
 * configuration is an error.
 */
export function readKubeconfig(source: KubeConfigSource = {}): {
  selected: SelectedKubeconfig;
  origin: KubeConfigOrigin;
} {
  const env = source.env ?? process.env;
  let data: KubeconfigData;
  let origin: KubeConfigOrigin;
  if (source.kubeconfig) {
    if (!existsSync(source.kubeconfig)) throw new Error(`kubeconfig ${source.kubeconfig} does not exist`);
    data = readKubeconfigFile(source.kubeconfig);
    origin = 'file';
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(':').filter((f) => f !== '');
    const existing = files.filter((f) => existsSync(f));
    if (existing.length === 0) throw new Error(`KUBECONFIG names no existing file: ${env.KUBECONFIG}`);
    data = mergeKubeconfigs(existing.map(readKubeconfigFile));
    origin = 'env';
  } else if (env.KUBERNETES_SERVICE_HOST) {
    data = inClusterKubeconfig(env, source.serviceAccountDir);
    origin = 'in-cluster';
  } else {
    const home = join(env.HOME ?? homedir(), '.kube', 'config');
    if (!existsSync(home)) {
      throw new Error('no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
    }
    data = readKubeconfigFile(home);
    origin = 'home';
  }
  return { selected: select(data, source.context), origin };
}

/**
 * `readKubeconfig`, ready for requests: the selected context's cluster and credentials (KubeRest takes it).
 * `--context` selects another context than the current one.
 */
export function loadKubeConfig(source: KubeConfigSource = {}): {
  kubeConfig: KubeCredentials;
  origin: KubeConfigOrigin;
} {
  const { selected, origin } = readKubeconfig(source);
  return { kubeConfig: new KubeCredentials(selected), origin };
}
