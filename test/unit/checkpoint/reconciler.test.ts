// The Checkpoint reconciler against a fake world (in-memory cluster and GCS behind Tidemark's own interfaces): one
// table row per transition, including what issue 8 requires: revocation from the record, migrations, 409s between
// member changes, PrefixMismatch, finalizers that never wedge, authoritative folders, gone namespaces.
import { beforeEach, describe, expect, it } from 'vitest';
import type { AccessMode } from '../../../src/access/backend.js';
import { jobCondition } from '../../../src/access/condition.js';
import type { Checkpoint } from '../../../src/api/index.js';
import { CheckpointReconciler, type OrphanCandidate, RevokeBlocked } from '../../../src/checkpoint/reconciler.js';
import { FakeBucketBackend, FakeCluster, FakeFolderBackend, FakeGcs, wi } from './fake-world.js';

const USER = 'roles/storage.objectUser';
const ADMIN = 'roles/storage.objectAdmin';
const NS = 'team-a';

function world() {
  const gcs = new FakeGcs();
  const cluster = new FakeCluster(gcs.log);
  const folders = new FakeFolderBackend(gcs);
  const buckets = new FakeBucketBackend(gcs);
  const orphans = new Map<string, OrphanCandidate>();
  const goneChecks: string[] = [];
  const rec = new CheckpointReconciler({
    view: cluster,
    writer: cluster,
    events: cluster,
    backend: (m: AccessMode) => (m === 'ManagedFolder' ? folders : buckets),
    takeOrphan: (ns, name) => {
      const o = orphans.get(`${ns}/${name}`);
      orphans.delete(`${ns}/${name}`);
      return o;
    },
    namespaceGone: async (ns) => {
      goneChecks.push(ns);
      return !cluster.namespaces.has(ns);
    },
    now: () => new Date('2026-01-01T01:00:00Z'),
  });
  cluster.namespaces.set(NS, { team: 'a' });
  const reconcile = (name: string, ns = NS) => rec.reconcile(ns, name);
  const cp = (name: string, ns = NS) => cluster.checkpoint(ns, name) as Checkpoint;
  const cond = (c: Checkpoint, type: string) => c.status?.conditions?.find((x) => x.type === type);
  return { gcs, cluster, rec, orphans, goneChecks, reconcile, cp, cond };
}

type World = ReturnType<typeof world>;

/** A job in team-a bound under policy `p` (mode as given), reconciled to Ready. */
async function boundJob(w: World, mode: AccessMode, name = 'ingest', sa = 'spark') {
  if (!w.cluster.policiesByName.has('p')) w.cluster.addPolicy('p', { mode });
  w.cluster.addApp(NS, name, sa);
  await w.reconcile(name);
  return w.cp(name);
}

/** A Tidemark grant in GCS that no Checkpoint records (as the orphan scan would find it). */
function seedGrant(
  w: World,
  mode: AccessMode,
  job: { namespace: string; name: string },
  prefix: string,
  member: string,
) {
  if (mode === 'ManagedFolder') w.gcs.folders.set(`bkt\n${prefix}`, [{ role: USER, members: [member] }]);
  else {
    const c = jobCondition('bkt', prefix, job);
    w.gcs
      .bucket('bkt')
      .push({ role: USER, members: [member], condition: { title: c.title, expression: c.expression } });
  }
}

const MODES: AccessMode[] = ['ManagedFolder', 'BucketCondition'];

describe.each(MODES)('%s: bind and release', (mode) => {
  let w: World;
  beforeEach(() => {
    w = world();
  });

  it('records the grant in status.grants BEFORE the GCS change, then reads it back and is Ready', async () => {
    const c = await boundJob(w, mode);
    const member = wi(NS, 'spark');
    expect(c.status?.grants).toEqual([
      expect.objectContaining({ mode, role: USER, bucket: 'bkt', prefix: `ckpt/${NS}/ingest/`, members: [member] }),
    ]);
    expect(w.cond(c, 'Ready')?.status).toBe('True');
    expect(w.gcs.holdings(member)).toHaveLength(1);
    const firstRecord = w.gcs.log.findIndex((l) => l.startsWith(`status ${NS}/ingest grants=[["${mode}"`));
    const firstApply = w.gcs.log.findIndex((l) => l.startsWith(`apply ${mode}`));
    expect(firstRecord).toBeGreaterThanOrEqual(0);
    expect(firstRecord).toBeLessThan(firstApply);
    expect(c.status?.revokedAt).toBeUndefined();
  });

  it('revokes from the record when the job goes, sets revokedAt, and records nothing left', async () => {
    await boundJob(w, mode);
    w.cluster.apps.delete(`${NS}/ingest`);
    await w.reconcile('ingest');
    const c = w.cp('ingest');
    expect(c.status?.phase).toBe('Released');
    expect(c.status?.grants).toEqual([]);
    expect(c.status?.revokedAt).toBe('2026-01-01T01:00:00Z');
    expect(w.gcs.holdings(wi(NS, 'spark'))).toEqual([]);
    expect(w.cond(c, 'AccessGranted')?.reason).toBe('Revoked');
  });

  it('revokes from the record, not from the current policy, after a role change made while released', async () => {
    await boundJob(w, mode);
    w.cluster.apps.delete(`${NS}/ingest`);
    // The policy's role changes and the spec is edited to match it, before the controller sees the release.
    w.cluster.addPolicy('p', { mode, role: ADMIN });
    const stored = w.cluster.cps.get(`${NS}/ingest`) as Checkpoint;
    stored.spec.access = { mode, role: ADMIN };
    await w.reconcile('ingest');
    expect(w.gcs.holdings(wi(NS, 'spark'))).toEqual([]);
    expect(w.cp('ingest').status?.grants).toEqual([]);
  });

  it('migrates on a role change: grants the new role, reads it back, revokes the old, with an AccessMigrated Event', async () => {
    await boundJob(w, mode);
    w.cluster.addPolicy('p', { mode, role: ADMIN });
    await w.reconcile('ingest');
    const c = w.cp('ingest');
    const member = wi(NS, 'spark');
    expect(w.gcs.holdings(member)).toHaveLength(1);
    expect(w.gcs.holdings(member)[0]).toContain(ADMIN);
    expect(c.status?.grants?.map((g) => g.role)).toEqual([ADMIN]);
    expect(w.cluster.reasons()).toContain('AccessMigrated');
    expect(w.cond(c, 'Ready')?.status).toBe('True');
  });

  it('revokes the middle member when members change twice and the status writes after the grants hit 409', async () => {
    await boundJob(w, mode, 'ingest', 'a');
    // Member a → b: the record-first write succeeds, the final status write after the grant hits 409.
    w.cluster.addApp(NS, 'ingest', 'b');
    w.cluster.conflictsOnStatus = 0;
    const origWrite = w.cluster.writeStatus.bind(w.cluster);
    let writes = 0;
    w.cluster.writeStatus = async (c, s) => {
      writes++;
      if (writes === 2) throw Object.assign(new Error('conflict'), { statusCode: 409 });
      return origWrite(c, s);
    };
    await expect(w.reconcile('ingest')).rejects.toThrow(/conflict/);
    w.cluster.writeStatus = origWrite;
    // Member b → c before any successful narrowing write.
    w.cluster.addApp(NS, 'ingest', 'c');
    await w.reconcile('ingest');
    expect(w.gcs.holdings(wi(NS, 'a'))).toEqual([]);
    expect(w.gcs.holdings(wi(NS, 'b'))).toEqual([]);
    expect(w.gcs.holdings(wi(NS, 'c'))).toHaveLength(1);
    expect(w.cp('ingest').status?.grants?.flatMap((g) => g.members)).toEqual([wi(NS, 'c')]);
  });

  it('a crash after the intent was recorded and before GCS changed leaves nothing the release cannot revoke', async () => {
    await boundJob(w, mode, 'ingest', 'a');
    w.cluster.addApp(NS, 'ingest', 'b');
    const backend = mode === 'ManagedFolder' ? FakeFolderBackend.prototype : FakeBucketBackend.prototype;
    const orig = backend.apply;
    backend.apply = async () => {
      throw new Error('controller crashed');
    };
    await expect(w.reconcile('ingest')).rejects.toThrow(/crashed/);
    backend.apply = orig;
    expect(
      w
        .cp('ingest')
        .status?.grants?.flatMap((g) => g.members)
        .sort(),
    ).toEqual([wi(NS, 'a'), wi(NS, 'b')].sort());
    w.cluster.apps.delete(`${NS}/ingest`);
    await w.reconcile('ingest');
    expect(w.gcs.holdings(wi(NS, 'a'))).toEqual([]);
    expect(w.cp('ingest').status?.grants).toEqual([]);
  });

  it('re-grants after a release (rebind) and clears revokedAt', async () => {
    await boundJob(w, mode);
    w.cluster.apps.delete(`${NS}/ingest`);
    await w.reconcile('ingest');
    w.cluster.addApp(NS, 'ingest');
    await w.reconcile('ingest');
    const c = w.cp('ingest');
    expect(c.status?.phase).toBe('Bound');
    expect(c.status?.revokedAt).toBeUndefined();
    expect(w.gcs.holdings(wi(NS, 'spark'))).toHaveLength(1);
  });
});

describe('mode change', () => {
  it('ManagedFolder → BucketCondition: the binding is in place before the folder is emptied', async () => {
    const w = world();
    await boundJob(w, 'ManagedFolder');
    w.cluster.addPolicy('p', { mode: 'BucketCondition' });
    await w.reconcile('ingest');
    const holdings = w.gcs.holdings(wi(NS, 'spark'));
    expect(holdings).toEqual([`bkt cond:tidemark:${NS}/ingest ${USER}`]);
    const grantAt = w.gcs.log.findIndex((l) => l.startsWith('apply BucketCondition'));
    const revokeAt = w.gcs.log.findIndex((l) => l.startsWith('apply ManagedFolder') && l.endsWith('[]'));
    expect(grantAt).toBeLessThan(revokeAt);
    expect(w.cp('ingest').status?.grants?.map((g) => g.mode)).toEqual(['BucketCondition']);
    expect(w.cluster.reasons()).toContain('AccessMigrated');
  });

  it('BucketCondition → ManagedFolder', async () => {
    const w = world();
    await boundJob(w, 'BucketCondition');
    w.cluster.addPolicy('p', { mode: 'ManagedFolder' });
    await w.reconcile('ingest');
    expect(w.gcs.holdings(wi(NS, 'spark'))).toEqual([`bkt folder:ckpt/${NS}/ingest/ ${USER}`]);
  });
});

describe.each(MODES)('%s: a Checkpoint whose spec names another place (PrefixMismatch)', (mode) => {
  it('is released and deleted without touching the victim', async () => {
    const w = world();
    await boundJob(w, mode, 'victim');
    const before = w.gcs.holdings(wi(NS, 'spark'));
    w.cluster.namespaces.set('evil', { team: 'a' });
    const victim = w.cp('victim');
    w.cluster.handMade({
      metadata: { name: 'x', namespace: 'evil', finalizers: ['tidemark.dev/checkpoint-protection'] },
      spec: {
        policyName: 'p',
        jobRef: { kind: 'SparkApplication', name: 'x' },
        bucket: victim.spec.bucket,
        prefix: victim.spec.prefix,
        uri: victim.spec.uri,
        access: { mode, role: USER },
        members: [wi('evil', 'spark'), ...(victim.spec.members ?? [])],
      },
    });
    const calls = w.gcs.log.filter((l) => l.startsWith('apply') || l.startsWith('observe')).length;
    await w.reconcile('x', 'evil');
    const released = w.cp('x', 'evil');
    expect(w.cond(released, 'AccessGranted')?.reason).toBe('PrefixMismatch');
    expect(w.cluster.events.some((e) => e.reason === 'PrefixMismatch' && e.type === 'Warning')).toBe(true);
    w.cluster.delete('evil', 'x');
    await w.reconcile('x', 'evil');
    expect(w.cluster.checkpoint('evil', 'x')).toBeUndefined();
    expect(w.gcs.log.filter((l) => l.startsWith('apply') || l.startsWith('observe')).length).toBe(calls);
    expect(w.gcs.holdings(wi(NS, 'spark'))).toEqual(before);
  });

  it('in a namespace no policy covers: the same, and its bogus record entries are ignored', async () => {
    const w = world();
    await boundJob(w, mode, 'victim');
    const before = w.gcs.holdings(wi(NS, 'spark'));
    w.cluster.namespaces.set('evil', { team: 'evil' });
    const victim = w.cp('victim');
    w.cluster.handMade({
      metadata: { name: 'x', namespace: 'evil', finalizers: ['tidemark.dev/checkpoint-protection'] },
      spec: { ...victim.spec, jobRef: { kind: 'SparkApplication', name: 'x' } },
    });
    // Even a record naming the victim's grant (status is the controller's, but never trust a Checkpoint).
    const stored = w.cluster.cps.get('evil/x') as Checkpoint;
    stored.status = { grants: victim.status?.grants ?? [] };
    await w.reconcile('x', 'evil');
    w.cluster.delete('evil', 'x');
    await w.reconcile('x', 'evil');
    expect(w.cluster.checkpoint('evil', 'x')).toBeUndefined();
    expect(w.gcs.holdings(wi(NS, 'spark'))).toEqual(before);
  });
});

describe.each(MODES)('%s: finalizers never wedge', (mode) => {
  it('a gone bucket counts as revoked: the finalizer goes, with a BucketGone Event', async () => {
    const w = world();
    await boundJob(w, mode);
    w.cluster.apps.delete(`${NS}/ingest`);
    w.gcs.goneBuckets.add('bkt');
    w.cluster.delete(NS, 'ingest');
    await w.reconcile('ingest');
    expect(w.cluster.checkpoint(NS, 'ingest')).toBeUndefined();
    if (mode === 'BucketCondition') expect(w.cluster.reasons()).toContain('BucketGone');
  });

  it('a forbidden revoke keeps the finalizer, says so, retries with backoff; skip-revoke lets it go', async () => {
    const w = world();
    await boundJob(w, mode);
    w.cluster.apps.delete(`${NS}/ingest`);
    w.gcs.forbiddenBuckets.add('bkt');
    w.cluster.delete(NS, 'ingest');
    await expect(w.reconcile('ingest')).rejects.toBeInstanceOf(RevokeBlocked);
    const stuck = w.cp('ingest');
    expect(stuck.metadata.finalizers).toContain('tidemark.dev/checkpoint-protection');
    expect(w.cond(stuck, 'AccessGranted')?.reason).toBe('RevokeFailed');
    expect(w.cluster.events.find((e) => e.reason === 'RevokeFailed')?.message).toContain('tidemark.dev/skip-revoke');
    (w.cluster.cps.get(`${NS}/ingest`) as Checkpoint).metadata.annotations = { 'tidemark.dev/skip-revoke': 'true' };
    await w.reconcile('ingest');
    expect(w.cluster.checkpoint(NS, 'ingest')).toBeUndefined();
    expect(w.cluster.events.find((e) => e.reason === 'RevokeSkipped')?.message).toContain(wi(NS, 'spark'));
  });

  it('deleting a live job’s Checkpoint keeps its access and re-creates the Checkpoint, announced', async () => {
    const w = world();
    await boundJob(w, mode);
    const old = w.cp('ingest');
    w.cluster.delete(NS, 'ingest');
    await w.reconcile('ingest');
    expect(w.cluster.checkpoint(NS, 'ingest')).toBeUndefined();
    expect(w.gcs.holdings(wi(NS, 'spark'))).toHaveLength(1);
    const announced = w.cluster.events.filter((e) => e.reason === 'LiveCheckpointDeleted');
    expect(announced.map((e) => e.ref.kind).sort()).toEqual(['Checkpoint', 'SparkApplication']);
    await w.reconcile('ingest');
    const fresh = w.cp('ingest');
    expect(fresh.metadata.uid).not.toBe(old.metadata.uid);
    expect(fresh.status?.grants?.flatMap((g) => g.members)).toEqual([wi(NS, 'spark')]);
    expect(w.gcs.holdings(wi(NS, 'spark'))).toHaveLength(1);
  });
});

describe.each(MODES)('%s: a namespace being deleted', (mode) => {
  it('revokes a Checkpoint deleted before its job (no hand-over: no new Checkpoint could be created there)', async () => {
    const w = world();
    await boundJob(w, mode);
    w.cluster.terminating.add(NS);
    w.cluster.delete(NS, 'ingest');
    await w.reconcile('ingest');
    expect(w.cluster.checkpoint(NS, 'ingest')).toBeUndefined();
    expect(w.gcs.holdings(wi(NS, 'spark'))).toEqual([]);
    expect(w.cluster.reasons()).not.toContain('LiveCheckpointDeleted');
  });
});

describe('ManagedFolder: the folder policy is exactly Tidemark’s binding', () => {
  it('removes a foreign binding at the next reconcile, with a Warning Event', async () => {
    const w = world();
    await boundJob(w, 'ManagedFolder');
    const key = `bkt\nckpt/${NS}/ingest/`;
    w.gcs.folders.get(key)?.push({ role: 'roles/storage.objectViewer', members: ['allAuthenticatedUsers'] });
    w.gcs.folders.get(key)?.push({
      role: USER,
      members: ['user:x@example.com'],
      condition: { title: 't', expression: 'true' },
    });
    await w.reconcile('ingest');
    expect(w.gcs.folders.get(key)).toEqual([{ role: USER, members: [wi(NS, 'spark')] }]);
    const warn = w.cluster.events.find((e) => e.reason === 'ForeignBindingRemoved');
    expect(warn?.type).toBe('Warning');
    expect(warn?.message).toContain('allAuthenticatedUsers');
  });

  it('clears a foreign binding from a released job’s folder', async () => {
    const w = world();
    await boundJob(w, 'ManagedFolder');
    w.cluster.apps.delete(`${NS}/ingest`);
    await w.reconcile('ingest');
    const key = `bkt\nckpt/${NS}/ingest/`;
    w.gcs.folders.set(key, [{ role: 'roles/storage.objectViewer', members: ['allAuthenticatedUsers'] }]);
    await w.reconcile('ingest');
    expect(w.gcs.folders.get(key)).toEqual([]);
  });
});

describe.each(MODES)('%s: grants of a namespace that is gone', (mode) => {
  it('are revoked by the resync (confirmed with the API server), with an Event on the policy', async () => {
    const w = world();
    w.cluster.addPolicy('p', { mode });
    const prefix = 'ckpt/gone/job/';
    const member = wi('gone', 'spark');
    seedGrant(w, mode, { namespace: 'gone', name: 'job' }, prefix, member);
    w.orphans.set('gone/job', { policyName: 'p', bucket: 'bkt', prefix, uri: `gs://bkt/${prefix}`, mode, role: USER });
    await w.reconcile('job', 'gone');
    expect(w.goneChecks).toEqual(['gone']);
    expect(w.gcs.holdings(member)).toEqual([]);
    const ev = w.cluster.events.find((e) => e.reason === 'NamespaceGoneRevoked');
    expect(ev?.ref.kind).toBe('CheckpointPolicy');
    expect(w.cluster.checkpoint('gone', 'job')).toBeUndefined();
  });

  it('an orphan in a live namespace is adopted as Released and its grant revoked from a recorded intent', async () => {
    const w = world();
    w.cluster.addPolicy('p', { mode });
    const prefix = `ckpt/${NS}/lost/`;
    const member = wi(NS, 'spark');
    seedGrant(w, mode, { namespace: NS, name: 'lost' }, prefix, member);
    w.orphans.set(`${NS}/lost`, {
      policyName: 'p',
      bucket: 'bkt',
      prefix,
      uri: `gs://bkt/${prefix}`,
      mode,
      role: USER,
    });
    await w.reconcile('lost');
    const c = w.cp('lost');
    expect(w.cond(c, 'Bound')?.reason).toBe('Orphaned');
    expect(w.gcs.holdings(member)).toEqual([]);
    expect(c.status?.grants).toEqual([]);
    expect(c.status?.revokedAt).toBeTruthy();
    expect(w.gcs.log.some((l) => l.startsWith(`status ${NS}/lost grants=[["${mode}"`))).toBe(true);
  });
});

describe('other transitions', () => {
  it('an unselected job with no Checkpoint does nothing', async () => {
    const w = world();
    w.cluster.addPolicy('p', { ns: { team: 'other' } });
    w.cluster.addApp(NS, 'ingest');
    await w.reconcile('ingest');
    expect(w.cluster.checkpoint(NS, 'ingest')).toBeUndefined();
    expect(w.gcs.log).toEqual([]);
  });

  it('a legacy Checkpoint (grantedMembers, no grants) is revoked from its verified spec', async () => {
    const w = world();
    await boundJob(w, 'BucketCondition');
    const stored = w.cluster.cps.get(`${NS}/ingest`) as Checkpoint;
    delete stored.status?.grants;
    w.cluster.apps.delete(`${NS}/ingest`);
    await w.reconcile('ingest');
    expect(w.gcs.holdings(wi(NS, 'spark'))).toEqual([]);
    expect(w.cp('ingest').status?.grants).toEqual([]);
  });

  it('a member change revokes the old member after granting the new one', async () => {
    const w = world();
    await boundJob(w, 'BucketCondition', 'ingest', 'a');
    w.cluster.addApp(NS, 'ingest', 'b');
    await w.reconcile('ingest');
    expect(w.gcs.holdings(wi(NS, 'a'))).toEqual([]);
    expect(w.gcs.holdings(wi(NS, 'b'))).toHaveLength(1);
    expect(w.cp('ingest').status?.grants?.[0]?.members).toEqual([wi(NS, 'b')]);
  });
});
