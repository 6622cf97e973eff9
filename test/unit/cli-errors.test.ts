// First contact (issue 8 item 11, design §6): every `tidemark` command, run as a process, answers a bad argument
// with one clear line on stderr (never the command's whole help) and a non-zero exit. The commands are read from
// `tidemark --help`, so a command added later is covered without touching this file.
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, ensureCliBuilt, runCli } from '../harness/cli.js';

beforeAll(ensureCliBuilt, 300_000);

function expectOneLine(r: CliResult, ...words: string[]): void {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(lines[0]).toMatch(/^tidemark/);
  expect(lines[0]).not.toMatch(/Usage:|Options:/);
  for (const w of words) expect(lines[0]).toContain(w);
}

async function commands(): Promise<string[]> {
  const r = await runCli(['--help']);
  expect(r.code).toBe(0);
  const section = r.stdout.split(/^Commands:$/m)[1] ?? '';
  const names = [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1] as string).filter((n) => n !== 'help');
  expect(names).toContain('controller');
  expect(names).toContain('emulator');
  return names;
}

describe('bad arguments are one line', { timeout: 180_000 }, () => {
  it('every command: an unknown option names the option and where help is', async () => {
    for (const cmd of await commands()) {
      // A command's required options come first (commander reports a missing one before an unknown one).
      const required = cmd === 'gc' ? ['--policy', 'p'] : cmd === 'plan' ? ['-f', '-'] : [];
      expectOneLine(
        await runCli([cmd, ...required, '--no-such-flag']),
        "unknown option '--no-such-flag'",
        `tidemark ${cmd} --help`,
      );
    }
  });

  it('every command: --help still prints the help and exits 0', async () => {
    for (const cmd of await commands()) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: tidemark ${cmd}`);
    }
  });

  it('an unknown command', async () => {
    expectOneLine(await runCli(['nope']), "unknown command 'nope'");
  });

  it('a misspelt option keeps commander’s suggestion on the same line', async () => {
    expectOneLine(await runCli(['controller', '--concurency', '2']), '--concurrency');
  });

  it.each([
    [['--concurrency', '0'], 'at least 1'],
    [['--resync', '5ms'], 'at least 1s'],
    [['--resync', 'soon'], "'--resync <duration>'"],
    [['--health-addr', 'nowhere'], 'HOST:PORT'],
    [['--log-level', 'loud'], "'loud'"],
    [['--kubeconfig'], "'--kubeconfig <path>' argument missing"],
  ])('controller %j', async (args, words) => {
    expectOneLine(await runCli(['controller', ...args]), words, 'tidemark controller --help');
  });

  it('controller: a bad value from the environment is one line too', async () => {
    expectOneLine(await runCli(['controller'], { TIDEMARK_CONCURRENCY: 'many' }), 'at least 1');
  });

  it('controller: a kubeconfig that does not exist is one line (an error while starting, not an argument error)', async () => {
    expectOneLine(await runCli(['controller', '--kubeconfig', '/nonexistent/kubeconfig']), '/nonexistent/kubeconfig');
  });

  it.each([
    [['--port', 'abc'], "'--port <n>' argument 'abc' is invalid"],
    [['--log-level', 'loud'], "unknown level 'loud'"],
  ])('emulator %j', async (args, words) => {
    expectOneLine(await runCli(['emulator', ...args]), words);
  });
});
