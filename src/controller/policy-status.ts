// A CheckpointPolicy's status: Ready (the spec is valid beyond what the CRD can check, it is not shadowed by an
// older policy whose root overlaps its own (policy/overlap.ts: then Ready=False, RootOverlap, naming the other),
// and its bucket answers), the counts of Bound and Released Checkpoints, and
// observedGeneration. Written through /status.
import type { CheckpointPolicy, CheckpointPolicyStatus } from '../api/index.js';
import { CheckpointPolicyResource, PolicyConditions, Reasons } from '../api/index.js';
import type { ClusterView, EventSink } from '../checkpoint/world.js';
import { type Gcs, httpStatus } from '../gcs/client.js';
import { Resources } from '../kube/resources.js';
import type { KubeObject, KubeRest } from '../kube/rest.js';
import { jsonEqual, setCondition } from '../kube/status.js';
import { ROOT_OVERLAP, shadowedMessage } from '../policy/overlap.js';

export interface PolicyStatusDeps {
  rest: KubeRest;
  view: ClusterView;
  gcs: Gcs;
  events: EventSink;
  now?: () => Date;
  /** How long a successful bucket check is trusted (default 5 minutes). */
  bucketCheckTtlMs?: number;
}

interface BucketCheck {
  at: number;
  ok: boolean;
  reason: string;
  message: string;
}

export class PolicyStatusReconciler {
  private readonly bucketChecks = new Map<string, BucketCheck>();

  constructor(private readonly deps: PolicyStatusDeps) {}

  async reconcile(name: string): Promise<{ requeueAfterMs?: number }> {
    const { view } = this.deps;
    const set = view.policySet();
    const policy = view.policies().find((p) => p.metadata.name === name);
    if (!policy) return {};
    const now = this.deps.now?.() ?? new Date();

    let bound = 0;
    let released = 0;
    for (const cp of view.checkpoints()) {
      if (cp.spec.policyName !== name) continue;
      if (cp.status?.phase === 'Bound') bound++;
      else if (cp.status?.phase === 'Released') released++;
    }

    const ready = await this.readiness(policy, set);
    const prev = policy.status ?? {};
    const status: CheckpointPolicyStatus = {
      ...prev,
      observedGeneration: policy.metadata.generation ?? 0,
      boundCount: bound,
      releasedCount: released,
      conditions: setCondition(
        prev.conditions,
        {
          type: PolicyConditions.Ready,
          status: ready.ok ? 'True' : 'False',
          reason: ready.reason,
          message: ready.message,
          observedGeneration: policy.metadata.generation ?? 0,
        },
        now,
      ),
    };
    if (!jsonEqual(prev, status)) {
      const wasReady = prev.conditions?.find((c: { type: string }) => c.type === PolicyConditions.Ready);
      await this.deps.rest.replace<CheckpointPolicy & KubeObject>(
        Resources.CheckpointPolicy,
        { ...(policy as CheckpointPolicy & KubeObject), status },
        'status',
      );
      if (!ready.ok && (wasReady?.status !== 'False' || wasReady.reason !== ready.reason)) {
        this.deps.events.event(
          {
            apiVersion: policy.apiVersion,
            kind: CheckpointPolicyResource.kind,
            name,
            uid: policy.metadata.uid,
          },
          'Warning',
          ready.reason,
          ready.message,
        );
      }
    }
    // A failed bucket check is retried sooner than the resync would.
    return ready.ok ? {} : { requeueAfterMs: 60_000 };
  }

  private async readiness(
    policy: CheckpointPolicy,
    set: ReturnType<ClusterView['policySet']>,
  ): Promise<{ ok: boolean; reason: string; message: string }> {
    const name = policy.metadata.name ?? '';
    const resolved = set.get(name);
    if (!resolved?.ok) {
      return { ok: false, reason: Reasons.InvalidSpec, message: (resolved?.errors ?? ['unknown policy']).join('; ') };
    }
    const p = resolved.policy;
    const winner = set.shadowedBy(name);
    if (winner !== undefined) {
      return {
        ok: false,
        reason: ROOT_OVERLAP,
        message: shadowedMessage(policy, set.policy(winner) ?? { metadata: { name: winner } }),
      };
    }
    const bucket = await this.checkBucket(p.bucket);
    if (!bucket.ok) return bucket;
    // Policies with deeper roots inside this one keep their territory: say so, the jobs concerned are Blocked.
    const nested = set.policies
      .filter((o) => o.spec?.storage?.bucket === p.bucket && o.spec.storage.rootPrefix?.startsWith(`${p.rootPrefix}/`))
      .map((o) => `"${o.metadata.name ?? ''}"`)
      .sort();
    return {
      ok: true,
      reason: Reasons.PolicyReady,
      message: `Provisioning checkpoints under gs://${p.bucket}/${p.rootPrefix}/ with ${p.mode} access.${nested.length > 0 ? ` Nothing under the roots of CheckpointPolicies ${nested.join(', ')}.` : ''}`,
    };
  }

  private async checkBucket(bucket: string): Promise<BucketCheck> {
    const ttl = this.deps.bucketCheckTtlMs ?? 300_000;
    const cached = this.bucketChecks.get(bucket);
    if (cached?.ok && Date.now() - cached.at < ttl) return cached;
    let check: BucketCheck;
    try {
      await this.deps.gcs.storage.buckets.get({ bucket, fields: 'name' });
      check = { at: Date.now(), ok: true, reason: Reasons.PolicyReady, message: '' };
    } catch (err) {
      const code = httpStatus(err);
      const text = err instanceof Error ? err.message : String(err);
      if (code === 404) {
        check = {
          at: Date.now(),
          ok: false,
          reason: Reasons.BucketNotFound,
          message: `Bucket ${bucket} does not exist.`,
        };
      } else if (code === 403) {
        check = {
          at: Date.now(),
          ok: false,
          reason: Reasons.PermissionDenied,
          message: `The controller may not read bucket ${bucket}: ${text}`,
        };
      } else {
        throw err;
      }
    }
    this.bucketChecks.set(bucket, check);
    return check;
  }
}
