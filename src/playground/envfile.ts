import { rename, rm, writeFile } from 'node:fs/promises';

/** A value quoted for sh: single quotes, with embedded single quotes closed, escaped and reopened. */
export function shQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The playground's env file: one `export NAME='value'` line per variable, in the given order, so that
 * `. .tidemark/playground/env` in sh/bash/zsh makes every variable visible to the commands run afterwards.
 */
export function renderEnvFile(vars: ReadonlyArray<readonly [string, string]>): string {
  const seen = new Set<string>();
  const lines = ['# Written by `npm start` (the Tidemark playground); removed when it stops.'];
  for (const [name, value] of vars) {
    if (!NAME.test(name)) throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
    if (seen.has(name)) throw new Error(`environment variable ${name} is contributed twice`);
    if (value.includes('\n') || value.includes('\0')) throw new Error(`value of ${name} spans lines`);
    seen.add(name);
    lines.push(`export ${name}=${shQuote(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Parses what renderEnvFile wrote (for tools and tests that read the file instead of sourcing it). */
export function parseEnvFile(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match?.[1] || match[2] === undefined) throw new Error(`cannot parse env file line: ${line}`);
    vars.set(match[1], unquote(match[2]));
  }
  return vars;
}

function unquote(raw: string): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    if (raw[i] === "'") {
      const end = raw.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in ${raw}`);
      out += raw.slice(i + 1, end);
      i = end + 1;
    } else if (raw[i] === '\\' && i + 1 < raw.length) {
      out += raw[i + 1];
      i += 2;
    } else {
      out += raw[i];
      i++;
    }
  }
  return out;
}

/** Writes the file atomically: a temp file in the same directory, then rename over the target. */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
