// Identities through the real clients: IAM Credentials generateAccessToken (@google-cloud/iam-credentials), the
// per-principal metadata server (google-auth-library's Compute client via GCE_METADATA_HOST), the project policy
// (Resource Manager client), propagation delay, and that a token minted for A never acts as B.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IAMCredentialsClient } from '@google-cloud/iam-credentials';
import fc from 'fast-check';
import { google, type storage_v1 } from 'googleapis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import {
  adminJson,
  createBucket,
  failure,
  googleStorage,
  mintToken,
  oauth,
  rootUrl,
  setConfig,
  start,
} from './clients.js';

const PROJECT = 'tidemark-dev';
const NUMBER = '123456789012';
const POOL = `${PROJECT}.svc.id.goog`;
const ksa = (ns: string, sa: string) =>
  `principal://iam.googleapis.com/projects/${NUMBER}/locations/global/workloadIdentityPools/${POOL}/subject/ns/${ns}/sa/${sa}`;
const CALLER = 'serviceAccount:deployer@tidemark-dev.iam.gserviceaccount.com';
const GSA = `ctl@${PROJECT}.iam.gserviceaccount.com`;
const SCOPE = ['https://www.googleapis.com/auth/devstorage.read_write'];
const BUCKET = 'identity';

let emu: RunningEmulator;
let admin: storage_v1.Storage;

beforeAll(async () => {
  emu = await start();
  admin = googleStorage(emu, emu.adminToken);
  await createBucket(emu, BUCKET);
  await createBucket(emu, 'identity-2');
  const p = (await admin.buckets.getIamPolicy({ bucket: BUCKET })).data;
  await admin.buckets.setIamPolicy({
    bucket: BUCKET,
    requestBody: {
      ...p,
      bindings: [...(p.bindings ?? []), { role: 'roles/storage.objectViewer', members: [`serviceAccount:${GSA}`] }],
    },
  });
  await admin.objects.insert({ bucket: BUCKET, name: 'hello', media: { body: 'hi' } }, { rootUrl: rootUrl(emu) });
});

afterAll(async () => {
  await emu?.stop();
});

function credentials(token: string): IAMCredentialsClient {
  const port = Number(new URL(emu.url).port);
  // googleapis 178 ships google-auth-library 10, the major google-gax 5 uses.
  return new IAMCredentialsClient({
    fallback: true,
    protocol: 'http',
    apiEndpoint: '127.0.0.1',
    port,
    authClient: oauth(token),
  });
}

const iamApi = (token: string) => google.iam({ version: 'v1', auth: oauth(token), rootUrl: rootUrl(emu) });
const rm = (token: string) => google.cloudresourcemanager({ version: 'v1', auth: oauth(token), rootUrl: rootUrl(emu) });

describe('generateAccessToken', () => {
  it('is refused without roles/iam.serviceAccountTokenCreator, works with it on the account', async () => {
    const iamc = credentials(await mintToken(emu, CALLER));
    const name = `projects/-/serviceAccounts/${GSA}`;
    const denied = await failure(() => iamc.generateAccessToken({ name, scope: SCOPE }));
    expect(denied.error.message).toContain(
      "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
    );
    await iamApi(emu.adminToken).projects.serviceAccounts.setIamPolicy({
      resource: name,
      requestBody: { policy: { bindings: [{ role: 'roles/iam.serviceAccountTokenCreator', members: [CALLER] }] } },
    });
    const [res] = await iamc.generateAccessToken({ name, scope: SCOPE, lifetime: { seconds: 600 } });
    expect(res.expireTime?.seconds).toBeDefined();
    // The minted token acts as the service account: it reads what the account may read, nothing more.
    const asGsa = googleStorage(emu, res.accessToken as string);
    expect((await asGsa.objects.get({ bucket: BUCKET, object: 'hello', alt: 'media' })).data).toBe('hi');
    expect((await failure(() => asGsa.objects.delete({ bucket: BUCKET, object: 'hello' }))).status).toBe(403);
    // The caller itself still has no storage access.
    const asCaller = googleStorage(emu, await mintToken(emu, CALLER));
    expect((await failure(() => asCaller.objects.get({ bucket: BUCKET, object: 'hello', alt: 'media' }))).status).toBe(
      403,
    );
  });

  it('works with the token creator role on the project; roles/owner alone is not enough', async () => {
    const other = `other@${PROJECT}.iam.gserviceaccount.com`;
    const name = `projects/-/serviceAccounts/${other}`;
    const owner = 'user:owner@example.com';
    const creator = 'user:creator@example.com';
    const policy = (await rm(emu.adminToken).projects.getIamPolicy({ resource: PROJECT, requestBody: {} })).data;
    await rm(emu.adminToken).projects.setIamPolicy({
      resource: PROJECT,
      requestBody: {
        policy: {
          etag: policy.etag,
          bindings: [
            ...(policy.bindings ?? []),
            { role: 'roles/owner', members: [owner] },
            { role: 'roles/iam.serviceAccountTokenCreator', members: [creator] },
          ],
        },
      },
    });
    expect(
      (
        await failure(() =>
          credentials(emu.adminToken).generateAccessToken({
            name: 'projects/-/serviceAccounts/nobody@example.com',
            scope: SCOPE,
          }),
        )
      ).error.message,
    ).toMatch(/not found/i);
    await expect(credentials(await mintToken(emu, owner)).generateAccessToken({ name, scope: SCOPE })).rejects.toThrow(
      /iam.serviceAccounts.getAccessToken/,
    );
    const [res] = await credentials(await mintToken(emu, creator)).generateAccessToken({ name, scope: SCOPE });
    expect(res.accessToken).toMatch(/^ya29\./);
  });
});

describe('metadata servers', () => {
  async function register(body: object): Promise<{ id: string; host: string; pathHost: string }> {
    return adminJson(emu, '/_emulator/metadata-servers', { method: 'POST', body: JSON.stringify(body) });
  }

  async function withMetadataHost<T>(host: string, fn: () => Promise<T>): Promise<T> {
    const saved = process.env.GCE_METADATA_HOST;
    process.env.GCE_METADATA_HOST = host;
    try {
      return await fn();
    } finally {
      if (saved === undefined) delete process.env.GCE_METADATA_HOST;
      else process.env.GCE_METADATA_HOST = saved;
    }
  }

  it('hands google-auth-library a token for the registered principal (GCE_METADATA_HOST=host:port)', async () => {
    const principal = ksa('team-a', 'spark');
    await admin.managedFolders.insert({ bucket: BUCKET, requestBody: { name: 'team-a/job/' } });
    await admin.managedFolders.setIamPolicy({
      bucket: BUCKET,
      managedFolder: 'team-a/job/',
      requestBody: { bindings: [{ role: 'roles/storage.objectUser', members: [principal] }] },
    });
    const reg = await register({ principal });
    const token = await withMetadataHost(reg.host, async () => {
      const compute = new google.auth.Compute();
      return (await compute.getAccessToken()).token;
    });
    expect(token).toMatch(/^ya29\./);
    const gs = googleStorage(emu, token as string);
    await gs.objects.insert({ bucket: BUCKET, name: 'team-a/job/x', media: { body: 'x' } }, { rootUrl: rootUrl(emu) });
    expect((await failure(() => gs.objects.get({ bucket: BUCKET, object: 'hello', alt: 'media' }))).status).toBe(403);
    const email = await fetch(`http://${reg.host}/computeMetadata/v1/instance/service-accounts/default/email`, {
      headers: { 'Metadata-Flavor': 'Google' },
    });
    expect(email.headers.get('metadata-flavor')).toBe('Google');
    expect(await email.text()).toBe(POOL);
    const noFlavor = await fetch(`http://${reg.host}/computeMetadata/v1/project/project-id`);
    expect(noFlavor.status).toBe(403);
    // The path form, for clients that put GCE_METADATA_HOST/GCE_METADATA_ROOT in front of the path (Java, gcloud).
    const viaPath = await fetch(`http://${reg.pathHost}/computeMetadata/v1/instance/service-accounts/default/token`, {
      headers: { 'Metadata-Flavor': 'Google' },
    });
    const body = (await viaPath.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBeGreaterThan(3000);
    const project = await fetch(`http://${reg.pathHost}/computeMetadata/v1/project/numeric-project-id`, {
      headers: { 'Metadata-Flavor': 'Google' },
    });
    expect(await project.text()).toBe(NUMBER);
  });

  it('a KSA bound to a Google service account gets its token only with roles/iam.workloadIdentityUser', async () => {
    const principal = ksa('team-b', 'driver');
    const gsa = `team-b@${PROJECT}.iam.gserviceaccount.com`;
    const reg = await register({ principal, serviceAccount: gsa });
    const fetchToken = () =>
      withMetadataHost(reg.host, async () => (await new google.auth.Compute().getAccessToken()).token as string);
    await expect(fetchToken()).rejects.toThrow(/iam.serviceAccounts.getAccessToken/);
    await iamApi(emu.adminToken).projects.serviceAccounts.setIamPolicy({
      resource: `projects/-/serviceAccounts/${gsa}`,
      requestBody: {
        // The legacy member spelling GKE documents for the same KSA.
        policy: {
          bindings: [{ role: 'roles/iam.workloadIdentityUser', members: [`serviceAccount:${POOL}[team-b/driver]`] }],
        },
      },
    });
    const token = await fetchToken();
    const email = await fetch(`http://${reg.host}/computeMetadata/v1/instance/service-accounts/default/email`, {
      headers: { 'Metadata-Flavor': 'Google' },
    });
    expect(await email.text()).toBe(gsa);
    // The token stands for the service account, not the KSA.
    const p = (await admin.buckets.getIamPolicy({ bucket: 'identity-2' })).data;
    await admin.buckets.setIamPolicy({
      bucket: 'identity-2',
      requestBody: {
        ...p,
        bindings: [...(p.bindings ?? []), { role: 'roles/storage.objectCreator', members: [`serviceAccount:${gsa}`] }],
      },
    });
    await googleStorage(emu, token).objects.insert(
      { bucket: 'identity-2', name: 'by-gsa', media: { body: 'x' } },
      { rootUrl: rootUrl(emu) },
    );
  });
});

describe('gcloud with its metadata root on a registration (GCE_METADATA_ROOT, the path form)', () => {
  it('authenticates as the registered principal', async () => {
    const principal = `serviceAccount:gcloud-user@${PROJECT}.iam.gserviceaccount.com`;
    const p = (await admin.buckets.getIamPolicy({ bucket: 'identity-2' })).data;
    await admin.buckets.setIamPolicy({
      bucket: 'identity-2',
      requestBody: {
        ...p,
        bindings: [...(p.bindings ?? []), { role: 'roles/storage.objectViewer', members: [principal] }],
      },
    });
    await admin.objects.insert(
      { bucket: 'identity-2', name: 'g/x', media: { body: 'from-gcloud' } },
      { rootUrl: rootUrl(emu) },
    );
    const reg = await adminJson<{ pathHost: string }>(emu, '/_emulator/metadata-servers', {
      method: 'POST',
      body: JSON.stringify({ principal }),
    });
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-gcloud-md-'));
    const env = {
      PATH: process.env.PATH,
      HOME: dir,
      CLOUDSDK_CONFIG: join(dir, 'config'),
      CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
      CLOUDSDK_CORE_PROJECT: PROJECT,
      CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE: `${emu.url}/storage/v1/`,
      GCE_METADATA_ROOT: reg.pathHost,
    };
    const run = promisify(execFile);
    let denied: string | undefined;
    try {
      const cat = await run('gcloud', ['storage', 'cat', 'gs://identity-2/g/x'], { env, timeout: 60_000 });
      expect(cat.stdout).toBe('from-gcloud');
      denied = await run('gcloud', ['storage', 'rm', 'gs://identity-2/g/x'], { env, timeout: 60_000 }).then(
        () => undefined,
        (err: { stderr: string }) => err.stderr,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(denied).toContain(
      'gcloud-user@tidemark-dev.iam.gserviceaccount.com does not have storage.objects.delete access to the Google Cloud Storage object.',
    );
  }, 120_000);
});

describe('the project policy (Resource Manager)', () => {
  it('project-level storage bindings apply to every bucket; a stale etag is 409', async () => {
    const viewer = 'user:everywhere@example.com';
    const client = rm(emu.adminToken);
    const p0 = (await client.projects.getIamPolicy({ resource: PROJECT, requestBody: {} })).data;
    const p1 = (
      await client.projects.setIamPolicy({
        resource: PROJECT,
        requestBody: {
          policy: {
            etag: p0.etag,
            bindings: [...(p0.bindings ?? []), { role: 'roles/storage.objectViewer', members: [viewer] }],
          },
        },
      })
    ).data;
    expect(p1.etag).not.toBe(p0.etag);
    const gs = googleStorage(emu, await mintToken(emu, viewer));
    expect((await gs.objects.get({ bucket: BUCKET, object: 'hello', alt: 'media' })).data).toBe('hi');
    expect((await gs.objects.list({ bucket: 'identity-2' })).status).toBe(200);
    const stale = await failure(() => client.projects.setIamPolicy({ resource: PROJECT, requestBody: { policy: p0 } }));
    expect(stale.status).toBe(409);
    expect(stale.error.message).toMatch(/There were concurrent policy changes/);
    // Not the caller's to read.
    const asViewer = rm(await mintToken(emu, viewer));
    expect((await failure(() => asViewer.projects.getIamPolicy({ resource: PROJECT, requestBody: {} }))).status).toBe(
      403,
    );
  });
});

describe('propagation delay', () => {
  it('a new grant takes effect only after iamPropagationDelayMs', async () => {
    const late = 'user:late@example.com';
    const gs = googleStorage(emu, await mintToken(emu, late));
    await setConfig(emu, { iamPropagationDelayMs: 3_600_000 });
    try {
      const p = (await admin.buckets.getIamPolicy({ bucket: BUCKET })).data;
      await admin.buckets.setIamPolicy({
        bucket: BUCKET,
        requestBody: {
          ...p,
          bindings: [...(p.bindings ?? []), { role: 'roles/storage.objectViewer', members: [late] }],
        },
      });
      expect((await failure(() => gs.objects.get({ bucket: BUCKET, object: 'hello', alt: 'media' }))).status).toBe(403);
    } finally {
      await setConfig(emu, { iamPropagationDelayMs: 0 });
    }
    // With the delay gone the same grant, unchanged, is in effect.
    expect((await gs.objects.get({ bucket: BUCKET, object: 'hello', alt: 'media' })).data).toBe('hi');
  });
});

describe('a token minted for A never acts as B', () => {
  it('holds for random Workload Identity principals through the real client', async () => {
    await admin.managedFolders.insert({ bucket: 'identity-2', requestBody: { name: 'prop/' } });
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
    let i = 0;
    await fc.assert(
      fc.asyncProperty(fc.tuple(name, name), fc.tuple(name, name), async ([nsA, saA], [nsB, saB]) => {
        fc.pre(nsA !== nsB || saA !== saB);
        const a = ksa(nsA, saA);
        const b = ksa(nsB, saB);
        const folder = `prop/${++i}/`;
        await admin.managedFolders.insert({ bucket: 'identity-2', requestBody: { name: folder } });
        await admin.managedFolders.setIamPolicy({
          bucket: 'identity-2',
          managedFolder: folder,
          requestBody: { bindings: [{ role: 'roles/storage.objectUser', members: [b] }] },
        });
        const asA = googleStorage(emu, await mintToken(emu, a));
        const asB = googleStorage(emu, await mintToken(emu, b));
        const write = (gs: storage_v1.Storage) =>
          gs.objects.insert(
            { bucket: 'identity-2', name: `${folder}f`, media: { body: 'x' } },
            { rootUrl: rootUrl(emu) },
          );
        expect((await failure(() => write(asA))).status).toBe(403);
        expect((await failure(() => asA.objects.list({ bucket: 'identity-2', prefix: folder }))).status).toBe(403);
        expect((await write(asB)).status).toBe(200);
      }),
      { numRuns: 25 },
    );
  });
});
