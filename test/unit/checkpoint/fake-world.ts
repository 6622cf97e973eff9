// An in-memory world for the Checkpoint reconciler: fakes of Tidemark's own narrow interfaces (ClusterView,
// CheckpointWriter, EventSink, AccessBackend), never of a Google or Kubernetes client. The fake GCS keeps managed
// folder policies and bucket policies as bindings and answers "which members hold which role where".
import type { AccessBackend, AccessMode, GrantObservation, GrantRequest } from '../../../src/access/backend.js';
import { AccessError } from '../../../src/access/backend.js';
import { jobCondition } from '../../../src/access/condition.js';
import type { Checkpoint, CheckpointPolicy, CheckpointStatus } from '../../../src/api/index.js';
import type {
  CachedScheduledSparkApplication,
  CachedSparkApplication,
  CheckpointWriter,
  ClusterView,
  EventSink,
  ObjectRef,
} from '../../../src/checkpoint/world.js';
import { PolicySet } from '../../../src/policy/plan.js';

export const PROJECT_NUMBER = '1';
export const POOL = 'p.svc.id.goog';
export const wi = (ns: string, sa: string) =>
  `principal://iam.googleapis.com/projects/${PROJECT_NUMBER}/locations/global/workloadIdentityPools/${POOL}/subject/ns/${ns}/sa/${sa}`;

export interface Binding {
  role: string;
  members: string[];
  condition?: { title: string; expression: string } | undefined;
}

/** The fake GCS: folder policies by `bucket\nfolder`, bucket policies by bucket. */
export class FakeGcs {
  readonly folders = new Map<string, Binding[]>();
  readonly buckets = new Map<string, Binding[]>();
  readonly goneBuckets = new Set<string>();
  readonly forbiddenBuckets = new Set<string>();
  /** Every call, in order ("observe ManagedFolder b/p/", "apply ..."). */
  readonly log: string[] = [];

  check(bucket: string): void {
    if (this.goneBuckets.has(bucket)) throw new AccessError('BucketNotFound', `Bucket gs://${bucket} does not exist.`);
    if (this.forbiddenBuckets.has(bucket)) throw new AccessError('ControllerForbidden', 'permission denied (403)');
  }

  bucket(bucket: string): Binding[] {
    let b = this.buckets.get(bucket);
    if (!b) {
      b = [];
      this.buckets.set(bucket, b);
    }
    return b;
  }

  /** Every (bucket, where, role) a member holds, sorted: where is `folder:<prefix>` or `cond:<title>`. */
  holdings(member: string): string[] {
    const out: string[] = [];
    for (const [k, bs] of this.folders) {
      for (const b of bs) if (b.members.includes(member)) out.push(`${k.replace('\n', ' folder:')} ${b.role}`);
    }
    for (const [bucket, bs] of this.buckets) {
      for (const b of bs)
        if (b.members.includes(member)) out.push(`${bucket} cond:${b.condition?.title ?? ''} ${b.role}`);
    }
    return out.sort();
  }
}

export class FakeFolderBackend implements AccessBackend {
  readonly mode = 'ManagedFolder' as const;
  constructor(private readonly gcs: FakeGcs) {}

  async observe(req: GrantRequest): Promise<GrantObservation> {
    this.gcs.log.push(`observe ManagedFolder ${req.bucket}/${req.prefix} ${req.role}`);
    this.gcs.check(req.bucket);
    const policy = this.gcs.folders.get(`${req.bucket}\n${req.prefix}`);
    if (!policy) return { members: [], prefixReady: false };
    return observation(policy, req.role);
  }

  async apply(req: GrantRequest): Promise<GrantObservation> {
    this.gcs.log.push(`apply ManagedFolder ${req.bucket}/${req.prefix} ${req.role} [${req.members.join(',')}]`);
    this.gcs.check(req.bucket);
    const key = `${req.bucket}\n${req.prefix}`;
    if (!this.gcs.folders.has(key) && req.members.length === 0) return { members: [], prefixReady: false };
    const policy: Binding[] =
      req.members.length > 0 ? [{ role: req.role, members: [...new Set(req.members)].sort() }] : [];
    this.gcs.folders.set(key, policy);
    return observation(policy, req.role);
  }
}

function observation(policy: Binding[], role: string): GrantObservation {
  const members = new Set<string>();
  const foreign: string[] = [];
  for (const b of policy) {
    if (b.role === role && !b.condition) for (const m of b.members) members.add(m);
    else if (b.members.length > 0) foreign.push(`${b.role}: ${b.members.join(', ')}`);
  }
  return { members: [...members].sort(), prefixReady: true, foreign };
}

export class FakeBucketBackend implements AccessBackend {
  readonly mode = 'BucketCondition' as const;
  constructor(private readonly gcs: FakeGcs) {}

  private binding(req: GrantRequest): { list: Binding[]; title: string; expression: string } {
    const c = jobCondition(req.bucket, req.prefix, req.job);
    return { list: this.gcs.bucket(req.bucket), title: c.title, expression: c.expression };
  }

  async observe(req: GrantRequest): Promise<GrantObservation> {
    this.gcs.log.push(`observe BucketCondition ${req.bucket}/${req.prefix} ${req.role}`);
    this.gcs.check(req.bucket);
    const { list, expression } = this.binding(req);
    const b = list.find((x) => x.role === req.role && x.condition?.expression === expression);
    return { members: [...(b?.members ?? [])].sort(), prefixReady: true };
  }

  async apply(req: GrantRequest): Promise<GrantObservation> {
    this.gcs.log.push(`apply BucketCondition ${req.bucket}/${req.prefix} ${req.role} [${req.members.join(',')}]`);
    this.gcs.check(req.bucket);
    const { list, title, expression } = this.binding(req);
    let b = list.find((x) => x.role === req.role && x.condition?.expression === expression);
    if (!b) {
      b = { role: req.role, members: [], condition: { title, expression } };
      list.push(b);
    }
    const desired = new Set(req.members);
    b.members = [
      ...new Set([...b.members.filter((m) => desired.has(m) || !req.applied.includes(m)), ...req.members]),
    ].sort();
    if (b.members.length === 0) list.splice(list.indexOf(b), 1);
    return { members: [...b.members], prefixReady: true };
  }
}

type Meta = { name: string; namespace?: string; uid?: string; creationTimestamp?: Date };

/** The cluster: objects by kind, a CheckpointWriter over them with resourceVersions, and recorded Events. */
export class FakeCluster implements ClusterView, CheckpointWriter, EventSink {
  readonly policiesByName = new Map<string, CheckpointPolicy>();
  readonly namespaces = new Map<string, Record<string, string>>();
  readonly apps = new Map<string, CachedSparkApplication>();
  readonly scheduled = new Map<string, CachedScheduledSparkApplication>();
  readonly cps = new Map<string, Checkpoint>();
  readonly events: { ref: ObjectRef; type: string; reason: string; message: string }[] = [];
  /** Status writes to refuse with 409 (counted down). */
  conflictsOnStatus = 0;
  /** Log shared with FakeGcs so tests can check the order of status writes and GCS calls. */
  constructor(readonly log: string[] = []) {}
  private rv = 1;
  private uid = 1;
  private clock = 0;

  policySet(): PolicySet {
    return new PolicySet([...this.policiesByName.values()]);
  }
  policies(): CheckpointPolicy[] {
    return [...this.policiesByName.values()];
  }
  namespaceLabels(ns: string) {
    return this.namespaces.get(ns);
  }
  readonly terminating = new Set<string>();
  namespaceTerminating(ns: string) {
    return this.terminating.has(ns);
  }
  serviceAccount(_ns: string, name: string) {
    return { metadata: { name } };
  }
  sparkApplication(ns: string, name: string) {
    return this.apps.get(`${ns}/${name}`);
  }
  scheduledSparkApplication(ns: string, name: string) {
    return this.scheduled.get(`${ns}/${name}`);
  }
  checkpoint(ns: string, name: string) {
    const cp = this.cps.get(`${ns}/${name}`);
    return cp ? structuredClone(cp) : undefined;
  }
  checkpoints() {
    return [...this.cps.values()].map((c) => structuredClone(c));
  }

  event(ref: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.events.push({ ref, type, reason, message });
  }
  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }

  private meta(m: Meta): Meta {
    return {
      ...m,
      uid: `uid-${this.uid++}`,
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, this.clock++)),
    };
  }

  addPolicy(
    name: string,
    o: { bucket?: string; root?: string; ns?: Record<string, string>; mode?: AccessMode; role?: string },
  ) {
    this.policiesByName.set(name, {
      apiVersion: 'tidemark.dev/v1alpha1',
      kind: 'CheckpointPolicy',
      metadata: { ...this.meta({ name }), generation: 1 },
      spec: {
        namespaceSelector: { matchLabels: o.ns ?? { team: 'a' } },
        jobSelector: {},
        storage: { bucket: o.bucket ?? 'bkt', rootPrefix: o.root ?? 'ckpt' },
        access: {
          mode: o.mode ?? 'ManagedFolder',
          role: o.role ?? 'roles/storage.objectUser',
          identity: 'KubernetesServiceAccount',
          workloadIdentity: { projectNumber: PROJECT_NUMBER, pool: POOL },
          propagationHold: '0s',
        },
      },
    } as CheckpointPolicy);
  }

  addApp(ns: string, name: string, sa = 'spark') {
    this.apps.set(`${ns}/${name}`, {
      metadata: this.meta({ name, namespace: ns }),
      spec: { driver: { serviceAccount: sa }, executor: { serviceAccount: sa } },
    } as CachedSparkApplication);
  }

  /** A Checkpoint made by hand (as a user with create rights could): no status, whatever spec. */
  handMade(cp: Omit<Checkpoint, 'apiVersion' | 'kind'>): Checkpoint {
    return this.store({ apiVersion: 'tidemark.dev/v1alpha1', kind: 'Checkpoint', ...cp } as Checkpoint);
  }

  /** Stores a new Checkpoint as the API server would: fresh uid, resourceVersion, generation 1, no status. */
  private store(checkpoint: Checkpoint): Checkpoint {
    const obj = structuredClone(checkpoint);
    obj.metadata = {
      ...obj.metadata,
      ...this.meta(obj.metadata as Meta),
      resourceVersion: String(this.rv++),
      generation: 1,
    };
    delete obj.status;
    this.cps.set(`${obj.metadata.namespace}/${obj.metadata.name}`, obj);
    return structuredClone(obj);
  }

  /** kubectl delete: sets deletionTimestamp (removes at once when no finalizer). */
  delete(ns: string, name: string) {
    const cp = this.cps.get(`${ns}/${name}`);
    if (!cp) return;
    if ((cp.metadata.finalizers ?? []).length === 0) this.cps.delete(`${ns}/${name}`);
    else {
      cp.metadata.deletionTimestamp = new Date('2026-01-02T00:00:00Z');
      cp.metadata.resourceVersion = String(this.rv++);
    }
  }

  async create(checkpoint: Checkpoint): Promise<Checkpoint> {
    const key = `${checkpoint.metadata.namespace}/${checkpoint.metadata.name}`;
    if (this.cps.has(key)) throw Object.assign(new Error('exists'), { statusCode: 409 });
    const obj = this.store(checkpoint);
    this.log.push(`create ${key}`);
    return obj;
  }

  async patch(namespace: string, name: string, patch: object, resourceVersion?: string): Promise<Checkpoint> {
    const key = `${namespace}/${name}`;
    const cur = this.cps.get(key);
    if (!cur) throw Object.assign(new Error('not found'), { statusCode: 404 });
    if (resourceVersion !== undefined && resourceVersion !== cur.metadata.resourceVersion) {
      throw Object.assign(new Error('conflict'), { statusCode: 409 });
    }
    const p = patch as { metadata?: Record<string, unknown>; spec?: Record<string, unknown> };
    const next = structuredClone(cur);
    if (p.metadata?.labels) next.metadata.labels = { ...next.metadata.labels, ...(p.metadata.labels as object) };
    if (p.metadata?.finalizers) next.metadata.finalizers = p.metadata.finalizers as string[];
    if (p.spec) {
      next.spec = { ...next.spec, ...p.spec };
      next.metadata.generation = (next.metadata.generation ?? 1) + 1;
    }
    next.metadata.resourceVersion = String(this.rv++);
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) this.cps.delete(key);
    else this.cps.set(key, next);
    this.log.push(`patch ${key}`);
    return structuredClone(next);
  }

  async writeStatus(checkpoint: Checkpoint, status: CheckpointStatus): Promise<Checkpoint> {
    const key = `${checkpoint.metadata.namespace}/${checkpoint.metadata.name}`;
    const cur = this.cps.get(key);
    if (!cur) throw Object.assign(new Error('not found'), { statusCode: 404 });
    if (this.conflictsOnStatus > 0) {
      this.conflictsOnStatus--;
      this.log.push(`status ${key} 409`);
      throw Object.assign(new Error('conflict'), { statusCode: 409 });
    }
    if (checkpoint.metadata.resourceVersion !== cur.metadata.resourceVersion) {
      throw Object.assign(new Error('conflict'), { statusCode: 409 });
    }
    const next = structuredClone(cur);
    next.status = structuredClone(status);
    next.metadata.resourceVersion = String(this.rv++);
    this.cps.set(key, next);
    this.log.push(
      `status ${key} grants=${JSON.stringify((status.grants ?? []).map((g) => [g.mode, g.role, g.members.length]))}`,
    );
    return structuredClone(next);
  }
}
