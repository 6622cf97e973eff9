// Keeps the webhook's TLS Secret (kubernetes.io/tls: tls.crt, tls.key, ca.crt, plus ca.key) and hands the current
// material to the server.
// - Every replica, at start: read the Secret; create it when absent (a lost create race is a 409: read the
//   winner's), replace it when it cannot serve (resourceVersion-conditional, so two replicas never both win).
//   Every replica then polls it and reloads on change, so all serve what the Secret holds.
// - The leader renews it before expiry (see certs.ts), and calls `beforeWrite` with the new CA bundle first, so the
//   webhook configurations trust a new CA before any replica serves a certificate it signed.
// With cert-manager (--webhook-cert-dir) this is not used: the files are watched instead (see cert-files.ts).
import type { Logger } from '../kube/log.js';
import { isConflict, isNotFound, type KubeRest } from '../kube/rest.js';
import { type CertOptions, judge, renew, type TlsData } from './certs.js';

const SECRET = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true } as const;

interface SecretObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
  [k: string]: unknown;
}

export interface ServingMaterial {
  cert: string;
  key: string;
  /** PEM CA bundle the API server should trust. */
  caBundle: string;
}

export interface TlsSource {
  current(): ServingMaterial;
  /** Called after the material changed (new certificate or bundle); returns an unsubscribe function. */
  onChange(listener: (m: ServingMaterial) => void): () => void;
  /** The leader's duty (a no-op for sources that renew elsewhere). */
  renewIfDue(beforeWrite: (caBundle: string) => Promise<void>): Promise<void>;
  /** Re-reads the source now (what the poll does). */
  reload(): Promise<void>;
  stop(): void;
}

/** Change listeners of a TLS source. */
export class Listeners<T> {
  private readonly list: ((value: T) => void)[] = [];

  add(listener: (value: T) => void): () => void {
    this.list.push(listener);
    return () => {
      const i = this.list.indexOf(listener);
      if (i >= 0) this.list.splice(i, 1);
    };
  }

  emit(value: T): void {
    for (const l of [...this.list]) l(value);
  }
}

const decode = (data: Record<string, string> | undefined): Partial<TlsData> =>
  Object.fromEntries(
    Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  ) as Partial<TlsData>;

const encode = (data: TlsData): Record<string, string> =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));

export interface SecretKeeperOptions {
  rest: KubeRest;
  namespace: string;
  name: string;
  cert: CertOptions;
  logger: Logger;
  /** How often the Secret is re-read (default 60 s). */
  pollMs?: number;
  now?: () => number;
}

export class SecretTlsSource implements TlsSource {
  private material: ServingMaterial | undefined;
  private data: Partial<TlsData> | undefined;
  private resourceVersion: string | undefined;
  private readonly listeners = new Listeners<ServingMaterial>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  private constructor(private readonly o: SecretKeeperOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Reads (or bootstraps) the Secret and starts polling it. */
  static async start(o: SecretKeeperOptions): Promise<SecretTlsSource> {
    const s = new SecretTlsSource(o);
    await s.bootstrap();
    s.timer = setInterval(
      () => void s.reload().catch((err) => o.logger.error({ err }, 'webhook TLS Secret: reload failed')),
      o.pollMs ?? 60_000,
    );
    s.timer.unref();
    return s;
  }

  current(): ServingMaterial {
    if (!this.material) throw new Error('webhook TLS material not loaded');
    return this.material;
  }

  onChange(listener: (m: ServingMaterial) => void): () => void {
    return this.listeners.add(listener);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private where(): string {
    return `Secret ${this.o.namespace}/${this.o.name}`;
  }

  private async read(): Promise<SecretObject | undefined> {
    try {
      return await this.o.rest.get<SecretObject>(SECRET, this.o.name, this.o.namespace);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private adopt(secret: SecretObject): void {
    const data = decode(secret.data);
    this.resourceVersion = secret.metadata.resourceVersion;
    const next = { cert: data['tls.crt'] ?? '', key: data['tls.key'] ?? '', caBundle: data['ca.crt'] ?? '' };
    const changed =
      !this.material ||
      this.material.cert !== next.cert ||
      this.material.key !== next.key ||
      this.material.caBundle !== next.caBundle;
    this.data = data;
    this.material = next;
    if (changed) this.listeners.emit(next);
  }

  /** Write `data` (create, or replace at the resourceVersion read); on a lost race read the winner's. */
  private async write(data: TlsData, existing: SecretObject | undefined): Promise<void> {
    const body: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      ...(existing ?? {}),
      metadata: existing
        ? { ...existing.metadata }
        : { name: this.o.name, namespace: this.o.namespace, labels: { 'app.kubernetes.io/managed-by': 'tidemark' } },
      type: 'kubernetes.io/tls',
      data: encode(data),
    };
    try {
      const stored = existing
        ? await this.o.rest.replace<SecretObject>(SECRET, body)
        : await this.o.rest.create<SecretObject>(SECRET, body);
      this.adopt(stored);
    } catch (err) {
      if (!(isConflict(err) || (err as { statusCode?: number }).statusCode === 409)) throw err;
      const winner = await this.read();
      if (!winner) throw err;
      this.adopt(winner);
    }
  }

  private async bootstrap(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const secret = await this.read();
      const data = secret ? decode(secret.data) : undefined;
      const v = await judge(data, this.o.cert, this.now());
      if (v.kind !== 'Unusable') {
        if (secret) this.adopt(secret);
        return;
      }
      if (attempt >= 3) throw new Error(`${this.where()}: still unusable after ${attempt} writes (${v.why})`);
      this.o.logger.info({ secret: this.where(), why: v.why }, 'webhook TLS: issuing a CA and serving certificate');
      await this.write(await renew(undefined, v, this.o.cert, this.now()), secret);
      const after = await judge(this.data, this.o.cert, this.now());
      if (after.kind !== 'Unusable') return;
    }
  }

  async reload(): Promise<void> {
    const secret = await this.read();
    if (!secret) {
      // Deleted by hand: put one back (any replica may).
      await this.bootstrap();
      return;
    }
    if (secret.metadata.resourceVersion !== this.resourceVersion) this.adopt(secret);
  }

  async renewIfDue(beforeWrite: (caBundle: string) => Promise<void>): Promise<void> {
    const secret = await this.read();
    const data = secret ? decode(secret.data) : undefined;
    const v = await judge(data, this.o.cert, this.now());
    if (v.kind === 'Ok') {
      if (secret && secret.metadata.resourceVersion !== this.resourceVersion) this.adopt(secret);
      return;
    }
    this.o.logger.info({ secret: this.where(), verdict: v.kind, why: v.why }, 'webhook TLS: renewing');
    const next = await renew(data, v, this.o.cert, this.now());
    if (next['ca.crt'] !== data?.['ca.crt']) await beforeWrite(next['ca.crt']);
    await this.write(next, secret);
  }
}
