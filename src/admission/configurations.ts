// The webhook configurations Tidemark keeps (CONTRACTS.md "Webhooks"). Pure: what they should say.
//
// tidemark-mutating holds one pair of entries per CheckpointPolicy — its SparkApplications and its driver Pods —
// each with that policy's namespaceSelector and failurePolicy Fail. So while Tidemark is down:
//   (a) a namespace no policy selects matches no entry: the API server never calls Tidemark for it;
//   (b) in a selected namespace, creating a SparkApplication or a driver pod fails (the Spark Operator retries the
//       submission), so no selected job starts without its location and its access.
// tidemark-validating has one static entry for CheckpointPolicies that fails open (the controller's own
// RootOverlap refusal is the safety net).
import type { CheckpointPolicy } from '../api/index.js';
import { cmp, compileSelector, type LabelSelector } from '../policy/selector.js';
import { DRIVER_POD_LABELS } from './driver-gate.js';

export const MUTATING_CONFIGURATION = 'tidemark-mutating';
export const VALIDATING_CONFIGURATION = 'tidemark-validating';
export const VALIDATING_WEBHOOK = 'checkpointpolicies.tidemark.dev';

export const Paths = {
  sparkApplication: '/mutate/sparkapplication',
  driverPod: '/mutate/driver-pod',
  checkpointPolicy: '/validate/checkpointpolicy',
} as const;

/** Where the API server reaches the webhook server. */
export type WebhookTarget =
  | { kind: 'Service'; namespace: string; name: string; port: number }
  | { kind: 'URL'; url: string };

export interface ClientConfig {
  service?: { namespace: string; name: string; port: number; path: string };
  url?: string;
  caBundle?: string;
}

export interface Webhook {
  name: string;
  admissionReviewVersions: string[];
  clientConfig: ClientConfig;
  rules: { operations: string[]; apiGroups: string[]; apiVersions: string[]; resources: string[]; scope: string }[];
  failurePolicy: 'Fail' | 'Ignore';
  matchPolicy: 'Equivalent';
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  sideEffects: 'None' | 'NoneOnDryRun';
  timeoutSeconds: number;
  reinvocationPolicy?: 'IfNeeded' | 'Never';
}

export function clientConfig(target: WebhookTarget, path: string, caBundle: string | undefined): ClientConfig {
  const ca = caBundle ? { caBundle: Buffer.from(caBundle).toString('base64') } : {};
  if (target.kind === 'URL') return { url: `${target.url.replace(/\/$/, '')}${path}`, ...ca };
  return { service: { namespace: target.namespace, name: target.name, port: target.port, path }, ...ca };
}

/**
 * The entries of tidemark-mutating: two per policy, sorted by policy name. A policy whose namespaceSelector is
 * invalid gets none (the API server would refuse the whole configuration); its own status says why.
 * `caBundle` is PEM (undefined: left to cert-manager's CA injector).
 */
export function mutatingWebhooks(
  policies: readonly CheckpointPolicy[],
  target: WebhookTarget,
  caBundle: string | undefined,
): Webhook[] {
  const out: Webhook[] = [];
  const sorted = [...policies].sort((a, b) => cmp(a.metadata.name ?? '', b.metadata.name ?? ''));
  for (const p of sorted) {
    const name = p.metadata.name;
    const sel = p.spec?.namespaceSelector;
    if (!name || !sel || !compileSelector(sel).ok) continue;
    const common = {
      admissionReviewVersions: ['v1'],
      failurePolicy: 'Fail' as const,
      matchPolicy: 'Equivalent' as const,
      namespaceSelector: copySelector(sel),
      // Events are recorded only for requests that are not dry runs.
      sideEffects: 'NoneOnDryRun' as const,
      timeoutSeconds: 10,
      reinvocationPolicy: 'IfNeeded' as const,
    };
    out.push({
      name: `${name}.sparkapplications.tidemark.dev`,
      clientConfig: clientConfig(target, Paths.sparkApplication, caBundle),
      rules: [
        {
          operations: ['CREATE'],
          apiGroups: ['sparkoperator.k8s.io'],
          apiVersions: ['v1beta2'],
          resources: ['sparkapplications'],
          scope: 'Namespaced',
        },
      ],
      ...common,
    });
    out.push({
      name: `${name}.driver-pods.tidemark.dev`,
      clientConfig: clientConfig(target, Paths.driverPod, caBundle),
      rules: [
        { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' },
      ],
      objectSelector: { matchLabels: { ...DRIVER_POD_LABELS } },
      ...common,
    });
  }
  return out;
}

/** The one entry of tidemark-validating. */
export function validatingWebhook(target: WebhookTarget, caBundle: string | undefined): Webhook {
  return {
    name: VALIDATING_WEBHOOK,
    admissionReviewVersions: ['v1'],
    clientConfig: clientConfig(target, Paths.checkpointPolicy, caBundle),
    rules: [
      {
        operations: ['CREATE', 'UPDATE'],
        apiGroups: ['tidemark.dev'],
        apiVersions: ['v1alpha1'],
        resources: ['checkpointpolicies'],
        scope: 'Cluster',
      },
    ],
    failurePolicy: 'Ignore',
    matchPolicy: 'Equivalent',
    sideEffects: 'None',
    timeoutSeconds: 10,
  };
}

function copySelector(sel: LabelSelector): LabelSelector {
  return JSON.parse(JSON.stringify(sel)) as LabelSelector;
}
