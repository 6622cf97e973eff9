// TLS from files (cert-manager's mounted Certificate Secret: tls.crt, tls.key, ca.crt), re-read when they change.
// cert-manager renews them and its CA injector keeps caBundle current (annotation cert-manager.io/inject-ca-from on
// the configurations), so this source never renews and the configuration keeper leaves caBundle alone.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../kube/log.js';
import { Listeners, type ServingMaterial, type TlsSource } from './cert-keeper.js';

export class FileTlsSource implements TlsSource {
  private material: ServingMaterial | undefined;
  private readonly listeners = new Listeners<ServingMaterial>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  static async start(dir: string, logger: Logger, pollMs = 30_000): Promise<FileTlsSource> {
    const s = new FileTlsSource(dir, logger);
    await s.reload();
    s.timer = setInterval(
      () => void s.reload().catch((err) => logger.error({ err, dir }, 'webhook TLS files: reload failed')),
      pollMs,
    );
    s.timer.unref();
    return s;
  }

  current(): ServingMaterial {
    if (!this.material) throw new Error('webhook TLS files not loaded');
    return this.material;
  }

  onChange(listener: (m: ServingMaterial) => void): () => void {
    return this.listeners.add(listener);
  }

  async renewIfDue(): Promise<void> {}

  async reload(): Promise<void> {
    const read = (f: string) => readFile(join(this.dir, f), 'utf8');
    const [cert, key] = await Promise.all([read('tls.crt'), read('tls.key')]);
    const caBundle = await read('ca.crt').catch(() => '');
    const m = this.material;
    if (m && m.cert === cert && m.key === key && m.caBundle === caBundle) return;
    this.material = { cert, key, caBundle };
    if (m) this.logger.info({ dir: this.dir }, 'webhook TLS files changed: reloaded');
    this.listeners.emit(this.material);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
