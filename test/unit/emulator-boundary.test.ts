// The emulator is a separate part: nothing under src/ outside src/emulator/, src/cli/ and src/playground/ may
// import it (issue 4). This scans every source file's import specifiers.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const src = join(root, 'src');
const emulatorDir = join(src, 'emulator');
const ALLOWED = ['emulator', 'cli', 'playground'].map((d) => join(src, d) + sep);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(c|m)?[jt]sx?$/.test(e.name) ? [p] : [];
  });
}

/** Module specifiers in static imports/exports, dynamic import() and require(). */
function specifiers(code: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
    /\brequire\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1] as string);
  return out;
}

/** The specifiers of `file` that reach into src/emulator/. */
function emulatorImports(file: string, code: string): string[] {
  return specifiers(code).filter((s) => {
    if (s.startsWith('.')) {
      const target = resolve(dirname(file), s);
      return target === emulatorDir || target.startsWith(emulatorDir + sep);
    }
    // Absolute or package-style paths into the emulator (e.g. via a path alias).
    return /(^|\/)src\/emulator(\/|$)/.test(s);
  });
}

describe('emulator boundary', () => {
  it('detects imports into src/emulator in every form (so the check below can fail)', () => {
    const file = join(src, 'gc', 'deleter.ts');
    const code = [
      "import { startEmulator } from '../emulator/index.js';",
      "import type { Route } from '../emulator/contract.js';",
      "export { HttpError } from '../emulator/contract.js';",
      "const m = await import('../emulator/index.js');",
      "import '../emulator';",
      "import { x } from '../../src/emulator/store.js';",
      "import { ok } from '../kube/client.js';",
      "import { Storage } from '@google-cloud/storage';",
    ].join('\n');
    expect(emulatorImports(file, code)).toEqual([
      '../emulator/index.js',
      '../emulator/contract.js',
      '../emulator/contract.js',
      '../emulator',
      '../../src/emulator/store.js',
      '../emulator/index.js',
    ]);
    expect(emulatorImports(file, "import { a } from '../emulatorish/x.js';")).toEqual([]);
  });

  it('no file under src/ outside emulator/, cli/ and playground/ imports the emulator', () => {
    const offenders = sourceFiles(src)
      .filter((f) => !ALLOWED.some((a) => f.startsWith(a)))
      .flatMap((f) => emulatorImports(f, readFileSync(f, 'utf8')).map((s) => `${relative(root, f)} imports ${s}`));
    expect(offenders).toEqual([]);
  });
});
