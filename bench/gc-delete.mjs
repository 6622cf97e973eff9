// Benchmark: one GC deletion of N objects under one job prefix against the emulator running as its own process,
// as the controller's service account. Prints GCS calls (HTTP requests) per 100 objects and this process's peak RSS.
//   npm run build && node bench/gc-delete.mjs [N=100000] [latencyMs=0]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { deletePrefix } from '../dist/gc/deleter.js';
import { scanRoot } from '../dist/gc/scan.js';
import { createGcs } from '../dist/gcs/client.js';
import { prepareGcs } from '../dist/playground/gcs-setup.js';

if (process.argv[2] === '--gc-only') {
  // Child: the GC alone, so that its peak RSS is the GC's and not the uploader's.
  const [, , , url, token, n] = process.argv;
  const gcs = createGcs({ endpoint: url, accessToken: token });
  const baseRssMB = Math.round(process.memoryUsage().rss / 1e6);
  const t1 = Date.now();
  const usage = await scanRoot(gcs, 'bench-bucket', 'root');
  const t2 = Date.now();
  const res = await deletePrefix({
    gcs,
    bucket: 'bench-bucket',
    root: 'root',
    prefix: 'root/ns/job/',
    deleteManagedFolder: true,
  });
  const t3 = Date.now();
  console.log(
    JSON.stringify({
      scanned: usage.prefixes.get('root/ns/job/')?.objects,
      scanCalls: usage.calls,
      deleted: res.objectsDeleted,
      scanSeconds: (t2 - t1) / 1000,
      deleteSeconds: (t3 - t2) / 1000,
      objectsPerSecond: Math.round(Number(n) / ((t3 - t2) / 1000)),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
  process.exit(0);
}
const N = Number(process.argv[2] ?? 100_000);
const latencyMs = Number(process.argv[3] ?? 0);
const ADMIN = 'bench-admin';
const emu = spawn(
  process.execPath,
  ['dist/cli/main.js', 'emulator', '--port', '0', '--admin-token', ADMIN, '--project', 'tidemark-bench'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const [line] = await once(emu.stdout, 'data');
const url = /http:\/\/[0-9.:]+/.exec(String(line))?.[0];
if (!url) throw new Error(`no emulator URL in ${line}`);
const admin = (path, init = {}) =>
  fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...(init.headers ?? {}) } });

try {
  const g = await prepareGcs(url, ADMIN, {
    project: 'tidemark-bench',
    projectNumber: '123456789012',
    bucket: 'bench-bucket',
  });
  const tok = await (
    await admin('/_emulator/tokens', {
      method: 'POST',
      body: JSON.stringify({ principal: `serviceAccount:${g.controllerServiceAccount}` }),
    })
  ).json();
  const prefix = 'root/ns/job/';
  let next = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < N) {
        const i = next++;
        const name = encodeURIComponent(`${prefix}q/state/${i}.delta`);
        const r = await admin(`/upload/storage/v1/b/bench-bucket/o?uploadType=media&name=${name}`, {
          method: 'POST',
          body: 'x'.repeat(100),
        });
        if (!r.ok) throw new Error(`upload ${r.status}`);
      }
    }),
  );
  console.log(`wrote ${N} objects in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await admin('/_emulator/config', { method: 'PUT', body: JSON.stringify({ latencyMs }) });
  await admin('/_emulator/reset-counters', { method: 'POST' }).catch(() => undefined);
  const before = await (await admin('/_emulator/counters')).json();
  const child = spawn(process.execPath, [process.argv[1], '--gc-only', url, tok.access_token, String(N)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  await once(child, 'exit');
  const gc = JSON.parse(out);
  const after = await (await admin('/_emulator/counters')).json();
  const http = after.httpRequests - before.httpRequests;
  const by = (op) => (after.byOp[op] ?? 0) - (before.byOp[op] ?? 0);
  console.log(
    JSON.stringify({
      objects: N,
      latencyMs,
      ...gc,
      httpRequests: http,
      callsPer100Objects: +(http / (N / 100)).toFixed(3),
      deleteOnlyCallsPer100: +((http - gc.scanCalls) / (N / 100)).toFixed(3),
      listCalls: by('storage.objects.list'),
      batchParts: by('storage.objects.delete'),
    }),
  );
} finally {
  emu.kill('SIGTERM');
}
