// Request authentication for a selected kubeconfig (see kubeconfig.ts): the cluster's TLS settings, client
// certificates, bearer tokens (tokenFile re-read periodically: bound service-account tokens rotate) and exec
// credential plugins (client.authentication.k8s.io/v1 and v1beta1 ExecCredential, as kubectl runs them).

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type https from 'node:https';
import type { ExecConfig, KubeCluster, SelectedKubeconfig } from './kubeconfig.js';

/** How often files named by the kubeconfig (token, CA, client certificate and key) are read again. */
const FILE_TTL_MS = 60_000;
/** An exec credential is run again this long before its expirationTimestamp. */
const EXPIRY_MARGIN_MS = 10_000;
const EXEC_TIMEOUT_MS = 60_000;

/** What KubeRest needs from a configuration: the server, and the TLS options and headers of each request. */
export interface KubeConnectionConfig {
  getCurrentCluster(): { server: string; proxyUrl?: string | undefined } | null;
  applyToHTTPSOptions(options: https.RequestOptions): Promise<void>;
  /**
   * Called after a 401 with the options the refused request was sent with: drops cached credentials that may have
   * gone stale (that exec result, token files). Returns whether sending the request again may succeed.
   */
  refreshCredentials?(refused: https.RequestOptions): boolean;
}

interface ExecResult {
  token?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  /** ms since the epoch; undefined: valid until a 401. */
  expiresAt?: number | undefined;
}

export class KubeCredentials implements KubeConnectionConfig {
  private readonly files = new Map<string, { text: string; readAt: number }>();
  private exec: { result?: ExecResult; running?: Promise<ExecResult> } = {};

  constructor(
    readonly selected: SelectedKubeconfig,
    private readonly now: () => number = Date.now,
  ) {}

  getCurrentCluster(): { server: string } {
    return { server: this.selected.cluster.server };
  }

  private file(path: string): string {
    const cached = this.files.get(path);
    if (cached && this.now() - cached.readAt < FILE_TTL_MS) return cached.text;
    const text = readFileSync(path, 'utf8');
    this.files.set(path, { text, readAt: this.now() });
    return text;
  }

  refreshCredentials(refused: https.RequestOptions): boolean {
    const user = this.selected.user;
    if (user.token !== undefined) return false;
    if (user.tokenFile !== undefined) {
      this.files.delete(user.tokenFile);
      return true;
    }
    if (!user.exec) return false;
    // Only the credential the request was refused with is dropped: when many requests in flight are refused at
    // once, the first drops it and the others wait for the same new run of the plugin.
    const r = this.exec.result;
    const auth = (refused.headers as Record<string, string> | undefined)?.Authorization;
    if (
      r &&
      ((r.token !== undefined && auth === `Bearer ${r.token}`) || (r.cert !== undefined && refused.cert === r.cert))
    ) {
      this.exec = {};
    }
    return true;
  }

  async applyToHTTPSOptions(options: https.RequestOptions): Promise<void> {
    const { cluster, user } = this.selected;
    if (cluster.caData) options.ca = cluster.caData;
    else if (cluster.caFile) options.ca = this.file(cluster.caFile);
    if (cluster.skipTLSVerify) options.rejectUnauthorized = false;
    if (cluster.tlsServerName) options.servername = cluster.tlsServerName;
    const cert = user.certData ?? (user.certFile ? this.file(user.certFile) : undefined);
    const key = user.keyData ?? (user.keyFile ? this.file(user.keyFile) : undefined);
    if (cert && key) {
      options.cert = cert;
      options.key = key;
    }
    let token = user.token ?? (user.tokenFile ? this.file(user.tokenFile).trim() : undefined);
    if (token === undefined && user.exec) {
      const r = await this.execCredential(user.exec);
      if (r.cert && r.key) {
        options.cert = r.cert;
        options.key = r.key;
      }
      token = r.token;
    }
    if (token) options.headers = { ...(options.headers as Record<string, string>), Authorization: `Bearer ${token}` };
  }

  private async execCredential(exec: ExecConfig): Promise<ExecResult> {
    const r = this.exec.result;
    if (r && (r.expiresAt === undefined || this.now() < r.expiresAt - EXPIRY_MARGIN_MS)) return r;
    if (!this.exec.running) {
      const state = this.exec;
      state.running = runExecPlugin(exec, this.selected.cluster).then(
        (result) => {
          if (this.exec === state) this.exec = { result };
          return result;
        },
        (err: unknown) => {
          if (this.exec === state) this.exec = {};
          throw err;
        },
      );
    }
    return this.exec.running as Promise<ExecResult>;
  }
}

/** Runs an exec credential plugin once and returns its credential (client.authentication.k8s.io ExecCredential). */
async function runExecPlugin(exec: ExecConfig, cluster: KubeCluster): Promise<ExecResult> {
  if (exec.interactiveMode === 'Always') {
    throw new Error(`exec plugin ${exec.command} requires interactive mode (interactiveMode: Always)`);
  }
  const info = {
    apiVersion: exec.apiVersion,
    kind: 'ExecCredential',
    spec: {
      interactive: false,
      ...(exec.provideClusterInfo
        ? {
            cluster: {
              server: cluster.server,
              ...(cluster.tlsServerName ? { 'tls-server-name': cluster.tlsServerName } : {}),
              'insecure-skip-tls-verify': cluster.skipTLSVerify,
              ...(cluster.caData || cluster.caFile
                ? {
                    'certificate-authority-data': Buffer.from(
                      cluster.caData ?? readFileSync(cluster.caFile as string, 'utf8'),
                    ).toString('base64'),
                  }
                : {}),
            },
          }
        : {}),
    },
  };
  const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
  for (const e of exec.env) env[e.name] = e.value;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      exec.command,
      exec.args,
      { env, timeout: EXEC_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 },
      (err, out, stderr) => {
        if (!err) return resolve(String(out));
        const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean };
        const how = e.killed
          ? `timed out after ${EXEC_TIMEOUT_MS} ms`
          : typeof e.code === 'number'
            ? `exit ${e.code}`
            : e.message;
        const said = String(stderr).trim().replace(/\s+/g, ' ').slice(0, 1000);
        reject(new Error(`exec plugin ${exec.command} failed (${how})${said ? `: ${said}` : ''}`));
      },
    );
  });
  let cred: { apiVersion?: unknown; kind?: unknown; status?: Record<string, unknown> };
  try {
    cred = JSON.parse(stdout) as typeof cred;
  } catch {
    throw new Error(`exec plugin ${exec.command} printed no JSON ExecCredential`);
  }
  if (cred.kind !== 'ExecCredential' || cred.apiVersion !== exec.apiVersion) {
    throw new Error(
      `exec plugin ${exec.command} returned ${String(cred.apiVersion)} ${String(cred.kind)}, want ${exec.apiVersion} ExecCredential`,
    );
  }
  const s = cred.status ?? {};
  const text = (k: string) => (typeof s[k] === 'string' && s[k] !== '' ? (s[k] as string) : undefined);
  const result: ExecResult = {
    token: text('token'),
    cert: text('clientCertificateData'),
    key: text('clientKeyData'),
  };
  if (!result.token && !(result.cert && result.key)) {
    throw new Error(
      `exec plugin ${exec.command} returned neither status.token nor status.clientCertificateData/clientKeyData`,
    );
  }
  const exp = text('expirationTimestamp');
  if (exp !== undefined) {
    const t = Date.parse(exp);
    if (Number.isNaN(t)) throw new Error(`exec plugin ${exec.command}: bad status.expirationTimestamp ${exp}`);
    result.expiresAt = t;
  }
  return result;
}
