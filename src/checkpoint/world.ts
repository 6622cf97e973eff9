// The narrow interfaces the Checkpoint reconciler works through: what it reads (informer caches), what it writes
// (the API server), and how it reports (Events). The controller wires them to src/kube; tests may wire them to a real
// API server directly.
import type { Checkpoint, CheckpointPolicy, CheckpointStatus } from '../api/index.js';
import type { ServiceAccountLike } from '../policy/identity.js';
import type { ObjectMetaLike, ScheduledSparkApplicationLike, SparkApplicationLike } from '../policy/job.js';
import type { PolicySet } from '../policy/plan.js';
import type { Labels } from '../policy/selector.js';

/** Object metadata the reconciler reads beyond what the pure modules need. */
export type CachedMeta = ObjectMetaLike & { uid?: string | undefined; creationTimestamp?: string | Date | undefined };
export type CachedSparkApplication = SparkApplicationLike & { metadata: CachedMeta };
export type CachedScheduledSparkApplication = ScheduledSparkApplicationLike & { metadata: CachedMeta };

/** Read-only view of the cluster, as cached by the informers. */
export interface ClusterView {
  /** Every CheckpointPolicy, compiled (rebuilt when a policy changes). */
  policySet(): PolicySet;
  /** Every cached CheckpointPolicy. */
  policies(): CheckpointPolicy[];
  /** The namespace's labels, or undefined when the namespace does not exist. */
  namespaceLabels(namespace: string): Labels | undefined;
  /** Whether the namespace is being deleted (has a deletionTimestamp). Optional: absent means never. */
  namespaceTerminating?(namespace: string): boolean;
  serviceAccount(namespace: string, name: string): ServiceAccountLike | undefined;
  sparkApplication(namespace: string, name: string): CachedSparkApplication | undefined;
  scheduledSparkApplication(namespace: string, name: string): CachedScheduledSparkApplication | undefined;
  checkpoint(namespace: string, name: string): Checkpoint | undefined;
  /** Every cached Checkpoint (for policy counts and the orphan scan). */
  checkpoints(): Checkpoint[];
}

/** Writes to Checkpoints. Every method returns the object as the API server stored it. */
export interface CheckpointWriter {
  create(checkpoint: Checkpoint): Promise<Checkpoint>;
  /** A JSON merge patch of metadata and spec; `resourceVersion` makes it conditional (409 when stale). */
  patch(namespace: string, name: string, patch: object, resourceVersion?: string): Promise<Checkpoint>;
  /** Replaces status through the /status subresource. */
  writeStatus(checkpoint: Checkpoint, status: CheckpointStatus): Promise<Checkpoint>;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string | undefined;
  name: string;
  uid?: string | undefined;
}

/** Best-effort Events (never throws into the caller). CamelCase reasons. */
export interface EventSink {
  event(regarding: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): void;
}
