// `tidemark controller` and `tidemark gc` must not load @kubernetes/client-node (importing it costs ~70 MB of RSS:
// its KubeConfig pulls the whole generated API). Each command runs as a process with a module resolve hook that
// reports every resolution of the package; the kubeconfig path does not exist, so the command stops right after
// it loaded all its modules (they are loaded before the kubeconfig is read).
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliBin, ensureCliBuilt, repoRoot } from '../../harness/cli.js';

const MARK = 'RESOLVED @kubernetes/client-node';
const dir = mkdtempSync(join(tmpdir(), 'runtime-imports-'));
const hook = join(dir, 'hook.mjs');
writeFileSync(
  hook,
  `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.includes('/node_modules/@kubernetes/client-node/')) process.stderr.write('${MARK} from ' + context.parentURL + '\\\\n');
  return r;
}\`));
`,
);

async function node(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, ['--import', hook, ...args], {
      cwd: repoRoot,
      timeout: 60_000,
      env: { PATH: process.env.PATH ?? '', HOME: dir },
    });
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

beforeAll(ensureCliBuilt, 300_000);

describe('processes that never load @kubernetes/client-node', { timeout: 120_000 }, () => {
  it.each([
    ['controller', ['controller', '--webhook-addr', 'off', '--kubeconfig', join(dir, 'missing')]],
    ['gc', ['gc', '--policy', 'p', '--kubeconfig', join(dir, 'missing')]],
  ])('tidemark %s', async (_name, args) => {
    const r = await node([cliBin, ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`kubeconfig ${join(dir, 'missing')} does not exist`);
    expect(r.stderr).not.toContain(MARK);
  });

  it('(the hook sees the package when a module loads it)', async () => {
    const r = await node(['-e', `import(${JSON.stringify(join(repoRoot, 'dist', 'kube', 'client.js'))})`]);
    expect(r.stderr).toContain(MARK);
  });
});
