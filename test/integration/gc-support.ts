// Shared by the GC integration tests: a policy with retention and gc settings, objects written straight into the
// emulator, counting what a prefix holds, and running one GC as the controller's own identity with a chosen clock.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { AccessBackend, AccessMode } from '../../src/access/backend.js';
import { BucketConditionBackend } from '../../src/access/bucket-condition-backend.js';
import { ManagedFolderBackend } from '../../src/access/managed-folder-backend.js';
import type { Checkpoint } from '../../src/api/index.js';
import type { EventSink } from '../../src/checkpoint/world.js';
import { type GcRunDeps, type GcRunResult, runPolicyGc } from '../../src/gc/run.js';
import { createGcs } from '../../src/gcs/client.js';
import { createLogger } from '../../src/kube/log.js';
import { KubeRest } from '../../src/kube/rest.js';
import { adminFetch } from '../emulator/clients.js';
import { testKubeConfig, uniqueSuffix, waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  isReady,
  namespaceWithSa,
  policy,
  sparkApp,
  waitForCheckpoint,
} from './controller-fixture.js';

export function gcPolicy(
  name: string,
  o: Parameters<typeof policy>[1] & { retention?: string; schedule?: string; dryRun?: boolean; max?: number },
): KubernetesObject {
  const p = policy(name, o) as KubernetesObject & { spec: Record<string, unknown> };
  return {
    ...p,
    spec: {
      ...p.spec,
      retention: { afterRelease: o.retention ?? '1h' },
      gc: { schedule: o.schedule ?? '0 3 * * *', dryRun: o.dryRun ?? false, maxDeletesPerRun: o.max ?? 100 },
    },
  } as KubernetesObject;
}

/** Writes `count` small objects under `prefix` as the emulator's admin (20 at a time). */
export async function writeObjects(fx: Fixture, prefix: string, count: number, size = 10): Promise<void> {
  const body = 'x'.repeat(size);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const name = encodeURIComponent(`${prefix}q1/state/${String(i).padStart(6, '0')}.delta`);
      const res = await adminFetch(fx.emu, `/upload/storage/v1/b/${fx.bucket}/o?uploadType=media&name=${name}`, {
        method: 'POST',
        body,
      });
      if (!res.ok) throw new Error(`upload ${name}: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
}

/** How many objects are under `prefix`, and the newest `updated` time among them (ms, 0 when empty). */
async function summary(fx: Fixture, prefix: string): Promise<{ count: number; newest: number }> {
  let count = 0;
  let newest = 0;
  let token: string | undefined;
  do {
    const q = new URLSearchParams({ prefix, maxResults: '1000', fields: 'items(updated),nextPageToken' });
    if (token) q.set('pageToken', token);
    const res = await adminFetch(fx.emu, `/storage/v1/b/${fx.bucket}/o?${q}`);
    const body = (await res.json()) as { items?: { updated: string }[]; nextPageToken?: string };
    for (const o of body.items ?? []) newest = Math.max(newest, Date.parse(o.updated));
    count += body.items?.length ?? 0;
    token = body.nextPageToken;
  } while (token);
  return { count, newest };
}

export const countObjects = async (fx: Fixture, prefix: string) => (await summary(fx, prefix)).count;
export const lastWrite = async (fx: Fixture, prefix: string) => (await summary(fx, prefix)).newest;

export async function folderExists(fx: Fixture, prefix: string): Promise<boolean> {
  const res = await adminFetch(
    fx.emu,
    `/storage/v1/b/${fx.bucket}/managedFolders/${encodeURIComponent(prefix.replace(/\/$/, ''))}`,
  );
  return res.status === 200;
}

export interface RecordedEvent {
  kind: string;
  name: string;
  type: string;
  reason: string;
  message: string;
}

/** GC deps as the controller would have them: its own token, the real API server. */
export function gcDeps(fx: Fixture, o: { recorded?: RecordedEvent[] } & Partial<GcRunDeps> = {}): GcRunDeps {
  const gcs = createGcs({ endpoint: fx.emu.url, accessToken: fx.controllerToken });
  const backends = new Map<AccessMode, AccessBackend>();
  const events: EventSink = {
    event(ref, type, reason, message) {
      o.recorded?.push({ kind: ref.kind, name: ref.name, type, reason, message });
    },
  };
  const { recorded: _r, ...rest } = o;
  return {
    rest: new KubeRest(testKubeConfig()),
    gcs,
    backend: (mode) => {
      let b = backends.get(mode);
      if (!b) {
        b = mode === 'ManagedFolder' ? new ManagedFolderBackend({ gcs }) : new BucketConditionBackend({ gcs });
        backends.set(mode, b);
      }
      return b;
    },
    events,
    logger: createLogger({ level: process.env.TIDEMARK_TEST_LOG ?? 'silent' }),
    leaseNamespace: 'default',
    identity: 'gc-test',
    ...rest,
  };
}

export async function runGc(
  deps: GcRunDeps,
  policy: string,
  dryRun?: boolean,
): Promise<GcRunResult & { kind: 'Done' }> {
  const r = await runPolicyGc(deps, policy, dryRun === undefined ? {} : { dryRun });
  if (r.kind !== 'Done') throw new Error(`GC did not run: ${JSON.stringify(r)}`);
  return r;
}

/** A namespace with a `spark` KSA and a fresh policy selecting it; cleanups are pushed onto `cleanups`. */
export async function gcScenario(
  kc: KubeConfig,
  fx: Fixture,
  cleanups: (() => Promise<void>)[],
  o: {
    retention?: string;
    schedule?: string;
    max?: number;
    mode?: 'ManagedFolder' | 'BucketCondition';
    /** Appended to the root `checkpoints/<tag>` (e.g. `/inner`, for a policy nested in another's root). */
    rootSuffix?: string;
  } = {},
) {
  const tag = uniqueSuffix();
  const ns = await namespaceWithSa(kc, { 'tidemark-test-gc': tag });
  cleanups.push(ns.cleanup);
  const name = `gc-${tag}`;
  const root = `checkpoints/${tag}${o.rootSuffix ?? ''}`;
  const pol = gcPolicy(name, { bucket: fx.bucket, root, selectNamespace: { 'tidemark-test-gc': tag }, ...o });
  await apply(kc, pol);
  cleanups.push(() => deleteObject(kc, pol));
  return { ns: ns.name, tag, policyName: name, root, prefix: (job: string) => `${root}/${ns.name}/${job}/` };
}

/** One GC run once the policy's GC Lease is free (the controller may hold it a moment: it resumes runs itself). */
export async function runGcWhenFree(
  deps: GcRunDeps,
  policy: string,
): Promise<GcRunResult & { kind: 'Done' | 'Skipped' }> {
  return waitFor(`the GC lease of ${policy}`, async () => {
    const r = await runPolicyGc(deps, policy);
    return r.kind === 'Busy' ? undefined : r;
  });
}

/** The bucket's IAM policy (version 3), read as the emulator's admin. */
export async function bucketIam(fx: Fixture): Promise<{
  bindings?: { role: string; members: string[]; condition?: { title?: string; expression?: string } }[];
}> {
  const res = await adminFetch(fx.emu, `/storage/v1/b/${fx.bucket}/iam?optionsRequestedPolicyVersion=3`);
  if (!res.ok) throw new Error(`bucket IAM: ${res.status} ${await res.text()}`);
  return (await res.json()) as Awaited<ReturnType<typeof bucketIam>>;
}

export type GcScenario = Awaited<ReturnType<typeof gcScenario>>;

/** When a released Checkpoint becomes stale: retention after its release and after the newest write under it. */
export async function staleAt(fx: Fixture, cp: Checkpoint | undefined, retentionMs = 3_600_000): Promise<number> {
  if (!cp) throw new Error('no Checkpoint');
  return Math.max(Date.parse(cp.status?.releasedAt as string), await lastWrite(fx, cp.spec.prefix)) + retentionMs;
}

export const released = (cp: Checkpoint) => cp.status?.phase === 'Released' && cp.status?.releasedAt !== undefined;

/** Creates jobs, waits until they are Ready, writes objects, deletes the ones in `gone`, waits until Released. */
export async function releasedJobs(
  kc: KubeConfig,
  fx: Fixture,
  s: GcScenario,
  all: Record<string, number>,
  gone: string[],
): Promise<Record<string, Checkpoint>> {
  for (const job of Object.keys(all)) await apply(kc, sparkApp(s.ns, job));
  for (const job of Object.keys(all)) await waitForCheckpoint(kc, s.ns, job, isReady, 'Ready');
  for (const [job, n] of Object.entries(all)) if (n > 0) await writeObjects(fx, s.prefix(job), n);
  const out: Record<string, Checkpoint> = {};
  for (const job of gone) {
    await deleteObject(kc, sparkApp(s.ns, job));
    out[job] = await waitForCheckpoint(kc, s.ns, job, released, 'Released');
  }
  return out;
}
