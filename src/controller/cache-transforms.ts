// What the controller's informers keep of the objects it only reads (SparkApplications, ScheduledSparkApplications,
// ServiceAccounts: it never writes them, so nothing cached is ever sent back). Known-unread bulky parts are dropped
// rather than the read parts listed, so that a new read of a field keeps working:
// - metadata.managedFields (the informer's default transform);
// - the annotation kubectl.kubernetes.io/last-applied-configuration: a full copy of the object as last applied;
//   annotations are read by key only (src/policy/select.ts, identity.ts);
// - status of SparkApplications and ScheduledSparkApplications (application state, executor states, one entry
//   per executor, past run names): the controller reads their metadata and spec (src/policy/job.ts, identity.ts),
//   never their status. ServiceAccounts keep theirs (they have none).
import { stripManagedFields } from '../kube/informer.js';
import type { KubeObject } from '../kube/rest.js';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** managedFields and the last-applied annotation out (ServiceAccounts, and the base of sparkJobCacheTransform). */
export function readOnlyCacheTransform<T extends KubeObject>(raw: KubeObject): T {
  const obj = stripManagedFields<KubeObject>(raw);
  const annotations = obj.metadata?.annotations;
  if (!annotations || !Object.hasOwn(annotations, LAST_APPLIED_ANNOTATION)) return obj as T;
  const { [LAST_APPLIED_ANNOTATION]: _dropped, ...rest } = annotations;
  return { ...obj, metadata: { ...obj.metadata, annotations: rest } } as T;
}

/** readOnlyCacheTransform, and status out: for SparkApplications and ScheduledSparkApplications. */
export function sparkJobCacheTransform<T extends KubeObject>(raw: KubeObject): T {
  const obj = readOnlyCacheTransform<KubeObject & { status?: unknown }>(raw);
  if (!('status' in obj)) return obj as T;
  const { status: _dropped, ...rest } = obj;
  return rest as T;
}
