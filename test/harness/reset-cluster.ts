// Every integration file starts on a cluster with no Tidemark or Spark objects left by the files that ran on it
// before (vitest.config.ts runs this as the integration project's setup file).
//
// Files on one worker share its cluster one after another, and the controller a file starts sees the whole
// cluster. The test cluster has no namespace controller (no kube-controller-manager), so a deleted namespace stays
// Terminating with everything in it, and a file's cleanup that failed halfway leaves its objects behind. A later
// file's controller then reconciles all of them (in CI: 100 and more, with revocations against emulators that are
// gone), which made its waits for "the controller is idle" depend on which files happened to run before it.
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
} from '@kubernetes/client-node';

const SYSTEM_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
const KINDS = [
  ['tidemark.dev/v1alpha1', 'Checkpoint'],
  ['tidemark.dev/v1alpha1', 'CheckpointPolicy'],
  ['sparkoperator.k8s.io/v1beta2', 'SparkApplication'],
  ['sparkoperator.k8s.io/v1beta2', 'ScheduledSparkApplication'],
  ['admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'],
  ['admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration'],
] as const;

const missing = (err: unknown) => err instanceof ApiException && err.code === 404;

/**
 * Lists a kind, waiting out 429 "storage is (re)initializing": a custom resource's storage is still starting for a
 * while after its CRD was (re)created, e.g. when the first file of a fresh cluster starts at once.
 */
async function listAll(objects: KubernetesObjectApi, apiVersion: string, kind: string): Promise<KubernetesObject[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await objects.list(apiVersion, kind)).items;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 429) || attempt >= 60) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** What reset() removed, per kind (for the log of a file that found leftovers). */
export type Removed = Record<string, number>;

/**
 * Removes every Checkpoint (finalizers first), CheckpointPolicy, SparkApplication, ScheduledSparkApplication and
 * webhook configuration, and every namespace but the system ones (finalized, so that none stays Terminating).
 * A kind whose CRD is not installed is skipped.
 */
export async function resetCluster(kc: KubeConfig): Promise<Removed> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const removed: Removed = {};
  for (const [apiVersion, kind] of KINDS) {
    let items: KubernetesObject[];
    try {
      items = await listAll(objects, apiVersion, kind);
    } catch (err) {
      if (missing(err)) continue;
      throw err;
    }
    await Promise.all(
      items.map(async (o) => {
        const ref = { apiVersion, kind, metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace } };
        try {
          if ((o.metadata?.finalizers ?? []).length > 0) {
            await objects.patch(
              { ...ref, metadata: { ...ref.metadata, finalizers: null } } as unknown as KubernetesObject,
              undefined,
              undefined,
              undefined,
              undefined,
              'application/merge-patch+json' as never,
            );
          }
          await objects.delete(ref);
        } catch (err) {
          if (!missing(err)) throw err;
        }
      }),
    );
    if (items.length > 0) removed[kind] = items.length;
  }
  const namespaces = (await core.listNamespace()).items.filter((n) => !SYSTEM_NAMESPACES.has(n.metadata?.name ?? ''));
  await Promise.all(
    namespaces.map(async (n) => {
      const name = n.metadata?.name ?? '';
      try {
        if (!n.metadata?.deletionTimestamp) await core.deleteNamespace({ name });
        await core.replaceNamespaceFinalize({ name, body: { metadata: { name }, spec: { finalizers: [] } } });
      } catch (err) {
        if (!missing(err)) throw err;
      }
    }),
  );
  if (namespaces.length > 0) removed.Namespace = namespaces.length;
  return removed;
}
