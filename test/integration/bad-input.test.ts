// Issue 15 item 6: a generated corpus of bad input, on the real API server and the emulator with the controller as its
// own service account. Every bad CheckpointPolicy is refused by the API server (schema/CEL) with a message, or
// reported by the controller as Ready=False with a reason and a message; every odd SparkApplication is refused by the
// API server or gets a Checkpoint whose conditions say what happened; bad GCS answers (malformed JSON, truncated
// bodies) are survived: afterwards every job is granted and the foreign binding is still there. Throughout, the
// controller stays up (/healthz ok). The counts of what was tried are printed.
import { ApiException, type KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/api/index.js';
import type { RunningControllerProcess } from '../../src/controller/run.js';
import { googleStorage, setConfig } from '../emulator/clients.js';
import { apply, testKubeConfig, uniqueSuffix, waitFor } from '../harness/kube.js';
import { type Fixture, getCheckpoint, namespaceWithSa, policy, setupFixture, sparkApp } from './controller-fixture.js';

const kc = testKubeConfig();
const objects = KubernetesObjectApi.makeApiClient(kc);
const RUNS = Number(process.env.TIDEMARK_BAD_INPUT_RUNS ?? 25);
const SEED = Number(process.env.TIDEMARK_BAD_INPUT_SEED ?? 1509);

let fx: Fixture;
let ctrl: RunningControllerProcess;
const tag = uniqueSuffix();
const bucket = `bad-${tag}`;
const tally = { policiesRefused: 0, policiesReported: 0, appsRefused: 0, appsReported: 0, gcsCallsUnderFaults: 0 };

async function healthy(): Promise<void> {
  const res = await fetch(`${ctrl.health.url}/healthz`);
  expect(res.status, 'the controller answers /healthz').toBe(200);
}

beforeAll(async () => {
  fx = await setupFixture(kc, bucket);
  ctrl = await fx.startController();
  await waitFor('the controller to lead', async () => (ctrl.isLeader() ? true : undefined));
});

afterAll(async () => {
  console.log(
    `[bad input] policies: ${tally.policiesRefused} refused by the API server, ${tally.policiesReported} reported Ready=False; ` +
      `SparkApplications: ${tally.appsRefused} refused by the API server, ${tally.appsReported} reported on their Checkpoint; ` +
      `GCS: ${tally.gcsCallsUnderFaults} controller calls while 20% were answered with malformed JSON and 20% truncated; controller crashes: 0`,
  );
  await fx?.cleanup();
});

type Spec = Record<string, any>;

/** A valid policy spec, then one bad edit drawn from the corpus. */
const badPolicyEdit: fc.Arbitrary<{ what: string; edit: (spec: Spec) => void }> = fc.oneof(
  fc
    .constantFrom('', '/abs', 'a//b', 'a/../b', 'trailing/', 'ü/ñ', 'a b', 'x'.repeat(1100), '.', 'a/./b')
    .map((root) => ({
      what: `rootPrefix ${JSON.stringify(root.slice(0, 20))}`,
      edit: (s: Spec) => void (s.storage.rootPrefix = root),
    })),
  fc
    .constantFrom('', 'UPPER', 'a', 'bucket_with..dots', 'gs://x', 'ü-bucket', 'x'.repeat(300))
    .map((b) => ({ what: `bucket ${JSON.stringify(b.slice(0, 20))}`, edit: (s: Spec) => void (s.storage.bucket = b) })),
  fc.constantFrom('-1h', '7 days', 'abc', '1y', '', '1h-', '∞').map((d) => ({
    what: `afterRelease ${JSON.stringify(d)}`,
    edit: (s: Spec) => void (s.retention = { afterRelease: d }),
  })),
  fc.constantFrom('-1s', 'soon', '5x', '').map((d) => ({
    what: `propagationHold ${JSON.stringify(d)}`,
    edit: (s: Spec) => void (s.access.propagationHold = d),
  })),
  fc
    .constantFrom('Folder', 'managedfolder', '', 'BucketCondition ')
    .map((m) => ({ what: `mode ${JSON.stringify(m)}`, edit: (s: Spec) => void (s.access.mode = m) })),
  fc
    .constantFrom('storage.admin', '', 'roles/storage.objectUser; drop', 'roles/ü', 'projects/P/roles/x')
    .map((r) => ({ what: `role ${JSON.stringify(r)}`, edit: (s: Spec) => void (s.access.role = r) })),
  fc
    .constantFrom('* * *', '61 * * * *', '@sometimes', '', '0 3 * * * *', 'ü')
    .map((c) => ({ what: `gc.schedule ${JSON.stringify(c)}`, edit: (s: Spec) => void (s.gc = { schedule: c }) })),
  fc
    .constantFrom(-1, 0, 1.5)
    .map((n) => ({ what: `gc.maxDeletesPerRun ${n}`, edit: (s: Spec) => void (s.gc = { maxDeletesPerRun: n }) })),
  fc.constant({ what: 'no namespaceSelector', edit: (s: Spec) => void delete s.namespaceSelector }),
  fc.constantFrom('', '0', 'abc', '-5').map((n) => ({
    what: `projectNumber ${JSON.stringify(n)}`,
    edit: (s: Spec) => void (s.access.workloadIdentity.projectNumber = n),
  })),
  fc.constantFrom([], ['not-an-email'], ['*']).map((a) => ({
    what: `GoogleServiceAccount with allowedServiceAccounts ${JSON.stringify(a)}`,
    edit: (s: Spec) => {
      s.access.identity = 'GoogleServiceAccount';
      delete s.access.workloadIdentity;
      s.access.allowedServiceAccounts = a;
    },
  })),
);

function refusal(err: unknown): string | undefined {
  if (!(err instanceof ApiException) || err.code < 400 || err.code >= 500) return undefined;
  const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
  return body;
}

describe('bad input is refused with a message or reported as a condition; the controller never crashes', () => {
  it(`bad CheckpointPolicies (${RUNS} generated)`, async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(badPolicyEdit, async ({ what, edit }) => {
        const name = `bad-${tag}-${n++}`;
        const obj = policy(name, { bucket, root: `bad${n}`, selectNamespace: { [`bad-${tag}`]: 'none' } });
        edit((obj as unknown as { spec: Spec }).spec);
        try {
          await objects.create(obj);
        } catch (err) {
          const body = refusal(err);
          if (body === undefined) throw err;
          expect(body, `${what}: the refusal says why`).toMatch(/spec\.|Invalid value|Required value|must/);
          tally.policiesRefused++;
          return;
        }
        try {
          const ready = await waitFor(
            `${what}: a Ready condition`,
            async () => {
              const p = (await objects.read(obj as never)) as KubernetesObject & {
                status?: {
                  observedGeneration?: number;
                  conditions?: { type: string; status: string; reason?: string; message?: string }[];
                };
              };
              if (p.status?.observedGeneration !== p.metadata?.generation) return undefined;
              return p.status?.conditions?.find((c) => c.type === 'Ready');
            },
            { timeoutMs: 15_000 },
          );
          expect(ready.status, `${what}: accepted by the API server, so the controller must report it`).toBe('False');
          expect(ready.reason ?? '').not.toBe('');
          expect(ready.message ?? '').not.toBe('');
          tally.policiesReported++;
        } finally {
          await objects.delete(obj).catch(() => undefined);
        }
        await healthy();
      }),
      { numRuns: RUNS, seed: SEED },
    );
    await healthy();
  });

  it('odd SparkApplications: names at the length limit, unicode, odd service accounts, a huge sparkConf', async () => {
    const ns = await namespaceWithSa(kc, { [`bad-${tag}`]: 'apps' });
    const p = policy(`bad-${tag}-apps`, {
      bucket,
      root: 'apps',
      selectNamespace: { [`bad-${tag}`]: 'apps' },
      hold: '0s',
    });
    await apply(kc, p);
    try {
      const cases: { what: string; name: string; sa?: string; sparkConf?: Record<string, string> }[] = [
        { what: 'a name of 63 characters', name: `a${'b'.repeat(61)}c` },
        { what: 'a name of 253 characters', name: `a${'.b'.repeat(126)}` },
        { what: 'a name of 254 characters', name: `a${'b'.repeat(253)}` },
        { what: 'a unicode name', name: 'jöb-ñ' },
        { what: 'an upper-case name', name: 'JobA' },
        { what: 'a service account with spaces', name: 'sa-spaces', sa: 'my sa' },
        { what: 'a unicode service account', name: 'sa-unicode', sa: 'spärk' },
        { what: 'a service account of 300 characters', name: 'sa-long', sa: 's'.repeat(300) },
        { what: 'an empty service account', name: 'sa-empty', sa: '' },
        { what: 'a service account with a slash', name: 'sa-slash', sa: 'a/b' },
        {
          what: 'a sparkConf of 2,000 entries',
          name: 'conf-many',
          sparkConf: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`spark.tidemark.test.k${i}`, `v${i}`])),
        },
        {
          what: 'a sparkConf value of 1 MB',
          name: 'conf-huge',
          sparkConf: { 'spark.tidemark.blob': 'x'.repeat(1_000_000) },
        },
        {
          what: 'a sparkConf naming an odd service account',
          name: 'conf-sa',
          sparkConf: { 'spark.kubernetes.authenticate.driver.serviceAccountName': '../../etc' },
        },
      ];
      const created: string[] = [];
      for (const c of cases) {
        const app = sparkApp(ns.name, c.name, c.sa !== undefined ? { sa: c.sa } : {}) as KubernetesObject & {
          spec: Record<string, unknown>;
        };
        if (c.sparkConf) app.spec.sparkConf = { ...((app.spec.sparkConf as object) ?? {}), ...c.sparkConf };
        try {
          await objects.create(app);
          created.push(c.name);
        } catch (err) {
          const body = refusal(err);
          if (body === undefined) throw err;
          expect(body.length, `${c.what}: the refusal says why`).toBeGreaterThan(0);
          tally.appsRefused++;
        }
        await healthy();
      }
      for (const name of created) {
        const cp = await waitFor(
          `the Checkpoint of ${name} to report`,
          async () => {
            const got: Checkpoint | undefined = await getCheckpoint(kc, ns.name, name);
            const conds = got?.status?.conditions ?? [];
            if (!got || conds.length === 0 || conds.some((x) => x.observedGeneration !== got.metadata.generation))
              return undefined;
            return got;
          },
          { timeoutMs: 30_000 },
        );
        const ready = cp.status?.conditions?.find((c) => c.type === 'Ready');
        expect(ready?.message ?? ready?.reason ?? '', `${name}: its Ready condition says something`).not.toBe('');
        tally.appsReported++;
      }
      await healthy();
    } finally {
      await objects.delete(p).catch(() => undefined);
      await ns.cleanup();
    }
  });

  it('malformed JSON and truncated answers from GCS: the controller stays up, then every job is granted and no foreign binding is lost', async () => {
    const ns = await namespaceWithSa(kc, { [`bad-${tag}`]: 'gcs' });
    const p = policy(`bad-${tag}-gcs`, {
      bucket,
      root: 'gcs',
      selectNamespace: { [`bad-${tag}`]: 'gcs' },
      mode: 'BucketCondition',
      hold: '0s',
    });
    const admin = googleStorage(fx.emu, fx.emu.adminToken);
    const foreign = { role: 'roles/storage.objectViewer', members: ['user:auditor@example.com'] };
    const cur = (await admin.buckets.getIamPolicy({ bucket, optionsRequestedPolicyVersion: 3 })).data;
    await admin.buckets.setIamPolicy({
      bucket,
      requestBody: { ...cur, version: 3, bindings: [...(cur.bindings ?? []), foreign] },
    });
    const before = await callCount();
    try {
      await setConfig(fx.emu, {
        faults: [
          { op: '*', rate: 0.2, kind: 'malformedJson', member: `serviceAccount:${await controllerMember()}` },
          { op: '*', rate: 0.2, kind: 'truncated', member: `serviceAccount:${await controllerMember()}` },
        ],
      });
      await apply(kc, p);
      for (let i = 0; i < 6; i++) await apply(kc, sparkApp(ns.name, `job${i}`));
      await objects.delete(sparkApp(ns.name, 'job5'));
      for (let i = 0; i < 20; i++) {
        await healthy();
        await new Promise((r) => setTimeout(r, 100));
      }
      tally.gcsCallsUnderFaults = (await callCount()) - before;
      await setConfig(fx.emu, { faults: [] });
      await ctrl.resyncNow();
      for (let i = 0; i < 5; i++) {
        await waitFor(
          `job${i} to be granted`,
          async () => {
            const cp = await getCheckpoint(kc, ns.name, `job${i}`);
            return cp?.status?.conditions?.find((c) => c.type === 'AccessGranted' && c.status === 'True');
          },
          { timeoutMs: 30_000 },
        );
      }
      const after = (await admin.buckets.getIamPolicy({ bucket, optionsRequestedPolicyVersion: 3 })).data;
      const kept = (after.bindings ?? []).some(
        (b) => b.role === foreign.role && !b.condition && (b.members ?? []).includes('user:auditor@example.com'),
      );
      expect(kept, 'the foreign bucket binding survives malformed and truncated answers').toBe(true);
      await healthy();
    } finally {
      await setConfig(fx.emu, { faults: [] });
      await objects.delete(p).catch(() => undefined);
      await ns.cleanup();
    }
  });
});

async function controllerMember(): Promise<string> {
  const res = await fetch(`${fx.emu.url}/_emulator/counters`, {
    headers: { authorization: `Bearer ${fx.emu.adminToken}` },
  });
  const c = (await res.json()) as { byMember: Record<string, number> };
  const sa = Object.keys(c.byMember).find((m) => m.startsWith('serviceAccount:') && m.includes('controller'));
  return (sa ?? '').replace(/^serviceAccount:/, '');
}

async function callCount(): Promise<number> {
  const res = await fetch(`${fx.emu.url}/_emulator/counters`, {
    headers: { authorization: `Bearer ${fx.emu.adminToken}` },
  });
  const c = (await res.json()) as { byMember: Record<string, number> };
  const m = `serviceAccount:${await controllerMember()}`;
  return c.byMember[m] ?? 0;
}
