// What other code needs to know of a Checkpoint object, in one place: the reference an Event is recorded on, and the
// parts that decide who may bind it (policy/naming.ts decideBinding). Pure; shared by the reconciler, admission and
// the garbage collector.
import { API_VERSION, type Checkpoint, CheckpointConditions, CheckpointResource, Reasons } from '../api/index.js';
import type { ExistingCheckpoint } from '../policy/naming.js';
import { findCondition } from './status.js';
import type { ObjectRef } from './world.js';

/** The Checkpoint as the object an Event is about. */
export function checkpointRef(cp: Checkpoint): ObjectRef {
  return {
    apiVersion: API_VERSION,
    kind: CheckpointResource.kind,
    namespace: cp.metadata.namespace,
    name: cp.metadata.name ?? '',
    uid: cp.metadata.uid,
  };
}

/** The parts of a Checkpoint that decide who may bind it (undefined when there is none). */
export function existingCheckpoint(cp: Checkpoint | undefined): ExistingCheckpoint | undefined {
  if (!cp) return undefined;
  const bound = findCondition(cp.status?.conditions, CheckpointConditions.Bound);
  return {
    jobRef: cp.spec.jobRef,
    policyName: cp.spec.policyName,
    bucket: cp.spec.bucket,
    prefix: cp.spec.prefix,
    phase: cp.status?.phase,
    orphaned: cp.status?.phase === 'Released' && bound?.reason === Reasons.Orphaned,
  };
}
