// The leader's upkeep of the two webhook configurations: tidemark-mutating's `webhooks` list follows the
// CheckpointPolicies (two entries per policy, see configurations.ts), and both carry the current caBundle (unless
// cert-manager's CA injector owns it). Created when absent (the playground and tests have no static manifests);
// written only when different, with the resourceVersion read (a 409 is retried with a fresh read).
import type { CheckpointPolicy } from '../api/index.js';
import type { Logger } from '../kube/log.js';
import { isConflict, isNotFound, type KubeRest } from '../kube/rest.js';
import {
  MUTATING_CONFIGURATION,
  mutatingWebhooks,
  VALIDATING_CONFIGURATION,
  validatingWebhook,
  type Webhook,
  type WebhookTarget,
} from './configurations.js';

const MUTATING = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  plural: 'mutatingwebhookconfigurations',
  kind: 'MutatingWebhookConfiguration',
  namespaced: false,
} as const;
const VALIDATING = { ...MUTATING, plural: 'validatingwebhookconfigurations', kind: 'ValidatingWebhookConfiguration' };

interface Configuration {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  webhooks?: Webhook[] | null;
  [k: string]: unknown;
}

export interface ConfigKeeperOptions {
  rest: KubeRest;
  target: WebhookTarget;
  /** The PEM bundle to publish; undefined: leave caBundle to cert-manager's CA injector (kept as found). */
  caBundle: () => string | undefined;
  policies: () => CheckpointPolicy[];
  logger: Logger;
}

/** Compares what the API server returns (defaults filled in) with what we want, on the fields we set. */
function sameWebhooks(have: readonly Webhook[] | null | undefined, want: readonly Webhook[]): boolean {
  const pick = (w: Webhook) => {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(w)) o[k] = (w as unknown as Record<string, unknown>)[k];
    return o;
  };
  const h = have ?? [];
  if (h.length !== want.length) return false;
  return want.every((w, i) => {
    const got = h[i] as unknown as Record<string, unknown>;
    return Object.entries(pick(w)).every(([k, v]) => JSON.stringify(got?.[k]) === JSON.stringify(v));
  });
}

export class ConfigKeeper {
  constructor(private readonly o: ConfigKeeperOptions) {}

  /** Brings both configurations up to date; `caBundle` overrides the source's (during a CA rotation). */
  async sync(caBundle?: string): Promise<void> {
    const bundle = caBundle ?? this.o.caBundle();
    await this.keep(MUTATING, MUTATING_CONFIGURATION, (found) =>
      mutatingWebhooks(this.o.policies(), this.o.target, bundle ?? foundBundle(found)),
    );
    await this.keep(VALIDATING, VALIDATING_CONFIGURATION, (found) => [
      validatingWebhook(this.o.target, bundle ?? foundBundle(found)),
    ]);
  }

  private async keep(
    rt: typeof MUTATING | typeof VALIDATING,
    name: string,
    want: (found: Configuration | undefined) => Webhook[],
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let found: Configuration | undefined;
      try {
        found = await this.o.rest.get<Configuration>(rt, name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const webhooks = want(found);
      try {
        if (!found) {
          await this.o.rest.create<Configuration>(rt, {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: rt.kind,
            metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'tidemark' } },
            webhooks,
          });
          this.o.logger.info({ configuration: name, webhooks: webhooks.length }, 'webhook configuration created');
          return;
        }
        if (sameWebhooks(found.webhooks, webhooks)) return;
        await this.o.rest.replace<Configuration>(rt, { ...found, webhooks });
        this.o.logger.info({ configuration: name, webhooks: webhooks.length }, 'webhook configuration updated');
        return;
      } catch (err) {
        if (attempt < 5 && (isConflict(err) || (err as { statusCode?: number }).statusCode === 409)) continue;
        throw err;
      }
    }
  }
}

/** cert-manager mode: the caBundle the CA injector put on any entry (the same CA for all). */
function foundBundle(found: Configuration | undefined): string | undefined {
  const b64 = found?.webhooks?.find((w) => w.clientConfig?.caBundle)?.clientConfig.caBundle;
  return b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
}
