// CheckpointWriter over the API server: create, conditional merge patches, and status through /status.
import type { Checkpoint, CheckpointStatus } from '../api/index.js';
import { Resources } from '../kube/resources.js';
import type { KubeObject, KubeRest } from '../kube/rest.js';
import type { CheckpointWriter } from './world.js';

type Obj = Checkpoint & KubeObject;

export class KubeCheckpointWriter implements CheckpointWriter {
  constructor(private readonly rest: KubeRest) {}

  async create(checkpoint: Checkpoint): Promise<Checkpoint> {
    return this.rest.create<Obj>(Resources.Checkpoint, checkpoint as Obj);
  }

  async patch(namespace: string, name: string, patch: object, resourceVersion?: string): Promise<Checkpoint> {
    const body =
      resourceVersion === undefined
        ? patch
        : { ...patch, metadata: { ...((patch as { metadata?: object }).metadata ?? {}), resourceVersion } };
    return this.rest.mergePatch<Obj>(Resources.Checkpoint, name, namespace, body);
  }

  /** PUT /status with the object's resourceVersion: a concurrent change gives 409 and the reconcile is retried. */
  async writeStatus(checkpoint: Checkpoint, status: CheckpointStatus): Promise<Checkpoint> {
    return this.rest.replace<Obj>(Resources.Checkpoint, { ...checkpoint, status } as Obj, 'status');
  }
}
