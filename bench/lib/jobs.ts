// Kubernetes side of the benchmarks: a CheckpointPolicy, namespaces that opt in, one service account per job (one IAM
// member each, as in the measurement; BucketCondition allows only 20 conditions per member and role), the
// SparkApplications, and a watch that notes the moment each Checkpoint turns Ready.
import type { Checkpoint } from '../../src/api/index.js';
import { Labels } from '../../src/api/index.js';
import { Informer } from '../../src/kube/informer.js';
import { Resources } from '../../src/kube/resources.js';
import { isConflict, type KubeObject, type KubeRest } from '../../src/kube/rest.js';
import type { Stack } from './stack.js';

export type Mode = 'ManagedFolder' | 'BucketCondition';

export interface PolicyOptions {
  name: string;
  mode: Mode;
  rootPrefix: string;
  /** Default 0s: the benchmarks time the controller, not the configured hold. */
  propagationHold?: string;
  retention?: string;
  maxDeletesPerRun?: number;
}

export const NS_LABEL = 'tidemark.dev/bench';
export const JOB_LABEL = 'tidemark.dev/checkpoint';

export function policyManifest(stack: Stack, o: PolicyOptions): KubeObject {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'CheckpointPolicy',
    metadata: { name: o.name },
    spec: {
      namespaceSelector: { matchLabels: { [NS_LABEL]: o.name } },
      jobSelector: { matchLabels: { [JOB_LABEL]: 'true' } },
      storage: { bucket: stack.bucket, rootPrefix: o.rootPrefix },
      access: {
        mode: o.mode,
        role: 'roles/storage.objectUser',
        identity: 'KubernetesServiceAccount',
        workloadIdentity: { projectNumber: stack.gcs.projectNumber, pool: `${stack.gcs.project}.svc.id.goog` },
        propagationHold: o.propagationHold ?? '0s',
      },
      retention: { afterRelease: o.retention ?? '7d' },
      // Never during a benchmark (1 January, 03:00); gc-1m runs `tidemark gc` itself.
      gc: { schedule: '0 3 1 1 *', maxDeletesPerRun: o.maxDeletesPerRun ?? 100 },
    },
  } as KubeObject;
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Creates the policy and waits until it is Ready and (with a controller) its admission webhooks are registered. */
export async function createPolicy(stack: Stack, o: PolicyOptions, withController = true): Promise<void> {
  await stack.rest.create(Resources.CheckpointPolicy, policyManifest(stack, o));
  if (!withController) return;
  await until(`policy ${o.name} Ready`, 60_000, async () => {
    const p = await stack.rest.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(
      Resources.CheckpointPolicy,
      o.name,
    );
    return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  });
  await until(`the admission webhooks of policy ${o.name}`, 60_000, async () => {
    const m = await stack.rest.request<{ webhooks?: { name: string }[] }>(
      'GET',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tidemark-mutating',
    );
    return (m.webhooks ?? []).some((w) => w.name.startsWith(`${o.name}.`)) ? true : undefined;
  });
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    }),
  );
}

/** Creates, retrying on the API server's 429 (priority and fairness) and conflicts of a previous attempt. */
export async function createRetrying(rest: KubeRest, rt: Parameters<KubeRest['create']>[0], obj: KubeObject) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await rest.create(rt, obj);
    } catch (err) {
      if (isConflict(err)) return obj; // created by an earlier attempt whose answer was lost
      const status = (err as { statusCode?: number }).statusCode;
      if ((status === 429 || status === 503 || status === 500) && attempt < 10) {
        await new Promise((r) => setTimeout(r, 100 * attempt));
        continue;
      }
      throw err;
    }
  }
}

export interface Job {
  namespace: string;
  name: string;
  serviceAccount: string;
}

/** `count` jobs spread over `namespaces` namespaces named `<prefix>-<i>`, one service account per job. */
export function planJobs(prefix: string, namespaces: number, count: number, offset = 0): Job[] {
  return Array.from({ length: count }, (_, k) => {
    const i = k + offset;
    return { namespace: `${prefix}-${i % namespaces}`, name: `job-${i}`, serviceAccount: `sa-${i}` };
  });
}

/** Namespaces (labelled for the policy) and the jobs' service accounts: set-up, not timed. */
export async function createNamespacesAndAccounts(stack: Stack, policy: string, jobs: readonly Job[]) {
  const namespaces = [...new Set(jobs.map((j) => j.namespace))];
  await pool(namespaces, 8, async (ns) => {
    await createRetrying(stack.rest, Resources.Namespace, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { [NS_LABEL]: policy } },
    });
  });
  await pool(jobs, 16, async (j) => {
    await createRetrying(stack.rest, Resources.ServiceAccount, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: j.serviceAccount, namespace: j.namespace },
    });
  });
}

export function sparkApplication(j: Job): KubeObject {
  return {
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: { name: j.name, namespace: j.namespace, labels: { [JOB_LABEL]: 'true' } },
    spec: {
      type: 'Python',
      mode: 'cluster',
      sparkVersion: '4.0.0',
      image: 'apache/spark:4.0.0-python3',
      mainApplicationFile: 'local:///opt/app/stream.py',
      driver: { serviceAccount: j.serviceAccount, cores: 1, memory: '1g' },
      executor: { instances: 1, cores: 1, memory: '1g' },
    },
  } as KubeObject;
}

export const key = (ns: string, name: string) => `${ns}/${name}`;

const isReady = (cp: Checkpoint) =>
  cp.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** Watches the policy's Checkpoints and notes when each is first seen Ready (performance.now() ms). */
export class ReadyWatch {
  readonly readyAt = new Map<string, number>();
  private readonly informer: Informer<Checkpoint & KubeObject>;
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(rest: KubeRest, policy: string) {
    this.informer = new Informer<Checkpoint & KubeObject>({
      rest,
      resource: Resources.Checkpoint,
      labelSelector: `${Labels.policy}=${policy}`,
      relistIntervalMs: 0,
    });
    this.informer.onChange((cp) => {
      const k = key(cp.metadata.namespace ?? '', cp.metadata.name ?? '');
      if (this.readyAt.has(k) || !isReady(cp)) return;
      this.readyAt.set(k, performance.now());
      this.waiters = this.waiters.filter((w) => {
        if (this.readyAt.size < w.n) return true;
        w.resolve();
        return false;
      });
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  /** Resolves when `n` Checkpoints have been Ready; rejects after `timeoutMs`. */
  waitForCount(n: number, timeoutMs: number): Promise<void> {
    if (this.readyAt.size >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${this.readyAt.size} of ${n} Checkpoints Ready after ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  stop(): void {
    this.informer.stop();
  }
}
