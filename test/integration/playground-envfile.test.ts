// The playground's env file must mean the same to sh as to parseEnvFile, whatever the values hold.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvFile, renderEnvFile, writeFileAtomic } from '../../src/playground/envfile.js';
import { run } from '../harness/kube.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tidemark-envfile-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tricky: [string, string][] = [
  ['KUBECONFIG', '/tmp/a dir/kubeconfig'],
  ['QUOTES', `it's "quoted" 'twice''`],
  ['SHELLY', '$HOME `id` $(id) \\ ; & | * ~'],
  ['EMPTY', ''],
  ['URL', 'http://127.0.0.1:4443/storage/v1?x=1&y=2'],
];

describe('playground env file', () => {
  it('gives sh exactly the values written, exported to child processes', async () => {
    const file = join(dir, 'env');
    await writeFile(file, renderEnvFile(tricky));
    const script = `. "$1" && node -e 'console.log(JSON.stringify(process.argv.slice(1).map((n) => process.env[n])))' ${tricky
      .map(([n]) => n)
      .join(' ')}`;
    const res = await run('sh', ['-c', script, 'sh', file]);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(tricky.map(([, v]) => v));
  });

  it('parses back to the same variables in the same order', () => {
    expect([...parseEnvFile(renderEnvFile(tricky))]).toEqual(tricky);
  });

  it.each([
    [[['1BAD', 'x']], /invalid environment variable name/],
    [[['A-B', 'x']], /invalid environment variable name/],
    [[['MULTI', 'a\nb']], /spans lines/],
    [
      [
        ['TWICE', 'a'],
        ['TWICE', 'b'],
      ],
      /contributed twice/,
    ],
  ] as [[string, string][], RegExp][])('refuses %j', (vars, message) => {
    expect(() => renderEnvFile(vars)).toThrow(message);
  });

  it('replaces the file atomically and leaves no temporary file behind', async () => {
    const file = join(dir, 'atomic');
    await writeFileAtomic(file, 'one\n');
    await writeFileAtomic(file, 'two\n');
    expect(await readFile(file, 'utf8')).toBe('two\n');
    expect((await readdir(dir)).filter((f) => f.startsWith('atomic'))).toEqual(['atomic']);
  });
});
