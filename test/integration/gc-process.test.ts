// GC as processes: `tidemark gc` from a second shell (the compiled CLI, the controller's identity), its refusal while
// another holder runs GC for the policy, and `kill -9` of the controller in the middle of a run: the next replica
// resumes and finishes, and no Checkpoint is left Deleting.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/api/index.js';
import { acquireGcLease } from '../../src/gc/lease.js';
import { KubeRest } from '../../src/kube/rest.js';
import { repoRoot } from '../../src/localcluster/paths.js';
import { setConfig } from '../emulator/clients.js';
import { run, testKubeConfig, testKubeconfigPath, uniqueSuffix, waitFor } from '../harness/kube.js';
import {
  apply,
  deleteObject,
  type Fixture,
  getCheckpoint,
  isReady,
  setupFixture,
  sparkApp,
  waitForCheckpoint,
} from './controller-fixture.js';
import { countObjects, gcScenario, lastWrite, writeObjects } from './gc-support.js';

const kc = testKubeConfig();
let fx: Fixture;
const cleanups: (() => Promise<void>)[] = [];
const children: ChildProcess[] = [];
const cli = () => join(repoRoot(), 'dist', 'cli', 'main.js');

beforeAll(async () => {
  const build = await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repoRoot() });
  expect(build.code, `build failed:\n${build.stdout}${build.stderr}`).toBe(0);
  fx = await setupFixture(kc, `gcp-${uniqueSuffix()}`);
}, 300_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await fx?.cleanup();
});

function env(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    KUBECONFIG: testKubeconfigPath(),
    TIDEMARK_GCS_ENDPOINT: fx.emu.url,
    TIDEMARK_GCS_ACCESS_TOKEN: fx.controllerToken,
  };
}

function startControllerProcess(leaseName: string): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      cli(),
      'controller',
      '--health-addr',
      '127.0.0.1:0',
      '--webhook-addr',
      'off',
      '--lease-namespace',
      'default',
      '--lease-name',
      leaseName,
    ],
    { env: { ...env(), LOG_LEVEL: process.env.TIDEMARK_TEST_LOG ?? 'warn' }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  children.push(child);
  return child;
}

const scenario = (o: Parameters<typeof gcScenario>[3] = {}) => gcScenario(kc, fx, cleanups, o);

const released = (cp: Checkpoint) => cp.status?.phase === 'Released';

describe('tidemark gc as a process', () => {
  it('runs a dry run and a real run as the controller identity, and refuses in one line while another holds the lease', async () => {
    const controller = startControllerProcess(`tidemark-${uniqueSuffix()}`);
    cleanups.push(async () => void controller.kill('SIGTERM'));
    const s = await scenario({ retention: '2s' });
    await apply(kc, sparkApp(s.ns, 'job'));
    await waitForCheckpoint(kc, s.ns, 'job', isReady, 'Ready');
    await writeObjects(fx, s.prefix('job'), 250);
    await deleteObject(kc, sparkApp(s.ns, 'job'));
    const cp = await waitForCheckpoint(kc, s.ns, 'job', released, 'Released');
    // Wait (not assert) until the retention has passed on the real clock.
    const staleAt = Math.max(Date.parse(cp.status?.releasedAt as string), await lastWrite(fx, s.prefix('job'))) + 2000;
    await new Promise((r) => setTimeout(r, Math.max(0, staleAt - Date.now() + 1100)));

    const dry = await run(process.execPath, [cli(), 'gc', '--policy', s.policyName, '--dry-run'], { env: env() });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('dry run: would delete 1 prefix(es), 250 object(s)');
    expect(await countObjects(fx, s.prefix('job'))).toBe(250);

    // Another holder: the CLI refuses with one line and exit 1, and deletes nothing.
    const other = await acquireGcLease({
      rest: new KubeRest(kc),
      namespace: 'default',
      policy: s.policyName,
      identity: 'someone-else',
    });
    expect(other.ok).toBe(true);
    try {
      const refused = await run(process.execPath, [cli(), 'gc', '--policy', s.policyName], { env: env() });
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toContain(`garbage collection of policy ${s.policyName} is already running`);
      expect(refused.stderr).toContain('someone-else');
      expect(await countObjects(fx, s.prefix('job'))).toBe(250);
    } finally {
      if (other.ok) await other.lease.release();
    }

    const real = await run(process.execPath, [cli(), 'gc', '--policy', s.policyName], { env: env() });
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toContain('deleted 1 checkpoint(s), 250 object(s)');
    expect(await countObjects(fx, s.prefix('job'))).toBe(0);
    expect(await getCheckpoint(kc, s.ns, 'job')).toBeUndefined();
  }, 120_000);

  it('kill -9 of the controller in the middle of a run: the next replica resumes and finishes', async () => {
    const leaseName = `tidemark-${uniqueSuffix()}`;
    const first = startControllerProcess(leaseName);
    const s = await scenario({ retention: '2s', schedule: '* * * * *' });
    await apply(kc, sparkApp(s.ns, 'big'));
    await waitForCheckpoint(kc, s.ns, 'big', isReady, 'Ready');
    await writeObjects(fx, s.prefix('big'), 5000);
    await deleteObject(kc, sparkApp(s.ns, 'big'));
    await waitForCheckpoint(kc, s.ns, 'big', released, 'Released');
    // Slow calls so that the run is surely in progress when it is killed.
    await setConfig(fx.emu, { latencyMs: 300 });
    try {
      // The scheduled run (at the next minute) fences it and records progress; then the process dies.
      await waitForCheckpoint(
        kc,
        s.ns,
        'big',
        (c) => c.status?.phase === 'Deleting' && (c.status.deletion?.objectsDeleted ?? 0) > 0,
        'Deleting with progress',
        120_000,
      );
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      const left = await countObjects(fx, s.prefix('big'));
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThan(5000);
      expect((await getCheckpoint(kc, s.ns, 'big'))?.status?.phase).toBe('Deleting');

      const second = startControllerProcess(leaseName);
      cleanups.push(async () => void second.kill('SIGTERM'));
      await waitFor('the record dropped', async () => ((await getCheckpoint(kc, s.ns, 'big')) ? undefined : true), {
        timeoutMs: 150_000,
      });
      expect(await countObjects(fx, s.prefix('big'))).toBe(0);
    } finally {
      await setConfig(fx.emu, { latencyMs: 0 });
    }
  }, 300_000);
});
