// Reading `tidemark plan`'s inputs: files, directories (recursively: *.yaml, *.yml, *.json), and stdin ("-"), each
// holding one or more YAML documents; `List` documents are flattened. Every way the input can be unusable is a
// PlanInputError whose message is one line naming the file (and document), never a stack trace.
import { readdirSync, readFileSync, realpathSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** The largest input read (per file, and stdin): a manifest set bigger than this is not a CI input but a mistake. */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024;

const MANIFEST = /\.(ya?ml|json)$/i;

export class PlanInputError extends Error {}

/** One document of the input, with where it came from ("file.yaml", "file.yaml#2", "<stdin>#1", "file#3.items[0]"). */
export interface InputDocument {
  source: string;
  value: unknown;
}

export interface ReadOptions {
  /** What stdin held (read with readStdin), for "-". */
  stdin?: Buffer;
  maxBytes?: number;
}

/** Every document of every path, in order (a directory's files sorted by name). */
export function readInputs(paths: readonly string[], options: ReadOptions = {}): InputDocument[] {
  const max = options.maxBytes ?? MAX_INPUT_BYTES;
  const docs: InputDocument[] = [];
  let stdinRead = false;
  for (const path of paths) {
    if (path === '-') {
      if (stdinRead) throw new PlanInputError('-f - (stdin) given more than once');
      stdinRead = true;
      if (!options.stdin) throw new PlanInputError('-f -: stdin was not read');
      docs.push(...parseText('<stdin>', checkSize('<stdin>', options.stdin, max)));
      continue;
    }
    for (const file of expand(path)) docs.push(...parseText(file, checkSize(file, readFile(file, max), max)));
  }
  return docs;
}

function checkSize(name: string, data: Buffer, max: number): string {
  if (data.length > max) {
    throw new PlanInputError(`${name}: larger than ${max / 1024 / 1024} MiB; plan reads manifests, not data`);
  }
  if (data.includes(0)) throw new PlanInputError(`${name}: not a text file (contains NUL bytes)`);
  return data.toString('utf8');
}

function readFile(file: string, max: number): Buffer {
  const size = statOf(file).size;
  // Refuse before reading a huge file into memory.
  if (size > max)
    throw new PlanInputError(`${file}: larger than ${max / 1024 / 1024} MiB; plan reads manifests, not data`);
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PlanInputError(`${file}: cannot read: ${errnoText(err)}`);
  }
}

function statOf(path: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    throw new PlanInputError(`${path}: ${errnoText(err)}`);
  }
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
      return 'permission denied';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'EISDIR':
      return 'is a directory';
    default:
      return e.code ?? (err instanceof Error ? err.message : String(err));
  }
}

/** A path's manifest files: itself, or a directory's *.yaml/*.yml/*.json files, recursively, sorted. */
function expand(path: string): string[] {
  const st = statOf(path);
  if (!st.isDirectory()) {
    if (!st.isFile()) throw new PlanInputError(`${path}: not a regular file or directory`);
    return [path];
  }
  const out: string[] = [];
  walk(path, new Map(), out);
  if (out.length === 0) throw new PlanInputError(`${path}: no *.yaml, *.yml or *.json files in this directory`);
  return out;
}

/** `ancestors`: the real path of every directory on the way down, to catch a symbolic link back to an ancestor. */
function walk(dir: string, ancestors: Map<string, string>, out: string[]): void {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    throw new PlanInputError(`${dir}: ${errnoText(err)}`);
  }
  const first = ancestors.get(real);
  if (first !== undefined) throw new PlanInputError(`${dir}: directory loop (it is ${first} again)`);
  const below = new Map(ancestors).set(real, dir);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    throw new PlanInputError(`${dir}: cannot list: ${errnoText(err)}`);
  }
  for (const name of names) {
    if (name.startsWith('.')) continue; // .git and friends
    const path = join(dir, name);
    const st = statOf(path);
    if (st.isDirectory()) walk(path, below, out);
    else if (st.isFile() && MANIFEST.test(name)) out.push(path);
  }
}

/** The documents of one file: YAML (JSON is YAML), empty documents skipped, Lists flattened. */
export function parseText(name: string, text: string): InputDocument[] {
  const out: InputDocument[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) {
    // The yaml library returns an EmptyStream for text with no documents.
    return out;
  }
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `${name}#${i + 1}` : name;
    const error = doc.errors[0];
    if (error) {
      const line = error.linePos?.[0]?.line;
      throw new PlanInputError(`${where}: not valid YAML${line ? ` (line ${line})` : ''}: ${firstLine(error.message)}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      throw new PlanInputError(
        `${where}: not valid YAML: ${firstLine(err instanceof Error ? err.message : String(err))}`,
      );
    }
    if (value === null || value === undefined) return;
    flatten(where, value, out);
  });
  return out;
}

function flatten(where: string, value: unknown, out: InputDocument[]): void {
  if (isRecord(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && 'items' in value) {
    if (!Array.isArray(value.items)) throw new PlanInputError(`${where}: ${value.kind}.items is not a list`);
    value.items.forEach((item, j) => {
      flatten(`${where}.items[${j}]`, item, out);
    });
    return;
  }
  out.push({ source: where, value });
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? '').trim();
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a stream (stdin) up to one byte more than `max`, so that an endless or huge input is cut short. */
export async function readStdin(stream: NodeJS.ReadableStream, max = MAX_INPUT_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    chunks.push(b);
    size += b.length;
    if (size > max) break;
  }
  return Buffer.concat(chunks);
}
