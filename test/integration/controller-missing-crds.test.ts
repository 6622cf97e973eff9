// First contact (issue 8 item 11): `tidemark controller` as a process on a real API server that has Tidemark's
// CRDs but not the Spark Operator's says which CRDs are missing in its log and in /readyz, instead of backing off
// silently; installing them makes it ready. Its own local cluster (the shared test cluster has every CRD).
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBinaries } from '../../src/localcluster/binaries.js';
import { type LocalCluster, startLocalCluster } from '../../src/localcluster/cluster.js';
import { projectCrdFiles } from '../../src/localcluster/crd-files.js';
import { cliBin, ensureCliBuilt } from '../harness/cli.js';
import { kubectl, waitFor } from '../harness/kube.js';

let cluster: LocalCluster;
let child: ChildProcessWithoutNullStreams | undefined;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  await ensureCliBuilt();
  cluster = await startLocalCluster({
    crdFiles: projectCrdFiles().tidemark,
    log: () => {},
    binaries: await ensureBinaries({ log: () => {} }),
  });
}, 300_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await cluster?.stop();
});

describe('a cluster without the Spark Operator CRDs', () => {
  it('the controller names the missing CRDs in its log and /readyz, and becomes ready once they are installed', async () => {
    child = spawn(
      process.execPath,
      [
        cliBin,
        'controller',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--health-addr',
        '127.0.0.1:0',
        '--webhook-addr',
        'off',
        '--no-leader-elect',
      ],
      { env: { ...process.env, TIDEMARK_GCS_ENDPOINT: 'http://127.0.0.1:9', TIDEMARK_GCS_ACCESS_TOKEN: 'unused' } },
    );
    createInterface({ input: child.stdout }).on('line', (l) => {
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        lines.push({ msg: l });
      }
    });
    const missingLine = await waitFor('a log line naming the missing CRDs', async () =>
      lines.find((l) => Array.isArray(l.missingCrds)),
    );
    expect(missingLine.level).toBe('error');
    expect(String(missingLine.msg)).toContain('sparkapplications.sparkoperator.k8s.io');
    expect(String(missingLine.msg)).toContain('scheduledsparkapplications.sparkoperator.k8s.io');

    const url = (lines.find((l) => typeof l.url === 'string')?.url as string) ?? '';
    const readyz = await fetch(`${url}/readyz?verbose`);
    expect(readyz.status).toBe(500);
    const body = await readyz.text();
    expect(body).toMatch(/\[-\]crds failed: .*sparkapplications\.sparkoperator\.k8s\.io/);

    const spark = projectCrdFiles().spark;
    const r = await kubectl([
      '--kubeconfig',
      cluster.kubeconfigPath,
      'apply',
      '--server-side',
      ...spark.flatMap((f) => ['-f', f]),
    ]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor(
      'the crds check passes',
      async () => {
        const text = await (await fetch(`${url}/readyz?verbose`)).text();
        return text.includes('[+]crds ok') ? text : undefined;
      },
      { timeoutMs: 60_000 },
    );
    await waitFor('the log says so', async () =>
      lines.find((l) => String(l.msg).includes('every required CustomResourceDefinition is installed now')),
    );
  }, 120_000);
});
