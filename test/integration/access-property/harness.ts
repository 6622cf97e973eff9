// Carries one sequence of the access property test out on the real API server and a fresh emulator, with the
// controller running in-process as its own service account (controller-fixture.ts), waits for it to converge after
// every step, and asks the emulator what every principal can do.
//
// "Converged" is observed, never slept for: the work queue is empty with no reconcile running (the controller's
// /metrics: workqueue_depth, controller_runtime_active_workers) twice in a row with no reconcile finished in between
// (controller_runtime_reconcile_total), every policy's and every Checkpoint's status has caught up with its
// generation, no Checkpoint is being deleted (but a live job's, which the controller may refuse to let go), every
// job the model says must be provisioned has a Bound Checkpoint with AccessGranted=True, and every Checkpoint no
// live job claims is Released. Then, after steps that change GCS behind the controller's back or leave prefixes
// without a Checkpoint (and after the last step), a resync (drift repair and the orphan scan) and the same wait.
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import type { storage_v1 } from 'googleapis';
import type { Checkpoint } from '../../../src/api/index.js';
import type { RunningControllerProcess } from '../../../src/controller/run.js';
import { googleStorage, mintToken, rootUrl, statusOf } from '../../emulator/clients.js';
import { apply } from '../../harness/kube.js';
import { clearNamespace } from '../../harness/reset-cluster.js';
import { type Fixture, POOL, PROJECT_NUMBER, setupFixture, wiPrincipal } from '../controller-fixture.js';
import {
  type ActualCheckpoint,
  AUDITOR,
  type Command,
  decideJob,
  emptyWorld,
  expectationAt,
  expectedAccess,
  type GcVerdict,
  gcVerdict,
  type Idx,
  type JobState,
  jobServiceAccounts,
  key,
  type Names,
  namesFor,
  OPS,
  type Op,
  opsOf,
  type PolicyState,
  prefixOf,
  RETENTION_MS,
  RETENTIONS,
  ROLES,
  recordClaims,
  recordLegit,
  STRANGER,
  sureProvision,
  type World,
} from './model.js';

const TIDEMARK = 'tidemark.dev/v1alpha1';
const SPARK = 'sparkoperator.k8s.io/v1beta2';
const NS_LABEL = 'tidemark-prop';
const NS_INDEX_LABEL = 'tidemark-prop-ns';
const SETTLE_TIMEOUT_MS = Number(process.env.TIDEMARK_PROPERTY_SETTLE_MS ?? 10_000);
const FOREIGN_BUCKET_BINDING = { role: 'roles/storage.objectViewer', members: [AUDITOR] };
const PROBE_OBJECT = 'tidemark-probe';
const RETAIN = 'tidemark.dev/retain';

/** A violation of the invariant or a failure to converge: the property fails with this message. */
export class Violation extends Error {}

const idxs = [0, 1, 2] as const;

export class Sequence {
  readonly world: World = emptyWorld();
  private ctrl!: RunningControllerProcess;
  private readonly tokens = new Map<string, string>();
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  readonly timings: { step: string; ms: number }[] = [];
  /** When the current step started and the previous one ended (the model clock). */
  private stepStart = Date.now();
  private lastStepEnd = Date.now();
  /** Set by a GC step: what its runs had to do with every stored prefix; checked after the step converges. */
  private gcExpect: Map<string, GcVerdict> | undefined;
  private written = 0;
  /** Figures for the report: GC runs, objects written, prefixes GC had to delete and had to keep. */
  readonly figures = { gcRuns: 0, objectsWritten: 0, staleDeleted: 0, keptChecked: 0 };

  private constructor(
    private readonly kc: KubeConfig,
    private readonly fx: Fixture,
    readonly names: Names,
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  static async start(kc: KubeConfig, tag: string): Promise<Sequence> {
    const names = namesFor(tag, `prop-${tag}`);
    const fx = await setupFixture(kc, names.bucket);
    const s = new Sequence(kc, fx, names);
    for (const i of idxs) await s.createNamespace(i);
    await s.startController();
    return s;
  }

  /** Starts the controller and waits until it leads (its manager, queue and metrics exist only then). */
  private async startController(): Promise<void> {
    this.ctrl = await this.fx.startController();
    await this.until('the controller to lead', async () => (this.ctrl.isLeader() ? [] : ['not leading yet']));
  }

  private admin(): storage_v1.Storage {
    return googleStorage(this.fx.emu, this.fx.emu.adminToken);
  }

  // ---------------------------------------------------------------------------------------------------- commands

  async run(c: Command): Promise<void> {
    const w = this.world;
    this.stepStart = Date.now();
    switch (c.t) {
      case 'putPolicy':
        w.usedRoots.add(c.root);
        return this.putPolicy(c);
      case 'deletePolicy':
        if (!w.policies[c.p]) return;
        await this.deleteIgnoringMissing({
          apiVersion: TIDEMARK,
          kind: 'CheckpointPolicy',
          metadata: { name: this.names.policies[c.p] },
        });
        w.policies[c.p] = undefined;
        return;
      case 'putJob':
        w.usedNamespaces.add(c.ns);
        w.usedJobs.add(c.job);
        for (const sa of jobServiceAccounts(c)) w.principals.add(this.member(c.ns, sa));
        // Where a wrong identity resolution would grant instead (issue 8 item 10).
        if (c.via !== 'spec') w.principals.add(this.member(c.ns, 'default'));
        return this.putJob(c);
      case 'addRun':
        return this.addRun(c.ns, c.job);
      case 'deleteJob':
        return this.deleteJob(c.ns, c.job);
      case 'handCheckpoint':
        w.usedNamespaces.add(c.ns);
        w.usedNamespaces.add(c.victimNs);
        w.usedJobs.add(c.job);
        w.usedJobs.add(c.victimJob);
        w.usedRoots.add(c.root);
        w.principals.add(this.member(c.ns, 'spark'));
        w.handTargets.add(prefixOf(this.names, c.root, c.victimNs, c.victimJob));
        this.uncertainAt(c.ns, c.job, 'a hand-made Checkpoint took its name');
        return this.handCheckpoint(c);
      case 'deleteCheckpoint':
        if (!w.namespaces[c.ns]) return;
        await this.deleteIgnoringMissing(this.checkpointRef(c.ns, c.job));
        w.handMade.delete(key(c.ns, c.job));
        this.uncertainAt(c.ns, c.job, 'its Checkpoint was deleted by hand');
        return;
      case 'foreignBucketBinding':
        return this.foreignBucketBinding();
      case 'foreignFolderMember':
        return this.foreignFolderMember(c);
      case 'deleteNamespace':
        w.usedNamespaces.add(c.ns);
        return this.deleteNamespace(c.ns);
      case 'restart':
        await this.ctrl.stop();
        await this.startController();
        return;
      case 'write': {
        const at = this.liveJob(c.pick);
        return at && this.write(...at);
      }
      case 'retain': {
        const at = this.liveJob(c.pick);
        return at && this.retain(...at, c.on);
      }
      case 'gc':
        if (c.jump) await this.clockJump();
        return this.gc();
      case 'clockJump':
        return this.clockJump();
      case 'renameNamespace':
        return this.renameNamespace(c.ns, c.to);
    }
  }

  /** Past the short retention since the end of the previous step (the model clock is the real one). */
  private async clockJump(): Promise<void> {
    const wait = this.lastStepEnd + RETENTION_MS.short + 50 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  /** Live job number `pick` (modulo their count, in key order), if any. */
  private liveJob(pick: number): [Idx, Idx] | undefined {
    const keys = [...this.world.jobs.keys()].sort();
    const k = keys[pick % Math.max(1, keys.length)];
    return k === undefined ? undefined : (k.split('/').map(Number) as [Idx, Idx]);
  }

  private uncertainAt(ns: Idx, job: Idx, why: string): void {
    for (const r of this.world.store.values()) if (r.ns === ns && r.job === job) r.uncertain ??= why;
  }

  /** The job writes one object under the prefix the model is sure it is provisioned at (as its Spark job would). */
  private async write(ns: Idx, job: Idx): Promise<void> {
    const w = this.world;
    const k = key(ns, job);
    const cp = await this.readCheckpoint(ns, job);
    const sure = sureProvision(this.names, w, k, cp && actual(cp));
    if (!sure || !cp || cp.spec.prefix !== sure.prefix || cp.metadata.deletionTimestamp) return;
    const pol = w.policies[sure.policy] as PolicyState;
    const name = `${sure.prefix}state/${++this.written}`;
    const start = Date.now();
    await this.admin().objects.insert(
      { bucket: this.names.bucket, name, uploadType: 'media', media: { body: `history ${this.names.tag}` } },
      { rootUrl: rootUrl(this.fx.emu) },
    );
    const end = Date.now();
    let r = w.store.get(sure.prefix);
    if (!r || r.policy !== sure.policy || r.policyCreated !== pol.created) {
      // A new record (or the prefix is provisioned again by a re-created policy): what came before is uncertain.
      const before = r;
      r = {
        root: pol.root,
        ns,
        job,
        policy: sure.policy,
        policyCreated: pol.created,
        objects: new Set(before?.objects ?? []),
        lastWriteStart: start,
        lastWriteEnd: end,
        claimed: true,
        namespaceGone: false,
        retained: cp.metadata.annotations?.['tidemark.dev/retain'] === 'true',
      };
      w.store.set(sure.prefix, r);
    }
    r.objects.add(name);
    r.lastWriteStart = start;
    r.lastWriteEnd = end;
    this.figures.objectsWritten++;
  }

  /** Annotates (or un-annotates) the job's Checkpoint tidemark.dev/retain, if the controller made one. */
  private async retain(ns: Idx, job: Idx, on: boolean): Promise<void> {
    const w = this.world;
    if (!w.namespaces[ns] || w.handMade.has(key(ns, job))) return;
    const cp = await this.readCheckpoint(ns, job);
    if (!cp || cp.metadata.deletionTimestamp) return;
    await this.objects.patch(
      {
        apiVersion: TIDEMARK,
        kind: 'Checkpoint',
        metadata: {
          name: cp.metadata.name,
          namespace: cp.metadata.namespace,
          annotations: { [RETAIN]: on ? 'true' : null },
        },
      } as KubernetesObject,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    const r = w.store.get(cp.spec.prefix);
    if (r && r.ns === ns && r.job === job) r.retained = on;
  }

  /** Runs GC for every policy of the model, after writing down what each stored prefix must come to. */
  private async gc(): Promise<void> {
    const w = this.world;
    const start = Date.now();
    const names = ([0, 1] as const).filter((p) => w.policies[p]).map((p) => this.names.policies[p]);
    for (const name of names) await this.ctrl.gcNow(name);
    this.figures.gcRuns += names.length;
    const end = Date.now();
    this.gcExpect = new Map([...w.store].map(([prefix, r]) => [prefix, gcVerdict(w, r, start, end)]));
  }

  /** Deletes the namespace, then re-creates its jobs (same specs) in namespace `to`. */
  private async renameNamespace(ns: Idx, to: Idx): Promise<void> {
    const w = this.world;
    if (!w.namespaces[ns]) return;
    const moved = [...w.jobs].filter(([k]) => k.startsWith(`${ns}/`));
    await this.deleteNamespace(ns);
    for (const [k, j] of moved) {
      const job = Number(k.split('/')[1]) as Idx;
      const { kind, sa, via, exec, tier, annotate } = j;
      await this.run({ t: 'putJob', ns: to, job, kind, sa, via, exec, tier, annotate });
    }
  }

  private async createNamespace(i: Idx): Promise<void> {
    await this.core.createNamespace({
      body: {
        metadata: {
          name: this.names.namespaces[i],
          labels: { 'tidemark.dev/test': 'true', [NS_LABEL]: this.names.tag, [NS_INDEX_LABEL]: `n${i}` },
        },
      },
    });
    this.world.namespaces[i] = true;
  }

  private policyObject(p: 0 | 1, s: Omit<PolicyState, 'created'>): KubernetesObject {
    return {
      apiVersion: TIDEMARK,
      kind: 'CheckpointPolicy',
      metadata: { name: this.names.policies[p] },
      spec: {
        namespaceSelector: {
          matchLabels: { [NS_LABEL]: this.names.tag },
          matchExpressions: [
            { key: NS_INDEX_LABEL, operator: 'In', values: idxs.filter((i) => s.ns & (1 << i)).map((i) => `n${i}`) },
          ],
        },
        jobSelector: { matchLabels: { 'tidemark.dev/checkpoint': 'true', ...(s.gold ? { tier: 'gold' } : {}) } },
        storage: { bucket: this.names.bucket, rootPrefix: this.names.roots[s.root] },
        retention: { afterRelease: RETENTIONS[s.retention] },
        access: {
          mode: s.mode,
          role: ROLES[s.role],
          identity: 'KubernetesServiceAccount',
          workloadIdentity: { projectNumber: PROJECT_NUMBER, pool: POOL },
          propagationHold: '0s',
        },
      },
    } as KubernetesObject;
  }

  private async putPolicy(c: Extract<Command, { t: 'putPolicy' }>): Promise<void> {
    const old = this.world.policies[c.p];
    const desired = { root: c.root, mode: c.mode, role: c.role, ns: c.ns, gold: c.gold, retention: c.retention };
    const obj = this.policyObject(c.p, desired);
    if (old && old.root !== c.root) {
      // rootPrefix is immutable: a new root is a new policy.
      await this.deleteIgnoringMissing(obj);
      this.world.policies[c.p] = undefined;
      await this.waitGone(obj);
    }
    const [applied] = await apply(this.kc, obj);
    this.world.policies[c.p] = { ...desired, created: timeOf(applied?.metadata?.creationTimestamp) };
  }

  private jobSpec(c: Pick<JobState, 'sa' | 'via' | 'exec'>): Record<string, unknown> {
    const exec = c.exec ?? c.sa;
    const driver: Record<string, unknown> = { cores: 1, memory: '512m' };
    const executor: Record<string, unknown> = { instances: 1, cores: 1, memory: '512m' };
    const spec: Record<string, unknown> = {
      type: 'Python',
      mode: 'cluster',
      sparkVersion: '4.0.0',
      mainApplicationFile: 'local:///opt/app/stream.py',
      driver,
      executor,
    };
    if (c.via === 'spec') {
      driver.serviceAccount = c.sa;
      if (c.exec) executor.serviceAccount = c.exec;
    } else if (c.via === 'template') {
      driver.template = { spec: { serviceAccountName: c.sa } };
      executor.template = { spec: { serviceAccountName: exec } };
    } else {
      spec.sparkConf = {
        'spark.kubernetes.authenticate.driver.serviceAccountName': c.sa,
        'spark.kubernetes.authenticate.executor.serviceAccountName': exec,
      };
    }
    return spec;
  }

  private jobObject(ns: Idx, job: Idx, j: Omit<JobState, 'uid' | 'runs'>): KubernetesObject {
    const metadata = {
      name: this.names.jobs[job],
      namespace: this.names.namespaces[ns],
      labels: { 'tidemark.dev/checkpoint': 'true', tier: j.tier },
      ...(j.annotate !== null ? { annotations: { 'tidemark.dev/policy': this.names.policies[j.annotate] } } : {}),
    };
    if (j.kind === 'app')
      return { apiVersion: SPARK, kind: 'SparkApplication', metadata, spec: this.jobSpec(j) } as KubernetesObject;
    return {
      apiVersion: SPARK,
      kind: 'ScheduledSparkApplication',
      metadata,
      spec: { schedule: '@every 10m', concurrencyPolicy: 'Forbid', template: this.jobSpec(j) },
    } as KubernetesObject;
  }

  private async putJob(c: Extract<Command, { t: 'putJob' }>): Promise<void> {
    if (!this.world.namespaces[c.ns]) await this.createNamespace(c.ns);
    const k = key(c.ns, c.job);
    const old = this.world.jobs.get(k);
    if (old && old.kind !== c.kind) await this.deleteJob(c.ns, c.job);
    const state = { kind: c.kind, sa: c.sa, via: c.via, exec: c.exec, tier: c.tier, annotate: c.annotate };
    const [applied] = await apply(this.kc, this.jobObject(c.ns, c.job, state));
    const prev = this.world.jobs.get(k);
    this.world.jobs.set(k, { ...state, uid: applied?.metadata?.uid ?? '', runs: prev?.runs ?? [] });
  }

  private async addRun(ns: Idx, job: Idx): Promise<void> {
    const j = this.world.jobs.get(key(ns, job));
    if (!j || j.kind !== 'scheduled') return;
    const name = this.names.jobs[job];
    // The Spark Operator names a run `<scheduled>-<unix nanoseconds>`.
    const run = `${name}-${BigInt(Date.now()) * 1_000_000n + BigInt(j.runs.length)}`;
    j.runs.push(run);
    await apply(this.kc, {
      apiVersion: SPARK,
      kind: 'SparkApplication',
      metadata: {
        name: run,
        namespace: this.names.namespaces[ns],
        labels: { 'tidemark.dev/checkpoint': 'true', tier: j.tier, 'sparkoperator.k8s.io/scheduled-app-name': name },
        ownerReferences: [{ apiVersion: SPARK, kind: 'ScheduledSparkApplication', name, uid: j.uid, controller: true }],
      },
      spec: this.jobSpec(j),
    } as KubernetesObject);
  }

  private async deleteJob(ns: Idx, job: Idx): Promise<void> {
    const k = key(ns, job);
    const j = this.world.jobs.get(k);
    if (!j) return;
    const name = this.names.jobs[job];
    const namespace = this.names.namespaces[ns];
    await this.deleteIgnoringMissing(this.jobObject(ns, job, j));
    // No kube-controller-manager runs here: do what its garbage collector would do with the schedule's runs.
    for (const run of j.runs) {
      await this.deleteIgnoringMissing({
        apiVersion: SPARK,
        kind: 'SparkApplication',
        metadata: { name: run, namespace },
      });
    }
    this.world.jobs.delete(k);
    this.world.legit.delete(k);
  }

  private checkpointRef(ns: Idx, job: Idx): KubernetesObject {
    return {
      apiVersion: TIDEMARK,
      kind: 'Checkpoint',
      metadata: { name: this.names.jobs[job], namespace: this.names.namespaces[ns] },
    };
  }

  private async handCheckpoint(c: Extract<Command, { t: 'handCheckpoint' }>): Promise<void> {
    if (!this.world.namespaces[c.ns]) return;
    const prefix = prefixOf(this.names, c.root, c.victimNs, c.victimJob);
    const name = this.names.jobs[c.job];
    try {
      await this.objects.create({
        apiVersion: TIDEMARK,
        kind: 'Checkpoint',
        metadata: { name, namespace: this.names.namespaces[c.ns] },
        spec: {
          policyName: this.names.policies[0],
          jobRef: { kind: 'SparkApplication', name },
          bucket: this.names.bucket,
          prefix,
          uri: `gs://${this.names.bucket}/${prefix}`,
          access: { mode: 'ManagedFolder', role: ROLES[0] },
          members: [this.member(c.ns, 'spark')],
        },
      } as KubernetesObject);
      this.world.handMade.add(key(c.ns, c.job));
    } catch (err) {
      // The name is taken (the controller made a Checkpoint for a job of that name): nothing happened.
      if (!(err instanceof ApiException && err.code === 409)) throw err;
    }
  }

  private async foreignBucketBinding(): Promise<void> {
    if (this.world.foreignBucketBinding) return;
    const api = this.admin();
    const p = (await api.buckets.getIamPolicy({ bucket: this.names.bucket, optionsRequestedPolicyVersion: 3 })).data;
    await api.buckets.setIamPolicy({
      bucket: this.names.bucket,
      requestBody: { ...p, version: 3, bindings: [...(p.bindings ?? []), FOREIGN_BUCKET_BINDING] },
    });
    this.world.foreignBucketBinding = true;
  }

  /**
   * A member added by hand to the managed folder of a job whose Checkpoint the controller keeps (provisioned as
   * the model says, or released): the next resync must remove it. Anything else is a no-op.
   */
  private async foreignFolderMember(c: Extract<Command, { t: 'foreignFolderMember' }>): Promise<void> {
    const w = this.world;
    const k = key(c.ns, c.job);
    if (!w.namespaces[c.ns] || w.handMade.has(k)) return;
    const cp = await this.readCheckpoint(c.ns, c.job);
    if (!cp || (cp.spec.access?.mode ?? 'ManagedFolder') !== 'ManagedFolder' || cp.metadata.deletionTimestamp) return;
    const j = w.jobs.get(k);
    if (j) {
      const d = decideJob(this.names, w, c.ns, j);
      const pol = d.policy?.strength === 'must' ? w.policies[d.policy.p] : undefined;
      if (!pol || pol.mode !== 'ManagedFolder' || prefixOf(this.names, pol.root, c.ns, c.job) !== cp.spec.prefix)
        return;
    }
    const api = this.admin();
    const folder = cp.spec.prefix;
    let current: storage_v1.Schema$Policy;
    try {
      current = (
        await api.managedFolders.getIamPolicy({
          bucket: this.names.bucket,
          managedFolder: folder,
          optionsRequestedPolicyVersion: 3,
        })
      ).data;
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw err;
    }
    const binding: NonNullable<storage_v1.Schema$Policy['bindings']>[number] =
      c.member === 'allAuthenticatedUsers'
        ? { role: 'roles/storage.objectViewer', members: ['allAuthenticatedUsers'] }
        : c.member === 'stranger'
          ? { role: 'roles/storage.objectViewer', members: [STRANGER] }
          : {
              role: 'roles/storage.objectViewer',
              members: [STRANGER],
              condition: { title: 'foreign', expression: 'request.time < timestamp("2100-01-01T00:00:00Z")' },
            };
    await api.managedFolders.setIamPolicy({
      bucket: this.names.bucket,
      managedFolder: folder,
      requestBody: { version: 3, etag: current.etag, bindings: [...(current.bindings ?? []), binding] },
    });
    if (c.member !== 'allAuthenticatedUsers') w.principals.add(STRANGER);
  }

  /**
   * What the namespace controller does (none runs here): the namespace goes Terminating, everything in it is
   * deleted, the Checkpoints' finalizers must let go (a wedged finalizer is a violation), then the namespace goes.
   */
  private async deleteNamespace(ns: Idx): Promise<void> {
    const w = this.world;
    if (!w.namespaces[ns]) return;
    const name = this.names.namespaces[ns];
    await this.core.deleteNamespace({ name });
    for (const kind of ['SparkApplication', 'ScheduledSparkApplication'] as const) {
      for (const o of await this.list(SPARK, kind, name)) await this.deleteIgnoringMissing(o);
    }
    for (const o of await this.list(TIDEMARK, 'Checkpoint', name)) await this.deleteIgnoringMissing(o);
    await this.until(`the Checkpoints of namespace ns${ns} to be finalized`, async () => {
      const left = await this.list(TIDEMARK, 'Checkpoint', name);
      return left.map(
        (o) => `Checkpoint ${o.metadata?.name} still has finalizers ${JSON.stringify(o.metadata?.finalizers)}`,
      );
    });
    await this.core.replaceNamespaceFinalize({ name, body: { metadata: { name }, spec: { finalizers: [] } } });
    await this.until(`namespace ns${ns} to go`, async () => {
      try {
        await this.core.readNamespace({ name });
        return ['still there'];
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return [];
        throw err;
      }
    });
    w.namespaces[ns] = false;
    for (const k of [...w.jobs.keys()]) {
      if (!k.startsWith(`${ns}/`)) continue;
      w.jobs.delete(k);
      w.legit.delete(k);
    }
    for (const k of [...w.handMade]) if (k.startsWith(`${ns}/`)) w.handMade.delete(k);
  }

  // ------------------------------------------------------------------------------------------------ convergence

  /** Waits for the controller to settle; with `resync`, then asks for one (drift repair, orphan scan) and waits again. */
  async converge(resync: boolean): Promise<void> {
    await this.settle('after the step');
    if (!resync) return;
    await this.ctrl.resyncNow();
    await this.settle('after a resync');
  }

  private async settle(when: string): Promise<void> {
    let stableAt: number | undefined;
    await this.until(`the controller to settle ${when}`, async () => {
      const m = await this.metrics();
      const problems = m.busy ? [`work queue: ${m.busy}`] : await this.unsettled();
      if (problems.length > 0) {
        stableAt = undefined;
        return problems;
      }
      // Idle twice in a row with no reconcile finished in between.
      if (stableAt !== m.reconciles) {
        stableAt = m.reconciles;
        return ['idle once; looking again'];
      }
      return [];
    });
  }

  private async metrics(): Promise<{ busy: string | undefined; reconciles: number }> {
    const res = await fetch(`${this.ctrl.health.url}/metrics`);
    const text = await res.text();
    const value = (re: RegExp) => {
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = re.exec(line);
        if (m) sum += Number(m[1]);
      }
      return sum;
    };
    const depth = value(/^workqueue_depth\{name="tidemark"\} (\S+)$/);
    const active = value(/^controller_runtime_active_workers\{controller="checkpoint"\} (\S+)$/);
    const reconciles = value(/^controller_runtime_reconcile_total\{controller="checkpoint",[^}]*\} (\S+)$/);
    // BucketCondition changes handed to the bucket's writer and not answered yet (their jobs are woken later).
    const queued = value(/^tidemark_access_changes_pending (\S+)$/);
    return {
      busy: depth > 0 || active > 0 || queued > 0 ? `depth ${depth}, active ${active}, queued ${queued}` : undefined,
      reconciles,
    };
  }

  /** What still differs from a settled state (empty when settled). */
  private async unsettled(): Promise<string[]> {
    const w = this.world;
    const out: string[] = [];
    const policies = (await this.objects.list(TIDEMARK, 'CheckpointPolicy')).items as (KubernetesObject & {
      status?: { observedGeneration?: number };
    })[];
    for (const o of policies) {
      const p = this.names.policies.indexOf(o.metadata?.name ?? '');
      if (p >= 0 && o.status?.observedGeneration !== o.metadata?.generation) {
        out.push(`policy p${p} status behind its generation`);
      }
    }
    const cps = await this.checkpoints();
    for (const [k, cp] of cps) {
      const where = `Checkpoint ${this.label(k)}`;
      if (cp.metadata.deletionTimestamp) {
        // Refusing to let a live job's Checkpoint go (finalizer kept while the job lives) is one of the two answers
        // issue 8 item 4 allows; any other Checkpoint being deleted must finish.
        const j = w.jobs.get(k);
        const live = j !== undefined && decideJob(this.names, w, Number(k[0]) as Idx, j).claims;
        if (!live) out.push(`${where} is being deleted (finalizers ${JSON.stringify(cp.metadata.finalizers)})`);
        continue;
      }
      const conds = cp.status?.conditions ?? [];
      if (conds.length === 0 || conds.some((c) => c.observedGeneration !== cp.metadata.generation)) {
        out.push(`${where} status behind its generation`);
      }
      if (w.handMade.has(k)) continue;
      const j = w.jobs.get(k);
      const d = j ? decideJob(this.names, w, Number(k[0]) as Idx, j) : undefined;
      if (!d?.claims && cp.status?.phase !== 'Released') out.push(`${where} not Released (no live job claims it)`);
    }
    for (const k of w.jobs.keys()) {
      const cp = cps.get(k);
      const sure = sureProvision(this.names, w, k, cp && actual(cp));
      if (!sure) continue;
      if (!cp) {
        out.push(`no Checkpoint for ${this.label(k)} (policy p${sure.policy} selects it)`);
      } else {
        // AccessGranted (read back), not Ready: Ready also waits for the propagation hold, rounded up to the second.
        const granted = cp.status?.conditions?.find((c) => c.type === 'AccessGranted');
        if (cp.status?.phase !== 'Bound' || granted?.status !== 'True') {
          out.push(
            `Checkpoint ${this.label(k)} is ${cp.status?.phase}, AccessGranted=${granted?.status} (${granted?.reason})`,
          );
        }
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------- invariant

  member(ns: Idx, sa: string): string {
    return wiPrincipal(this.names.namespaces[ns], sa);
  }

  /** Asks the emulator, for every principal of the sequence, what it can do on every prefix; returns violations. */
  async check(): Promise<string[]> {
    const w = this.world;
    const cps = new Map<string, ActualCheckpoint>();
    for (const [k, cp] of await this.checkpoints()) cps.set(k, actual(cp));
    const expected = expectedAccess(this.names, w, (ns, sa) => this.member(ns, sa), cps);
    const principals = [...w.principals];
    const prefixes = [...w.usedRoots].flatMap((r) =>
      [...w.usedNamespaces].flatMap((ns) => [...w.usedJobs].map((j) => prefixOf(this.names, r, ns, j))),
    );
    const violations: string[] = [];
    // Principals at once, each one's prefixes one after another (all at once: hundreds of sockets, and the emulator's
    // connections were reset under load).
    await Promise.all(
      principals.map(async (principal) => {
        const api = googleStorage(this.fx.emu, await this.token(principal));
        for (const prefix of prefixes) {
          const e = expectationAt(expected.get(principal), prefix);
          if (e?.kind === 'may') continue;
          const can = await this.probe(api, prefix);
          const want = e?.ops ?? new Set<Op>();
          const wrong = OPS.filter((op) => can.has(op) !== want.has(op));
          if (wrong.length > 0) {
            violations.push(
              `${this.who(principal)} on ${this.where(prefix)}: can [${OPS.filter((o) => can.has(o)).join(',')}], expected [${OPS.filter((o) => want.has(o)).join(',')}]`,
            );
          }
        }
      }),
    );
    if (w.foreignBucketBinding) {
      const p = (
        await this.admin().buckets.getIamPolicy({ bucket: this.names.bucket, optionsRequestedPolicyVersion: 3 })
      ).data;
      const kept = (p.bindings ?? []).some(
        (b) => b.role === FOREIGN_BUCKET_BINDING.role && !b.condition && (b.members ?? []).includes(AUDITOR),
      );
      if (!kept) violations.push(`the foreign bucket binding (${AUDITOR} objectViewer) was lost`);
    }
    recordLegit(this.names, w);
    violations.push(...(await this.checkStore()));
    return violations.sort();
  }

  /**
   * Issue 15's invariants on the stored prefixes: nothing the model says must be kept lost an object (after any
   * step: only GC deletes, and only what is stale); after a GC step, every prefix that was stale is empty.
   */
  private async checkStore(): Promise<string[]> {
    const w = this.world;
    const end = Date.now();
    const out: string[] = [];
    const expect = this.gcExpect;
    this.gcExpect = undefined;
    for (const [prefix, r] of w.store) {
      if (r.objects.size === 0) continue;
      const verdict = expect?.get(prefix) ?? gcVerdict(w, r, this.stepStart, end);
      const present = new Set(await this.objectsUnder(prefix));
      const lost = [...r.objects].filter((o) => !present.has(o));
      if (verdict === 'keep') {
        this.figures.keptChecked++;
        if (lost.length > 0) {
          out.push(
            `${lost.length} object(s) of ${this.where(prefix)} were deleted, but it must be kept (${r.claimed ? 'a live job claims it' : r.retained ? 'retained' : 'retention not passed'})`,
          );
        }
      } else if (verdict === 'stale' && expect) {
        if (present.size > 0) {
          out.push(`${this.where(prefix)} was stale when GC ran, but ${present.size} object(s) are left`);
        } else this.figures.staleDeleted++;
      }
      // The model follows what is there from now on (GC may delete "may" prefixes, and stale ones went).
      for (const o of lost) r.objects.delete(o);
    }
    recordClaims(this.names, w, this.stepStart, end);
    this.lastStepEnd = Date.now();
    return out;
  }

  private async objectsUnder(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let pageToken: string | undefined;
    do {
      const res = await this.admin().objects.list({ bucket: this.names.bucket, prefix, pageToken });
      for (const o of res.data.items ?? []) if (o.name) names.push(o.name);
      pageToken = res.data.nextPageToken ?? undefined;
    } while (pageToken);
    return names;
  }

  /** What `api`'s principal may do on `prefix`: real calls whose answer is 403 when denied and never change data. */
  private async probe(api: storage_v1.Storage, prefix: string): Promise<Set<Op>> {
    const bucket = this.names.bucket;
    const allowed = async (op: Op, call: () => Promise<unknown>, ok: number[]) => {
      try {
        await call();
        return op;
      } catch (err) {
        const s = statusOf(err);
        if (s === 403) return undefined;
        if (s !== undefined && ok.includes(s)) return op;
        throw err;
      }
    };
    const name = `${prefix}${PROBE_OBJECT}`;
    const got = await Promise.all([
      // A generation precondition no object can meet: permission is checked first (403), then 412; nothing is written.
      allowed(
        'write',
        () =>
          api.objects.insert(
            { bucket, name, ifGenerationMatch: '987654321', uploadType: 'media', media: { body: 'x' } },
            { rootUrl: rootUrl(this.fx.emu) },
          ),
        [412],
      ),
      allowed('read', () => api.objects.get({ bucket, object: name }), [404]),
      allowed('list', () => api.objects.list({ bucket, prefix, maxResults: 1 }), []),
    ]);
    return new Set(got.filter((x): x is Op => x !== undefined));
  }

  private async token(principal: string): Promise<string> {
    let t = this.tokens.get(principal);
    if (!t) {
      t = await mintToken(this.fx.emu, principal);
      this.tokens.set(principal, t);
    }
    return t;
  }

  // ------------------------------------------------------------------------------------------------------ utils

  /** Checkpoints in the sequence's namespaces by `ns/job` index pair (names outside the job pool are skipped). */
  private async checkpoints(): Promise<Map<string, Checkpoint>> {
    const out = new Map<string, Checkpoint>();
    // One list across the cluster (cheaper than one per namespace); only this sequence's namespaces count.
    for (const o of (await this.objects.list(TIDEMARK, 'Checkpoint')).items) {
      const ns = this.names.namespaces.indexOf(o.metadata?.namespace ?? '');
      const job = this.names.jobs.indexOf(o.metadata?.name ?? '');
      if (ns >= 0 && job >= 0 && this.world.namespaces[ns as Idx]) {
        out.set(key(ns as Idx, job as Idx), o as unknown as Checkpoint);
      }
    }
    return out;
  }

  private async readCheckpoint(ns: Idx, job: Idx): Promise<Checkpoint | undefined> {
    try {
      return (await this.objects.read(this.checkpointRef(ns, job) as never)) as unknown as Checkpoint;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  private async list(apiVersion: string, kind: string, namespace: string): Promise<KubernetesObject[]> {
    return (await this.objects.list(apiVersion, kind, namespace)).items;
  }

  private async deleteIgnoringMissing(o: KubernetesObject): Promise<void> {
    try {
      await this.objects.delete(o);
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    }
  }

  private async waitGone(o: KubernetesObject): Promise<void> {
    await this.until(`${o.kind} ${o.metadata?.name} to go`, async () => {
      try {
        await this.objects.read(o as never);
        return ['still there'];
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return [];
        throw err;
      }
    });
  }

  /** Polls `problems` until it returns none; a Violation listing the last ones after the settle timeout. */
  private async until(what: string, problems: () => Promise<string[]>): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    for (;;) {
      const left = await problems();
      if (process.env.TIDEMARK_PROPERTY_PROFILE)
        console.log(`[profile] ${Date.now() % 100000} ${what}: ${left.join('; ')}`);
      if (left.length === 0) return;
      if (Date.now() > deadline) {
        throw new Violation(`did not converge within ${SETTLE_TIMEOUT_MS} ms waiting for ${what}: ${left.join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private label(k: string): string {
    const [ns, job] = k.split('/').map(Number) as [Idx, Idx];
    return `ns${ns}/${job === 2 ? 'job<ns1>' : this.names.jobs[job]}`;
  }

  private who(principal: string): string {
    const m = /\/subject\/ns\/([^/]+)\/sa\/(.+)$/.exec(principal);
    if (!m) return principal;
    const ns = this.names.namespaces.indexOf(m[1] as string);
    return `principal ns${ns}/sa/${m[2]}`;
  }

  private where(prefix: string): string {
    let out = prefix;
    for (const i of [0, 1, 2] as const) out = out.split(this.names.namespaces[i]).join(i === 1 ? '<ns1>' : `<ns${i}>`);
    return out;
  }

  /** Stops the controller and the emulator, and removes everything the sequence made in the cluster. */
  async cleanup(): Promise<void> {
    await this.fx.cleanup();
    await Promise.all(idxs.map((ns) => clearNamespace(this.kc, this.names.namespaces[ns])));
    await Promise.all(
      this.names.policies.map((name) =>
        this.deleteIgnoringMissing({ apiVersion: TIDEMARK, kind: 'CheckpointPolicy', metadata: { name } }),
      ),
    );
  }
}

function actual(cp: Checkpoint): ActualCheckpoint {
  const bound = cp.status?.conditions?.find((c) => c.type === 'Bound');
  return {
    prefix: cp.spec.prefix,
    members: [...(cp.spec.members ?? []), ...(cp.status?.grantedMembers ?? [])],
    jobKind: cp.spec.jobRef.kind,
    orphaned: cp.status?.phase === 'Released' && bound?.reason === 'Orphaned',
  };
}

function timeOf(v: unknown): string {
  return v instanceof Date ? v.toISOString() : typeof v === 'string' ? v : '';
}
