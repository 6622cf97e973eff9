// Every integration file starts on a cluster with no Tidemark or Spark objects left by the files that ran on it
// before (vitest.config.ts runs clean-cluster.ts, which calls resetCluster, as the integration project's setup file).
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
  PatchStrategy,
} from '@kubernetes/client-node';

const SYSTEM_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
/** Kinds that live in a namespace, and kinds of the whole cluster, that tests create. */
const NAMESPACED = [
  ['tidemark.dev/v1alpha1', 'Checkpoint'],
  ['sparkoperator.k8s.io/v1beta2', 'SparkApplication'],
  ['sparkoperator.k8s.io/v1beta2', 'ScheduledSparkApplication'],
] as const;
const CLUSTER_WIDE = [
  ['tidemark.dev/v1alpha1', 'CheckpointPolicy'],
  ['admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration'],
  ['admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration'],
] as const;

const missing = (err: unknown) => err instanceof ApiException && err.code === 404;

/**
 * Lists a kind (in one namespace, or everywhere), waiting out 429 "storage is (re)initializing": a custom
 * resource's storage is still starting for a while after its CRD was (re)created, e.g. when the first file of a
 * fresh cluster starts at once. A kind whose CRD is not installed lists nothing.
 */
async function listAll(
  objects: KubernetesObjectApi,
  apiVersion: string,
  kind: string,
  namespace?: string,
): Promise<KubernetesObject[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await objects.list(apiVersion, kind, namespace)).items;
    } catch (err) {
      if (missing(err)) return [];
      if (!(err instanceof ApiException && err.code === 429) || attempt >= 60) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Deletes every object of a kind (in one namespace, or everywhere), its finalizers first; returns how many. */
async function removeAll(objects: KubernetesObjectApi, apiVersion: string, kind: string, namespace?: string) {
  const items = await listAll(objects, apiVersion, kind, namespace);
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
            PatchStrategy.MergePatch,
          );
        }
        await objects.delete(ref);
      } catch (err) {
        if (!missing(err)) throw err;
      }
    }),
  );
  return items.length;
}

/** Deletes a namespace and finalizes it at once (nothing else would: there is no namespace controller). */
async function removeNamespace(core: CoreV1Api, name: string, terminating: boolean): Promise<void> {
  try {
    if (!terminating) await core.deleteNamespace({ name });
    await core.replaceNamespaceFinalize({ name, body: { metadata: { name }, spec: { finalizers: [] } } });
  } catch (err) {
    if (!missing(err)) throw err;
  }
}

/**
 * With no controller running: removes a namespace's Checkpoints (finalizers first) and Spark applications, and the
 * namespace itself.
 */
export async function clearNamespace(kc: KubeConfig, name: string): Promise<void> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const [apiVersion, kind] of NAMESPACED) await removeAll(objects, apiVersion, kind, name);
  await removeNamespace(kc.makeApiClient(CoreV1Api), name, false);
}

/** What resetCluster() removed, per kind (for the log of a file that found leftovers). */
export type Removed = Record<string, number>;

/**
 * Removes every Checkpoint (finalizers first), CheckpointPolicy, SparkApplication, ScheduledSparkApplication and
 * webhook configuration, and every namespace but the system ones (finalized, so that none stays Terminating).
 */
export async function resetCluster(kc: KubeConfig): Promise<Removed> {
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const removed: Removed = {};
  for (const [apiVersion, kind] of [...NAMESPACED, ...CLUSTER_WIDE]) {
    const n = await removeAll(objects, apiVersion, kind);
    if (n > 0) removed[kind] = n;
  }
  const namespaces = (await core.listNamespace()).items.filter((n) => !SYSTEM_NAMESPACES.has(n.metadata?.name ?? ''));
  await Promise.all(
    namespaces.map((n) => removeNamespace(core, n.metadata?.name ?? '', Boolean(n.metadata?.deletionTimestamp))),
  );
  if (namespaces.length > 0) removed.Namespace = namespaces.length;
  return removed;
}
