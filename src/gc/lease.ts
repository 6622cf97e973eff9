// The per-policy GC Lease `tidemark-gc-<policy>` (coordination.k8s.io/v1, in the controller's lease namespace):
// held for the whole of one run, by the controller or by `tidemark gc`, so that two runs of one policy never
// overlap anywhere. A lease whose holder stopped renewing is free once leaseDurationSeconds have passed since its
// renewTime (on this process's clock: a skew between machines only shortens or lengthens the wait, and every write
// is resourceVersion-conditional, so two takers cannot both win). A holder renews every third of the duration and
// clears the holder when it is done.
import type { LeaseSpec } from '../kube/leader.js';
import { Resources } from '../kube/resources.js';
import { isConflict, isNotFound, type KubeObject, type KubeRest } from '../kube/rest.js';
import { formatMicroTime } from '../kube/status.js';

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export function gcLeaseName(policy: string): string {
  return `tidemark-gc-${policy}`;
}

export type AcquireResult = { ok: true; lease: HeldGcLease } | { ok: false; holder: string; freeAt: Date };

export interface GcLeaseOptions {
  rest: KubeRest;
  namespace: string;
  policy: string;
  identity: string;
  /** Default 30 s. */
  durationMs?: number;
  now?: () => number;
}

function timeOf(v: string | undefined): number {
  const t = v ? Date.parse(v) : Number.NaN;
  return Number.isNaN(t) ? 0 : t;
}

/** Takes the policy's GC Lease if nobody else holds it (live). */
export async function acquireGcLease(o: GcLeaseOptions): Promise<AcquireResult> {
  const durationMs = o.durationMs ?? 30_000;
  const now = o.now ?? Date.now;
  const name = gcLeaseName(o.policy);
  const spec = (): LeaseSpec => ({
    holderIdentity: o.identity,
    leaseDurationSeconds: Math.ceil(durationMs / 1000),
    acquireTime: formatMicroTime(new Date(now())),
    renewTime: formatMicroTime(new Date(now())),
  });
  let current: Lease | undefined;
  try {
    current = await o.rest.get<Lease>(Resources.Lease, name, o.namespace);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    if (!current) {
      const created = await o.rest.create<Lease>(Resources.Lease, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: o.namespace, labels: { 'app.kubernetes.io/name': 'tidemark' } },
        spec: { ...spec(), leaseTransitions: 0 },
      });
      return { ok: true, lease: new HeldGcLease(o, created, durationMs, now) };
    }
    const s = current.spec ?? {};
    const freeAt = timeOf(s.renewTime) + (s.leaseDurationSeconds ?? 0) * 1000;
    if (s.holderIdentity && s.holderIdentity !== o.identity && freeAt > now()) {
      return { ok: false, holder: s.holderIdentity, freeAt: new Date(freeAt) };
    }
    const taken = await o.rest.replace<Lease>(Resources.Lease, {
      ...current,
      spec: { ...spec(), leaseTransitions: (s.leaseTransitions ?? 0) + (s.holderIdentity === o.identity ? 0 : 1) },
    });
    return { ok: true, lease: new HeldGcLease(o, taken, durationMs, now) };
  } catch (err) {
    if (!isConflict(err)) throw err;
    // Someone else created or took it in between.
    const other = await o.rest.get<Lease>(Resources.Lease, name, o.namespace);
    const s = other.spec ?? {};
    return {
      ok: false,
      holder: s.holderIdentity ?? '',
      freeAt: new Date(timeOf(s.renewTime) + (s.leaseDurationSeconds ?? 0) * 1000),
    };
  }
}

export class HeldGcLease {
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private readonly lost = new AbortController();

  constructor(
    private readonly o: GcLeaseOptions,
    private lease: Lease,
    private readonly durationMs: number,
    private readonly now: () => number,
  ) {
    this.schedule();
  }

  /** Aborted when a renewal finds the lease taken by someone else (the run must stop). */
  get signal(): AbortSignal {
    return this.lost.signal;
  }

  private schedule(): void {
    this.timer = setTimeout(
      () => {
        this.renewing = this.renew();
      },
      Math.max(200, Math.floor(this.durationMs / 3)),
    );
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    try {
      this.lease = await this.o.rest.replace<Lease>(Resources.Lease, {
        ...this.lease,
        spec: { ...this.lease.spec, renewTime: formatMicroTime(new Date(this.now())) },
      });
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) {
        this.lost.abort(new Error(`the GC lease ${gcLeaseName(this.o.policy)} was taken over by someone else`));
        return;
      }
      // A transient API error: try again at the next period (the lease lasts three of them).
    }
    if (!this.lost.signal.aborted && this.timer !== undefined) this.schedule();
  }

  /** Stops renewing and clears the holder, so the next run need not wait for the lease to run out. */
  async release(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.renewing;
    if (this.lost.signal.aborted) return;
    try {
      await this.o.rest.replace<Lease>(Resources.Lease, {
        ...this.lease,
        spec: { ...this.lease.spec, holderIdentity: '', renewTime: formatMicroTime(new Date(this.now())) },
      });
    } catch (err) {
      if (!isConflict(err) && !isNotFound(err)) throw err;
    }
  }
}
