// The Dockerfile without a Docker engine: it parses (known instructions, continuations, JSON exec forms), every file
// it copies from the build context exists and is not excluded by .dockerignore, every `--from` names an earlier
// stage, the image runs as a non-root uid with production dependencies only, and the code it keeps never loads the
// emulator, the local cluster or the playground (their dist/ folders are removed in the image).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const INSTRUCTIONS = new Set([
  'FROM',
  'RUN',
  'CMD',
  'LABEL',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'ENTRYPOINT',
  'VOLUME',
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
]);

interface Instruction {
  line: number;
  keyword: string;
  args: string;
}

/** Dockerfile instructions: comments and blank lines dropped, backslash continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { line: number; text: string } | undefined;
  text.split('\n').forEach((raw, i) => {
    if (pending === undefined && (/^\s*#/.test(raw) || raw.trim() === '')) return;
    if (pending !== undefined && /^\s*#/.test(raw)) return;
    const continued = /\\\s*$/.test(raw);
    const body = raw.replace(/\\\s*$/, '');
    pending = pending
      ? { line: pending.line, text: `${pending.text} ${body.trim()}` }
      : { line: i + 1, text: body.trim() };
    if (continued) return;
    const m = /^(\S+)\s+(.*)$/.exec(pending.text);
    if (!m) throw new Error(`line ${pending.line}: not an instruction: ${pending.text}`);
    out.push({ line: pending.line, keyword: (m[1] as string).toUpperCase(), args: m[2] as string });
    pending = undefined;
  });
  if (pending) throw new Error('the Dockerfile ends inside a continued line');
  return out;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('parses: known instructions only, JSON exec forms are JSON arrays', () => {
    expect(dockerfile.length).toBeGreaterThan(5);
    for (const i of dockerfile) {
      expect(INSTRUCTIONS.has(i.keyword), `line ${i.line}: ${i.keyword}`).toBe(true);
      if ((i.keyword === 'ENTRYPOINT' || i.keyword === 'CMD') && i.args.startsWith('[')) {
        expect(Array.isArray(JSON.parse(i.args)), `line ${i.line}`).toBe(true);
      }
    }
    expect(dockerfile[0]?.keyword).toBe('FROM');
  });

  it('every file copied from the build context exists and is not excluded by .dockerignore', () => {
    const copies = dockerfile.filter(
      (i) => (i.keyword === 'COPY' || i.keyword === 'ADD') && !i.args.includes('--from'),
    );
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, src)), `line ${c.line}: ${src}`).toBe(true);
        const top = normalize(src).split('/')[0];
        expect(ignored, `line ${c.line}: ${src} is excluded by .dockerignore`).not.toContain(top);
      }
    }
  });

  it('every COPY --from names an earlier stage', () => {
    const stages: string[] = [];
    for (const i of dockerfile) {
      if (i.keyword === 'FROM') {
        const m = /\bAS\s+(\S+)/i.exec(i.args);
        if (m) stages.push(m[1] as string);
      }
      const from = /--from=(\S+)/.exec(i.args)?.[1];
      if (i.keyword === 'COPY' && from) expect(stages, `line ${i.line}`).toContain(from);
    }
  });

  it('the final image: a slim base, non-root uid, production dependencies only, no emulator/local cluster', () => {
    const froms = dockerfile.filter((i) => i.keyword === 'FROM');
    const final = dockerfile.slice(dockerfile.lastIndexOf(froms[froms.length - 1] as Instruction));
    expect(froms[froms.length - 1]?.args).toMatch(/^node:20-[a-z]+-slim$/);
    const user = final.filter((i) => i.keyword === 'USER').pop()?.args ?? '';
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    const runs = dockerfile.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.join('\n')).toContain('npm prune --omit=dev');
    expect(runs.join('\n')).toMatch(/rm -rf dist\/emulator dist\/localcluster dist\/playground/);
    for (const c of final.filter((i) => i.keyword === 'COPY')) expect(c.args).not.toMatch(/\b(src|test)\b/);
  });

  it('the entry point never statically loads a module the image leaves out', () => {
    const left = ['emulator', 'localcluster', 'playground'];
    const seen = new Set<string>();
    const queue = [join(ROOT, 'src', 'cli', 'main.ts')];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      const rel = relative(join(ROOT, 'src'), file);
      expect(
        left.some((l) => rel.startsWith(`${l}/`)),
        `${rel} is loaded at start-up`,
      ).toBe(false);
      const text = readFileSync(file, 'utf8');
      // Static imports only (`import type` is erased; `await import()` loads on use).
      for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?'(\.[^']+)'/gm)) {
        queue.push(join(dirname(file), (m[1] as string).replace(/\.js$/, '.ts')));
      }
    }
    expect(seen.size).toBeGreaterThan(10);
  });
});
