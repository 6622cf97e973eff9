// Issue 8 end to end (real API server, the emulator, the controller as its own service account): revocation
// follows the record of what was granted, no Checkpoint is trusted as the place to act, finalizers never wedge,
// managed folders are authoritative, and grants of namespaces that are gone are revoked. The emulator judges.
import { CoreV1Api, KubernetesObjectApi } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { jobCondition } from '../../src/access/condition.js';
import type { Checkpoint } from '../../src/api/index.js';
import type { RunningControllerProcess } from '../../src/controller/run.js';
import { createLogger } from '../../src/kube/log.js';
import { adminJson, googleStorage, mintToken, statusOf, storageClient } from '../emulator/clients.js';
import { uniqueSuffix, waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  getCheckpoint,
  hasReason,
  isReady,
  namespaceWithSa,
  PROJECT,
  policy,
  resyncAndSettle,
  sparkApp,
  useControllerFixture,
  waitForCheckpoint,
  wiPrincipal,
} from './controller-fixture.js';

let fx: Fixture;
let ctrl: RunningControllerProcess;
const CONTROLLER = `serviceAccount:tidemark-controller@${PROJECT}.iam.gserviceaccount.com`;
const CONTROLLER_ROLE = `projects/${PROJECT}/roles/tidemarkController`;
const USER = 'roles/storage.objectUser';
const ADMIN = 'roles/storage.objectAdmin';
type Mode = 'ManagedFolder' | 'BucketCondition';

/** The controller's log lines of level warn and above (JSON objects), for what only the log shows. */
const logged: { msg?: string; key?: string; retries?: number }[] = [];

const { kc, cleanups, scenario, write } = useControllerFixture({
  controller: {
    logger: createLogger({ level: 'warn', destination: { write: (line: string) => logged.push(JSON.parse(line)) } }),
  },
  ready: (f, c) => {
    [fx, ctrl] = [f, c as RunningControllerProcess];
  },
});

const admin = () => googleStorage(fx.emu, fx.emu.adminToken);

async function events(namespace: string, reason: string) {
  const core = kc.makeApiClient(CoreV1Api);
  return (await core.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === reason);
}

function waitForEvent(namespace: string, reason: string, object?: string) {
  return waitFor(`a ${reason} Event in ${namespace}`, async () => {
    const found = (await events(namespace, reason)).filter((e) => !object || e.involvedObject.name === object);
    return found.length > 0 ? found : undefined;
  });
}

async function annotateCheckpoint(namespace: string, name: string, annotations: Record<string, string>) {
  const client = KubernetesObjectApi.makeApiClient(kc);
  await client.patch(
    { apiVersion: 'tidemark.dev/v1alpha1', kind: 'Checkpoint', metadata: { name, namespace, annotations } },
    undefined,
    undefined,
    undefined,
    undefined,
    'application/merge-patch+json' as never,
  );
}

const grantsOf = (cp: Checkpoint) => cp.status?.grants ?? [];

const checkpointRef = (namespace: string, name: string) =>
  ({ apiVersion: 'tidemark.dev/v1alpha1', kind: 'Checkpoint', metadata: { name, namespace } }) as const;

function waitForGone(namespace: string, name: string) {
  return waitFor(`Checkpoint ${namespace}/${name} to go`, async () =>
    (await getCheckpoint(kc, namespace, name)) === undefined ? true : undefined,
  );
}

/** A second bucket on which the controller holds its role (for tests that break the bucket). */
async function extraBucket(): Promise<string> {
  const name = `ckpt-x-${uniqueSuffix()}`;
  await admin().buckets.insert({
    project: PROJECT,
    requestBody: { name, iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } },
  });
  await setControllerRole(name, true);
  return name;
}

async function setControllerRole(bucket: string, on: boolean) {
  const p = (await admin().buckets.getIamPolicy({ bucket, optionsRequestedPolicyVersion: 3 })).data;
  const others = (p.bindings ?? []).filter((b) => b.role !== CONTROLLER_ROLE);
  await admin().buckets.setIamPolicy({
    bucket,
    requestBody: {
      version: 3,
      etag: p.etag,
      bindings: on ? [...others, { role: CONTROLLER_ROLE, members: [CONTROLLER] }] : others,
    },
  });
}

/** Grants the controller its role project-wide (as some installations do); returns the undo. */
async function controllerProjectWide(): Promise<() => Promise<void>> {
  const path = `/v1/projects/${PROJECT}`;
  const before = await adminJson<{ etag: string; bindings?: unknown[] }>(fx.emu, `${path}:getIamPolicy`, {
    method: 'POST',
    body: '{}',
  });
  const set = async (bindings: unknown[]) => {
    const cur = await adminJson<{ etag: string }>(fx.emu, `${path}:getIamPolicy`, { method: 'POST', body: '{}' });
    await adminJson(fx.emu, `${path}:setIamPolicy`, {
      method: 'POST',
      body: JSON.stringify({ policy: { etag: cur.etag, bindings } }),
    });
  };
  await set([...(before.bindings ?? []), { role: CONTROLLER_ROLE, members: [CONTROLLER] }]);
  let undone = false;
  return async () => {
    if (undone) return;
    undone = true;
    await set(before.bindings ?? []);
  };
}

describe('item 1: revocation follows what was granted', () => {
  it.each<[Mode, Partial<Parameters<typeof policy>[1]> & { role?: string }]>([
    ['BucketCondition', { mode: 'BucketCondition' }],
    ['ManagedFolder', { mode: 'ManagedFolder' }],
  ])('%s: a role change then a release leaves no grant (migration with AccessMigrated, then revoke)', async (mode) => {
    const s = await scenario({ mode });
    await apply(kc, sparkApp(s.ns, 'etl'));
    const bound = await waitForCheckpoint(kc, s.ns, 'etl', isReady, 'Ready');
    const token = await mintToken(fx.emu, wiPrincipal(s.ns, 'spark'));
    expect(await write(token, `${bound.spec.prefix}a`)).toBe(200);

    const withRole = structuredClone(s.pol) as { spec: { access: Record<string, unknown> } };
    withRole.spec.access.role = ADMIN;
    await apply(kc, withRole as never);
    await waitForEvent(s.ns, 'AccessMigrated', 'etl');
    const migrated = await waitForCheckpoint(
      kc,
      s.ns,
      'etl',
      (c) => grantsOf(c).length === 1 && grantsOf(c)[0]?.role === ADMIN,
      'recording only the new role',
    );
    expect(migrated.spec.access?.role).toBe(ADMIN);
    if (mode === 'BucketCondition') {
      const p = (await admin().buckets.getIamPolicy({ bucket: fx.bucket, optionsRequestedPolicyVersion: 3 })).data;
      const mine = (p.bindings ?? []).filter((b) => b.condition?.title === `tidemark:${s.ns}/etl`);
      expect(mine.map((b) => b.role)).toEqual([ADMIN]);
    }
    expect(await write(token, `${bound.spec.prefix}b`)).toBe(200);

    await deleteObject(kc, sparkApp(s.ns, 'etl'));
    const released = await waitForCheckpoint(
      kc,
      s.ns,
      'etl',
      (c) => c.status?.phase === 'Released' && grantsOf(c).length === 0,
      'Released with nothing recorded',
    );
    expect(released.status?.revokedAt).toBeTruthy();
    expect(await write(token, `${bound.spec.prefix}c`)).toBe(403);
  });

  it('a mode change (ManagedFolder → BucketCondition) moves the grant and empties the folder', async () => {
    const s = await scenario({ mode: 'ManagedFolder' });
    await apply(kc, sparkApp(s.ns, 'mover'));
    const bound = await waitForCheckpoint(kc, s.ns, 'mover', isReady, 'Ready');
    await apply(
      kc,
      policy(s.policyName, {
        bucket: fx.bucket,
        root: s.root,
        selectNamespace: { 'tidemark-test-scenario': s.tag },
        mode: 'BucketCondition',
      }),
    );
    await waitForCheckpoint(
      kc,
      s.ns,
      'mover',
      (c) => grantsOf(c).length === 1 && grantsOf(c)[0]?.mode === 'BucketCondition',
      'recording only the BucketCondition grant',
    );
    const folder = await admin().managedFolders.getIamPolicy({ bucket: fx.bucket, managedFolder: bound.spec.prefix });
    expect(folder.data.bindings ?? []).toEqual([]);
    await deleteObject(kc, sparkApp(s.ns, 'mover'));
    await waitForCheckpoint(
      kc,
      s.ns,
      'mover',
      (c) => grantsOf(c).length === 0 && c.status?.phase === 'Released',
      'Released',
    );
    const token = await mintToken(fx.emu, wiPrincipal(s.ns, 'spark'));
    expect(await write(token, `${bound.spec.prefix}x`)).toBe(403);
  });
});

describe.each<Mode>(['ManagedFolder', 'BucketCondition'])(
  'item 2 (%s): a Checkpoint is never the place to act',
  (mode) => {
    it('a hand-made Checkpoint in another namespace naming the victim’s prefix, released and deleted, changes nothing', async () => {
      const s = await scenario({ mode });
      await apply(kc, sparkApp(s.ns, 'victim'));
      const victim = await waitForCheckpoint(kc, s.ns, 'victim', isReady, 'Ready');
      const token = await mintToken(fx.emu, wiPrincipal(s.ns, 'spark'));
      expect(await write(token, `${victim.spec.prefix}before`)).toBe(200);

      // `evil` is covered by the same policy (its own place would be <root>/evil/victim/).
      const evil = await namespaceWithSa(kc, { 'tidemark-test-scenario': s.tag });
      cleanups.push(evil.cleanup);
      const handMade = {
        apiVersion: 'tidemark.dev/v1alpha1',
        kind: 'Checkpoint',
        metadata: { name: 'victim', namespace: evil.name, finalizers: ['tidemark.dev/checkpoint-protection'] },
        spec: { ...victim.spec, members: [wiPrincipal(evil.name, 'spark')] },
      };
      await apply(kc, handMade as never);
      const flagged = await waitForCheckpoint(
        kc,
        evil.name,
        'victim',
        hasReason('AccessGranted', 'PrefixMismatch'),
        'PrefixMismatch',
      );
      expect(flagged.status?.phase).toBe('Released');
      expect(grantsOf(flagged)).toEqual([]);
      await waitForEvent(evil.name, 'PrefixMismatch', 'victim');
      expect(await write(token, `${victim.spec.prefix}released`)).toBe(200);

      await deleteObject(kc, handMade as never);
      await waitForGone(evil.name, 'victim');
      expect(await write(token, `${victim.spec.prefix}deleted`)).toBe(200);
      const still = await getCheckpoint(kc, s.ns, 'victim');
      expect(grantsOf(still as Checkpoint)).toEqual(grantsOf(victim));
      const evilToken = await mintToken(fx.emu, wiPrincipal(evil.name, 'spark'));
      expect(await write(evilToken, `${victim.spec.prefix}evil`)).toBe(403);
    });
  },
);

describe('item 4: finalizers never wedge', () => {
  it('BucketCondition: a deleted bucket means the grant is gone; the finalizer goes with a BucketGone Event', async () => {
    // A controller whose role is on the bucket alone gets 403 for a bucket that is gone (Google does not say
    // whether it exists): that is the forbidden case below. Allowed project-wide, it learns 404: the grant is gone.
    const restore = await controllerProjectWide();
    cleanups.push(restore);
    const bucket = await extraBucket();
    const s = await scenario({ mode: 'BucketCondition', bucket });
    await apply(kc, sparkApp(s.ns, 'lost'));
    await waitForCheckpoint(kc, s.ns, 'lost', isReady, 'Ready');
    await deleteObject(kc, sparkApp(s.ns, 'lost'));
    await admin().buckets.delete({ bucket });
    await deleteObject(kc, checkpointRef(s.ns, 'lost'));
    await waitForGone(s.ns, 'lost');
    await waitForEvent(s.ns, 'BucketGone', 'lost');
    await restore();
  });

  it.each<Mode>(['ManagedFolder', 'BucketCondition'])(
    '%s: a forbidden revoke keeps the finalizer, says so, retries with growing backoff; tidemark.dev/skip-revoke lets it go',
    async (mode) => {
      const bucket = await extraBucket();
      const s = await scenario({ mode, bucket });
      await apply(kc, sparkApp(s.ns, 'stuck'));
      const bound = await waitForCheckpoint(kc, s.ns, 'stuck', isReady, 'Ready');
      await setControllerRole(bucket, false);
      await deleteObject(kc, sparkApp(s.ns, 'stuck'));
      await deleteObject(kc, checkpointRef(s.ns, 'stuck'));
      const blocked = await waitForCheckpoint(
        kc,
        s.ns,
        'stuck',
        hasReason('AccessGranted', 'RevokeFailed'),
        'RevokeFailed',
      );
      expect(blocked.metadata.deletionTimestamp).toBeTruthy();
      expect(grantsOf(blocked).flatMap((g) => g.members)).toEqual([wiPrincipal(s.ns, 'spark')]);
      const [ev] = await waitForEvent(s.ns, 'RevokeFailed', 'stuck');
      expect(ev?.message).toContain('tidemark.dev/skip-revoke');
      // Retried with backoff that grows (the log line of each failure carries the key's retry count). A queued
      // BucketCondition write that fails wakes the key at once; before the fix every hand-over reset the backoff, so
      // the count never passed 1 and the failing write was retried at the writer's pace forever.
      await waitFor('the revoke to be retried with growing backoff (retry count 6 in the log)', async () =>
        logged.some((l) => l.key === `job:${s.ns}/stuck` && (l.retries ?? 0) >= 6) ? true : undefined,
      );
      // The grant is still there (the controller could not remove it): the admin's escape, documented in access.md.
      const token = await mintToken(fx.emu, wiPrincipal(s.ns, 'spark'));
      expect(await write(token, `${bound.spec.prefix}x`, bucket)).toBe(200);
      await annotateCheckpoint(s.ns, 'stuck', { 'tidemark.dev/skip-revoke': 'true' });
      await waitForGone(s.ns, 'stuck');
      const [skipped] = await waitForEvent(s.ns, 'RevokeSkipped', 'stuck');
      expect(skipped?.message).toContain(wiPrincipal(s.ns, 'spark'));
    },
  );

  it.each<Mode>(['ManagedFolder', 'BucketCondition'])(
    '%s: deleting a live job’s Checkpoint keeps its access and re-creates the Checkpoint, announced',
    async (mode) => {
      const s = await scenario({ mode });
      await apply(kc, sparkApp(s.ns, 'running'));
      const old = await waitForCheckpoint(kc, s.ns, 'running', isReady, 'Ready');
      const token = await mintToken(fx.emu, wiPrincipal(s.ns, 'spark'));
      await deleteObject(kc, checkpointRef(s.ns, 'running'));
      const fresh = await waitForCheckpoint(
        kc,
        s.ns,
        'running',
        (c) => c.metadata.uid !== old.metadata.uid && isReady(c),
        'Ready again',
      );
      expect(fresh.spec.uri).toBe(old.spec.uri);
      expect(await write(token, `${old.spec.prefix}still`)).toBe(200);
      const announced = await waitForEvent(s.ns, 'LiveCheckpointDeleted');
      expect(announced.map((e) => e.involvedObject.kind).sort()).toEqual(['Checkpoint', 'SparkApplication']);
    },
  );
});

describe('item 5: a job’s managed folder holds exactly Tidemark’s binding', () => {
  it('a foreign binding (allAuthenticatedUsers, and a conditional one) is removed at the next resync', async () => {
    const s = await scenario({ mode: 'ManagedFolder' });
    await apply(kc, sparkApp(s.ns, 'private'));
    const cp = await waitForCheckpoint(kc, s.ns, 'private', isReady, 'Ready');
    await admin().objects.insert(
      { bucket: fx.bucket, name: `${cp.spec.prefix}secret`, media: { body: 's' }, uploadType: 'media' },
      { rootUrl: `${fx.emu.url}/` },
    );
    const cur = await admin().managedFolders.getIamPolicy({
      bucket: fx.bucket,
      managedFolder: cp.spec.prefix,
      optionsRequestedPolicyVersion: 3,
    });
    await admin().managedFolders.setIamPolicy({
      bucket: fx.bucket,
      managedFolder: cp.spec.prefix,
      requestBody: {
        version: 3,
        etag: cur.data.etag,
        bindings: [
          ...(cur.data.bindings ?? []),
          { role: 'roles/storage.objectViewer', members: ['allAuthenticatedUsers'] },
          {
            role: USER,
            members: ['user:friend@example.com'],
            condition: { title: 'until', expression: 'request.time < timestamp("2099-01-01T00:00:00Z")' },
          },
        ],
      },
    });
    const stranger = await mintToken(fx.emu, 'user:stranger@example.com');
    const read = () =>
      storageClient(fx.emu, stranger)
        .bucket(fx.bucket)
        .file(`${cp.spec.prefix}secret`)
        .download()
        .then(
          () => 200,
          (err) => statusOf(err),
        );
    expect(await read()).toBe(200);
    await resyncAndSettle(ctrl);
    const after = await admin().managedFolders.getIamPolicy({
      bucket: fx.bucket,
      managedFolder: cp.spec.prefix,
      optionsRequestedPolicyVersion: 3,
    });
    expect(after.data.bindings).toEqual([{ role: USER, members: [wiPrincipal(s.ns, 'spark')] }]);
    expect(await read()).toBe(403);
    const [warn] = await waitForEvent(s.ns, 'ForeignBindingRemoved', 'private');
    expect(warn?.type).toBe('Warning');
    const token = await mintToken(fx.emu, wiPrincipal(s.ns, 'spark'));
    expect(await write(token, `${cp.spec.prefix}ok`)).toBe(200);
  });
});

describe.each<Mode>(['ManagedFolder', 'BucketCondition'])('item 7 (%s): grants of a namespace that is gone', (mode) => {
  it('are revoked by the resync; the data stays', async () => {
    const s = await scenario({ mode });
    // A namespace that no longer exists (envtest runs no namespace controller, so it is one that never did): its
    // job's prefix, data and a Tidemark grant to its Workload Identity principal, as a deleted namespace leaves them.
    const gone = `gone-${s.tag}`;
    const prefix = `${s.root}/${gone}/job/`;
    const member = wiPrincipal(gone, 'spark');
    await admin().objects.insert(
      { bucket: fx.bucket, name: `${prefix}state/0`, media: { body: 'd' }, uploadType: 'media' },
      { rootUrl: `${fx.emu.url}/` },
    );
    if (mode === 'ManagedFolder') {
      await admin().managedFolders.insert({ bucket: fx.bucket, requestBody: { name: prefix } });
      const cur = await admin().managedFolders.getIamPolicy({ bucket: fx.bucket, managedFolder: prefix });
      await admin().managedFolders.setIamPolicy({
        bucket: fx.bucket,
        managedFolder: prefix,
        requestBody: { version: 3, etag: cur.data.etag, bindings: [{ role: USER, members: [member] }] },
      });
    } else {
      const c = jobCondition(fx.bucket, prefix, { namespace: gone, name: 'job' });
      const p = (await admin().buckets.getIamPolicy({ bucket: fx.bucket, optionsRequestedPolicyVersion: 3 })).data;
      await admin().buckets.setIamPolicy({
        bucket: fx.bucket,
        requestBody: {
          ...p,
          version: 3,
          bindings: [...(p.bindings ?? []), { role: USER, members: [member], condition: c }],
        },
      });
    }
    const token = await mintToken(fx.emu, member);
    expect(await write(token, `${prefix}state/1`)).toBe(200);
    await resyncAndSettle(ctrl);
    expect(await write(token, `${prefix}state/2`)).toBe(403);
    const objects = await admin().objects.list({ bucket: fx.bucket, prefix });
    expect((objects.data.items ?? []).map((o) => o.name).sort()).toEqual([`${prefix}state/0`, `${prefix}state/1`]);
    const core = kc.makeApiClient(CoreV1Api);
    const all = await core.listEventForAllNamespaces({});
    expect(all.items.some((e) => e.reason === 'NamespaceGoneRevoked' && e.involvedObject.name === s.policyName)).toBe(
      true,
    );
  });
});
