// `npm start` as a user runs it: the compiled playground in the foreground, a second shell using its env file.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../../src/localcluster/paths.js';
import { isPortFree } from '../../src/localcluster/ports.js';
import { parseEnvFile } from '../../src/playground/envfile.js';
import { run, waitFor } from '../harness/kube.js';

const root = repoRoot();
let stateDir: string;
let playground: ChildProcess;
let output = '';
let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

function startPlayground(): ChildProcess {
  return spawn(process.execPath, [join(root, 'dist', 'playground', 'main.js')], {
    cwd: root,
    // A private state dir, so the test neither collides with a developer's own `npm start` nor with CI.
    env: { ...process.env, TIDEMARK_PLAYGROUND_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
}

/** Direct children of pid, and theirs, from /proc. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

beforeAll(async () => {
  // What `npm start` does first. It compiles all of src/, so a type error anywhere breaks `npm start` too.
  const build = await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root });
  expect(build.code, `npm run build failed:\n${build.stdout}${build.stderr}`).toBe(0);
  stateDir = await mkdtemp(join(tmpdir(), 'tidemark-playground-test-'));
  await rm(stateDir, { recursive: true }); // the playground creates it
  playground = startPlayground();
  playground.stdout?.on('data', (d: Buffer) => {
    output += d.toString('utf8');
  });
  playground.stderr?.on('data', (d: Buffer) => {
    output += d.toString('utf8');
  });
  exit = new Promise((resolve) => playground.on('exit', (code, signal) => resolve({ code, signal })));
}, 180_000);

afterAll(async () => {
  // Only if a test failed half-way: never leave the playground running.
  if (playground?.pid && playground.exitCode === null && playground.signalCode === null) {
    process.kill(-playground.pid, 'SIGKILL');
  }
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('playground (npm start)', () => {
  const envFile = () => join(stateDir, 'env');
  let children: number[] = [];
  let ports: number[] = [];

  it('comes up and writes the env file last', async () => {
    await waitFor(
      'the playground env file',
      () => {
        if (playground.exitCode !== null) throw new Error(`playground exited early:\n${output}`);
        return existsSync(envFile());
      },
      { timeoutMs: 900_000, intervalMs: 200 },
    );
    const vars = parseEnvFile(await readFile(envFile(), 'utf8'));
    expect(vars.get('TIDEMARK_PLAYGROUND_PID')).toBe(String(playground.pid));
    const kubeconfig = vars.get('KUBECONFIG') ?? '';
    expect(kubeconfig.startsWith('/')).toBe(true);
    expect(existsSync(kubeconfig)).toBe(true);
    // The banner is printed just after the file is written; its pipe may deliver it a moment later.
    await waitFor('the banner after the env file', () => output.includes('Press Ctrl-C to stop'), {
      timeoutMs: 10_000,
    });
    expect(output).toContain(`  . ${envFile()}`);
    expect(output).toContain('kubectl get checkpointpolicies');

    children = descendants(playground.pid ?? -1);
    expect(children.length).toBeGreaterThanOrEqual(2); // etcd and kube-apiserver at least
    const cmdlines = children.map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' '));
    expect(cmdlines.some((c) => c.includes('kube-apiserver'))).toBe(true);
    expect(cmdlines.some((c) => c.includes('etcd'))).toBe(true);
    ports = [...new Set(cmdlines.flatMap((c) => [...c.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]))))];
    const server = /server: https:\/\/127\.0\.0\.1:(\d+)/.exec(readFileSync(kubeconfig, 'utf8'));
    ports.push(Number(server?.[1]));
    expect(ports.length).toBeGreaterThanOrEqual(3);
    for (const port of ports) expect(await isPortFree(port)).toBe(false);
  });

  it('serves `kubectl get checkpointpolicies` in a second shell that sources the env file', async () => {
    const { KUBECONFIG: _ignored, ...inherited } = process.env;
    const env = { ...inherited, KUBECTL: inject('kubectl') };
    const res = await run('sh', ['-c', '. "$1" && "$KUBECTL" get checkpointpolicies', 'sh', envFile()], { env });
    expect(res.code, res.stderr).toBe(0);
    expect(`${res.stdout}${res.stderr}`).toMatch(/No resources found|NAME/);
  });

  it('runs the README walk-through: a policy and a job get a Ready checkpoint the job principal can use', async () => {
    const { KUBECONFIG: _ignored, ...inherited } = process.env;
    const env = { ...inherited, KUBECTL: inject('kubectl'), ROOT: root };
    const sh = (script: string) =>
      run('sh', ['-c', `. "$ENVFILE" && ${script}`], { env: { ...env, ENVFILE: envFile() } });
    // The policy, then (once the controller has added the policy's webhook entries) the job and, at once, a driver
    // pod as the Spark Operator would create it: the webhook injects the location and holds the pod.
    const applied = await sh(
      '"$KUBECTL" apply -f "$ROOT/config/samples/policy-playground.yaml" && i=0; until "$KUBECTL" get mutatingwebhookconfiguration tidemark-mutating -o jsonpath="{.webhooks[*].name}" 2>/dev/null | grep -q playground.driver-pods || [ $i -ge 60 ]; do i=$((i+1)); sleep 0.5; done; "$KUBECTL" apply -f "$ROOT/config/samples/team-a.yaml" && "$KUBECTL" apply -f "$ROOT/config/samples/team-a-driver-pod.yaml" && "$KUBECTL" get pod -n team-a clickstream-driver -o jsonpath="{.spec.schedulingGates[*].name}"',
    );
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('tidemark.dev/checkpoint-ready');
    const ready = await sh(
      'i=0; until "$KUBECTL" get ckpt -n team-a clickstream >/dev/null 2>&1 || [ $i -ge 60 ]; do i=$((i+1)); sleep 0.5; done; "$KUBECTL" wait --for=condition=Ready checkpoint/clickstream -n team-a --timeout=60s >/dev/null && "$KUBECTL" get ckpt -n team-a clickstream -o jsonpath="{.spec.uri} {.spec.members[0]}"',
    );
    expect(ready.code, ready.stderr).toBe(0);
    const [uri, member] = ready.stdout.trim().split(' ');
    expect(uri).toBe('gs://playground-checkpoints/checkpoints/playground/team-a/clickstream/');
    const injected = await sh(
      '"$KUBECTL" get sparkapplication -n team-a clickstream -o jsonpath="{.spec.sparkConf.spark\\.sql\\.streaming\\.checkpointLocation}"',
    );
    expect(injected.stdout).toBe(uri);
    const released = await sh(
      'i=0; until [ -z "$("$KUBECTL" get pod -n team-a clickstream-driver -o jsonpath="{.spec.schedulingGates}")" ] || [ $i -ge 60 ]; do i=$((i+1)); sleep 0.5; done; "$KUBECTL" get pod -n team-a clickstream-driver -o jsonpath="{.spec.schedulingGates}"',
    );
    expect(released.code, released.stderr).toBe(0);
    expect(released.stdout).toBe('');
    expect(member).toMatch(
      /^principal:\/\/iam\.googleapis\.com\/projects\/123456789012\/.*\/subject\/ns\/team-a\/sa\/spark$/,
    );
    // Act as the job's principal with a token the emulator mints for exactly that member.
    const write = (object: string) =>
      sh(
        `TOKEN=$(curl -sf -X POST "$TIDEMARK_GCS_ENDPOINT/_emulator/tokens" -H "Authorization: Bearer $TIDEMARK_EMULATOR_ADMIN_TOKEN" -d '{"principal": "${member}"}' | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/') && curl -s -o /dev/null -w "%{http_code}" -X POST "$TIDEMARK_GCS_ENDPOINT/upload/storage/v1/b/playground-checkpoints/o?uploadType=media&name=${object}" -H "Authorization: Bearer $TOKEN" --data-binary x`,
      );
    expect((await write('checkpoints/playground/team-a/clickstream/q1/offsets/0')).stdout).toBe('200');
    expect((await write('checkpoints/playground/team-a/clickstreamx')).stdout).toBe('403');
    // The policy's printer columns tell the truth.
    const pol = await sh('"$KUBECTL" get checkpointpolicies playground --no-headers');
    expect(pol.stdout).toMatch(
      /^playground\s+playground-checkpoints\s+checkpoints\/playground\s+ManagedFolder\s+1\s+0\s+True/,
    );
  });

  it('refuses a second start with one clear line and a non-zero exit', async () => {
    const res = await run(process.execPath, [join(root, 'dist', 'playground', 'main.js')], {
      cwd: root,
      env: { ...process.env, TIDEMARK_PLAYGROUND_DIR: stateDir },
    });
    expect(res.code).not.toBe(0);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`already running \\(pid ${playground.pid}`));
    expect(existsSync(envFile())).toBe(true); // the running playground is untouched
  });

  it('stops on SIGINT: exit 0, env file and state gone, no process and no port left', async () => {
    expect(children.length).toBeGreaterThan(0);
    playground.kill('SIGINT');
    const result = await exit;
    expect(result, output).toEqual({ code: 0, signal: null });
    expect(existsSync(envFile())).toBe(false);
    expect(existsSync(stateDir)).toBe(false);
    for (const pid of children) expect(alive(pid), `process ${pid} still running`).toBe(false);
    for (const port of ports) expect(await isPortFree(port), `port ${port} still in use`).toBe(true);
  });
});
