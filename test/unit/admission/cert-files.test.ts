// cert-manager mode: the server's material comes from mounted files and follows them when cert-manager renews.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FileTlsSource } from '../../../src/admission/cert-files.js';
import { issueAll } from '../../../src/admission/certs.js';
import { silentLogger } from '../../../src/kube/log.js';

it('reads tls.crt, tls.key and ca.crt from a directory and reports a renewal', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tidemark-certs-'));
  try {
    const o = { dnsNames: ['tidemark-webhook.tidemark-system.svc'], ipAddresses: [] };
    const write = async (d: Awaited<ReturnType<typeof issueAll>>) => {
      await writeFile(join(dir, 'tls.crt'), d['tls.crt']);
      await writeFile(join(dir, 'tls.key'), d['tls.key']);
      await writeFile(join(dir, 'ca.crt'), d['ca.crt']);
    };
    const first = await issueAll(o);
    await write(first);
    const source = await FileTlsSource.start(dir, silentLogger(), 3_600_000);
    expect(source.current()).toEqual({ cert: first['tls.crt'], key: first['tls.key'], caBundle: first['ca.crt'] });
    const seen: string[] = [];
    source.onChange((m) => seen.push(m.cert));
    await source.reload();
    expect(seen).toEqual([]);
    const second = await issueAll(o);
    await write(second);
    await source.reload();
    expect(seen).toEqual([second['tls.crt']]);
    source.stop();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
