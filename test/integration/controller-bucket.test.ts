// BucketCondition mode, Google-service-account identities, conflicts, foreign bindings, restarts and replicas.
import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { RunningControllerProcess } from '../../src/controller/run.js';
import { googleStorage, mintToken } from '../emulator/clients.js';
import { waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  getCheckpoint,
  hasReason,
  isReady,
  PROJECT,
  policy,
  resyncAndSettle,
  sparkApp,
  useControllerFixture,
  waitForCheckpoint,
} from './controller-fixture.js';

let fx: Fixture;
let ctrl: RunningControllerProcess;
const GSA = `etl@${PROJECT}.iam.gserviceaccount.com`;
const ROGUE = `rogue@other-project.iam.gserviceaccount.com`;
const FOREIGN = { role: 'roles/storage.objectViewer', members: ['user:auditor@example.com'] };

const { kc, cleanups, scenario, write } = useControllerFixture({
  // Someone else's binding, already in the bucket policy before Tidemark writes to it.
  prepare: async (f) => {
    const admin = googleStorage(f.emu, f.emu.adminToken);
    const p = await admin.buckets.getIamPolicy({ bucket: f.bucket, optionsRequestedPolicyVersion: 3 });
    await admin.buckets.setIamPolicy({
      bucket: f.bucket,
      requestBody: { ...p.data, version: 3, bindings: [...(p.data.bindings ?? []), FOREIGN] },
    });
  },
  controller: { identity: 'replica-a' },
  ready: (f, c) => {
    [fx, ctrl] = [f, c as RunningControllerProcess];
  },
});

async function bucketPolicy() {
  const admin = googleStorage(fx.emu, fx.emu.adminToken);
  return (await admin.buckets.getIamPolicy({ bucket: fx.bucket, optionsRequestedPolicyVersion: 3 })).data;
}

describe('BucketCondition mode with Google service accounts', () => {
  it('grants an allowed GSA a conditional binding on the prefix, and keeps foreign bindings', async () => {
    const s = await scenario(
      { mode: 'BucketCondition', identity: 'GoogleServiceAccount', allowed: [`*@${PROJECT}.iam.gserviceaccount.com`] },
      [{ name: 'spark', annotations: { 'iam.gke.io/gcp-service-account': GSA } }],
    );
    await apply(kc, sparkApp(s.ns, 'stream'));
    const cp = await waitForCheckpoint(kc, s.ns, 'stream', isReady, 'Ready');
    expect(cp.spec.members).toEqual([`serviceAccount:${GSA}`]);
    const token = await mintToken(fx.emu, `serviceAccount:${GSA}`);
    expect(await write(token, `${cp.spec.prefix}q/commits/0`)).toBe(200);
    expect(await write(token, `${s.root}/${s.ns}/streamx`)).toBe(403);
    expect(await write(token, `${s.root}/${s.ns}/stream2/q/commits/0`)).toBe(403);

    const pol = await bucketPolicy();
    expect(pol.bindings).toContainEqual(expect.objectContaining(FOREIGN));
    const ours = (pol.bindings ?? []).filter((b) => b.condition?.title?.startsWith('tidemark:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]?.members).toEqual([`serviceAccount:${GSA}`]);

    // Someone adds a member of their own to Tidemark's binding: every later Tidemark write keeps it.
    const admin = googleStorage(fx.emu, fx.emu.adminToken);
    const withGuest = {
      ...pol,
      bindings: (pol.bindings ?? []).map((b) =>
        b.condition?.title === ours[0]?.condition?.title
          ? { ...b, members: [...(b.members ?? []), 'user:guest@example.com'] }
          : b,
      ),
    };
    await admin.buckets.setIamPolicy({ bucket: fx.bucket, requestBody: withGuest });
    await apply(kc, sparkApp(s.ns, 'stream-b'));
    await waitForCheckpoint(kc, s.ns, 'stream-b', isReady, 'Ready');
    // Wait for the resync to have reconciled every key (not for a condition that was already true).
    await resyncAndSettle(ctrl);
    const later = await bucketPolicy();
    const mine = (later.bindings ?? []).find((b) => b.condition?.title === ours[0]?.condition?.title);
    expect([...(mine?.members ?? [])].sort()).toEqual([`serviceAccount:${GSA}`, 'user:guest@example.com'].sort());
    expect(later.bindings).toContainEqual(expect.objectContaining(FOREIGN));
    const cp2 = await getCheckpoint(kc, s.ns, 'stream');
    expect(cp2?.status?.grantedMembers).toEqual([`serviceAccount:${GSA}`]);
  });

  it('refuses a GSA outside allowedServiceAccounts with a condition, granting nothing', async () => {
    const s = await scenario(
      { mode: 'BucketCondition', identity: 'GoogleServiceAccount', allowed: [`*@${PROJECT}.iam.gserviceaccount.com`] },
      [{ name: 'spark', annotations: { 'iam.gke.io/gcp-service-account': ROGUE } }],
    );
    await apply(kc, sparkApp(s.ns, 'sneaky'));
    const cp = await waitForCheckpoint(kc, s.ns, 'sneaky', hasReason('Ready', 'ServiceAccountNotAllowed'), 'refused');
    expect(cp.status?.grantedMembers ?? []).toEqual([]);
    const pol = await bucketPolicy();
    expect(JSON.stringify(pol.bindings)).not.toContain(ROGUE);
  });

  it('reports two policies selecting one job and provisions nothing', async () => {
    const s = await scenario({});
    const second = policy(`pol2-${s.tag}`, {
      bucket: fx.bucket,
      root: `other/${s.tag}`,
      selectNamespace: { 'tidemark-test-scenario': s.tag },
    });
    await apply(kc, second);
    cleanups.push(() => deleteObject(kc, second));
    await apply(kc, sparkApp(s.ns, 'contested'));
    const core = kc.makeApiClient(CoreV1Api);
    const events = await waitFor('a PolicyConflict event', async () => {
      const list = await core.listNamespacedEvent({ namespace: s.ns });
      return list.items.some((e) => e.reason === 'PolicyConflict') ? list.items : undefined;
    });
    expect(events.some((e) => e.reason === 'PolicyConflict' && e.involvedObject.name === 'contested')).toBe(true);
    expect(await getCheckpoint(kc, s.ns, 'contested')).toBeUndefined();
  });

  it('survives a restart without duplicate grants, and with two replicas exactly one leads', async () => {
    const s = await scenario({ mode: 'BucketCondition' });
    await apply(kc, sparkApp(s.ns, 'steady'));
    await waitForCheckpoint(kc, s.ns, 'steady', isReady, 'Ready');
    const before = await bucketPolicy();

    const b = await fx.startController({ identity: 'replica-b' });
    expect(ctrl.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    await ctrl.stop();
    await waitFor('replica-b to lead', () => b.isLeader() || undefined, { timeoutMs: 30_000 });
    await b.resyncNow();
    await apply(kc, sparkApp(s.ns, 'steady2'));
    await waitForCheckpoint(kc, s.ns, 'steady2', isReady, 'Ready under the new leader');
    const after = await bucketPolicy();
    const key = (x: { role?: string | null; condition?: { title?: string | null } | null }) =>
      `${x.role}|${x.condition?.title ?? ''}`;
    const titles = (after.bindings ?? []).map(key);
    expect(new Set(titles).size).toBe(titles.length);
    for (const binding of before.bindings ?? []) {
      expect(after.bindings).toContainEqual(expect.objectContaining({ role: binding.role, members: binding.members }));
    }
    ctrl = b;
  });
});
