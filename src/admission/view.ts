// What admission reads: the controller's informer caches, with a live GET where a cache may lag behind a create that
// just happened (a namespace, a SparkApplication or ScheduledSparkApplication created a moment before the object
// under review). Every replica has these caches, leader or not.
import type { Checkpoint, CheckpointPolicy } from '../api/index.js';
import { Resources } from '../kube/resources.js';
import { isNotFound, type KubeObject, type KubeRest, type ResourceType } from '../kube/rest.js';
import type { ServiceAccountLike } from '../policy/identity.js';
import type { ScheduledSparkApplicationLike, SparkApplicationLike } from '../policy/job.js';
import { PolicySet } from '../policy/plan.js';
import type { Labels } from '../policy/selector.js';

export interface CacheLike<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): T[];
  onChange(handler: (obj: T, old?: T) => void): unknown;
}

type Meta = { metadata: { name?: string; namespace?: string; labels?: Record<string, string> } };

export interface AdmissionCaches {
  policies: CacheLike<CheckpointPolicy>;
  checkpoints: CacheLike<Checkpoint>;
  sparkApplications: CacheLike<SparkApplicationLike>;
  scheduledSparkApplications: CacheLike<ScheduledSparkApplicationLike>;
  namespaces: CacheLike<Meta>;
  serviceAccounts: CacheLike<ServiceAccountLike>;
}

export class AdmissionView {
  private set: PolicySet | undefined;

  constructor(
    private readonly caches: AdmissionCaches,
    private readonly rest: KubeRest,
  ) {
    caches.policies.onChange(() => {
      this.set = undefined;
    });
  }

  policies(): CheckpointPolicy[] {
    return this.caches.policies.list();
  }

  policySet(): PolicySet {
    this.set ??= new PolicySet(this.caches.policies.list());
    return this.set;
  }

  policy(name: string): CheckpointPolicy | undefined {
    return this.caches.policies.get(name);
  }

  namespaces(): { name: string; labels: Labels }[] {
    return this.caches.namespaces.list().map((n) => ({ name: n.metadata.name ?? '', labels: n.metadata.labels ?? {} }));
  }

  async namespaceLabels(ns: string): Promise<Labels | undefined> {
    const n = await this.cachedOrLive(this.caches.namespaces, Resources.Namespace, ns, undefined);
    return n ? (n.metadata.labels ?? {}) : undefined;
  }

  serviceAccount(ns: string, name: string): ServiceAccountLike | undefined {
    return this.caches.serviceAccounts.get(name, ns);
  }

  sparkApplication(ns: string, name: string): Promise<SparkApplicationLike | undefined> {
    return this.cachedOrLive(this.caches.sparkApplications, Resources.SparkApplication, name, ns);
  }

  scheduledSparkApplication(ns: string, name: string): Promise<ScheduledSparkApplicationLike | undefined> {
    return this.cachedOrLive(this.caches.scheduledSparkApplications, Resources.ScheduledSparkApplication, name, ns);
  }

  checkpoint(ns: string, name: string): Checkpoint | undefined {
    return this.caches.checkpoints.get(name, ns);
  }

  private async cachedOrLive<T>(
    cache: CacheLike<T>,
    rt: ResourceType,
    name: string,
    ns: string | undefined,
  ): Promise<T | undefined> {
    const hit = cache.get(name, ns);
    if (hit) return hit;
    try {
      return (await this.rest.get<KubeObject>(rt, name, ns, { timeoutMs: 5_000 })) as unknown as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

export { existingCheckpoint } from '../checkpoint/refs.js';
