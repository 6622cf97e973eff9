// The orphan scan of one policy root against the emulator, as the controller's own service account: it never
// adopts a prefix that lies under another policy's deeper root (issue 8 item 3), in either access mode, whether
// the other policy's data shows as objects, managed folders or Tidemark's conditional bindings.
import type { storage_v1 } from 'googleapis';
import { beforeEach, describe, expect, it } from 'vitest';
import { jobCondition } from '../../src/access/condition.js';
import { scanPolicyRoot } from '../../src/checkpoint/orphan-scan.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import type { Gcs } from '../../src/gcs/client.js';
import { type EffectivePolicy, resolvePolicy } from '../../src/policy/effective.js';
import { PolicySet } from '../../src/policy/plan.js';
import { adminAddBinding, controllerGcs, ROLE, wiPrincipal } from './access-support.js';
import { rootUrl, useAdminEmulator } from './clients.js';

const bucket = 'orphan-scan';
let emu: RunningEmulator;
let api: storage_v1.Storage;
let gcs: Gcs;
let n = 0;

useAdminEmulator({ buckets: [bucket] }, (s) => {
  ({ emu, api } = s);
});
beforeEach(async () => {
  ({ gcs } = await controllerGcs(emu, bucket, `scan${++n}`, [
    'storage.objects.list',
    'storage.managedFolders.list',
    'storage.buckets.getIamPolicy',
  ]));
});

async function put(name: string): Promise<void> {
  await api.objects.insert({ bucket, name, media: { body: 'x' } }, { rootUrl: rootUrl(emu) });
}

async function folder(name: string): Promise<void> {
  await api.managedFolders.insert({ bucket, requestBody: { name } });
}

function policies(mode: 'ManagedFolder' | 'BucketCondition') {
  const mk = (name: string, rootPrefix: string, day: number) => ({
    apiVersion: 'tidemark.dev/v1alpha1' as const,
    kind: 'CheckpointPolicy' as const,
    metadata: { name, creationTimestamp: new Date(`2026-01-0${day}T00:00:00Z`) },
    spec: {
      namespaceSelector: {},
      jobSelector: {},
      storage: { bucket, rootPrefix },
      access: { mode, workloadIdentity: { projectNumber: '123456789012', pool: 'tidemark-dev.svc.id.goog' } },
    },
  });
  const set = new PolicySet([mk('ckpt', 'ckpt', 1), mk('team-b', 'ckpt/team-b', 2)]);
  const resolved = (name: string) => {
    const r = resolvePolicy(set.policy(name) as Parameters<typeof resolvePolicy>[0]);
    if (!r.ok) throw new Error(r.errors.join('; '));
    return r.policy as EffectivePolicy;
  };
  return { set, outer: resolved('ckpt'), inner: resolved('team-b') };
}

describe('scanPolicyRoot with another policy’s root nested in it', () => {
  for (const mode of ['ManagedFolder', 'BucketCondition'] as const) {
    it(`${mode}: policy ckpt adopts ckpt/team-a/j/ but nothing under ckpt/team-b/ (policy team-b's root)`, async () => {
      const { set, outer, inner } = policies(mode);
      await put('ckpt/team-a/j/offsets/0');
      await put('ckpt/team-b/x/y/offsets/0'); // job x/y of policy team-b
      await put('ckpt/team-b/x/marker'); // looks like job team-b/x of policy ckpt
      if (mode === 'ManagedFolder') {
        await folder('ckpt/team-b/x/');
        await folder('ckpt/team-b/x/y/');
      } else {
        const c = jobCondition(bucket, 'ckpt/team-b/x/y/', { namespace: 'x', name: 'y' });
        await adminAddBinding(emu, bucket, { role: ROLE, members: [wiPrincipal('x', 'spark')], condition: c });
      }
      const none = () => false;
      const outerScan = await scanPolicyRoot(gcs.storage, outer, none, {
        rootOwnerOf: (prefix) => set.rootOwnerOf(outer.name, bucket, prefix),
      });
      expect(outerScan.candidates.map((c) => c.candidate.prefix)).toEqual(['ckpt/team-a/j/']);
      expect(outerScan.unrecognised).toEqual([]);

      // The inner policy finds its own job, and only it.
      const innerScan = await scanPolicyRoot(gcs.storage, inner, none, {
        rootOwnerOf: (prefix) => set.rootOwnerOf(inner.name, bucket, prefix),
      });
      expect(innerScan.candidates.map((c) => `${c.namespace}/${c.name}`)).toEqual(['x/y']);
    });
  }
});
