// objects.list over a sorted name set: prefix, delimiter (+ includeTrailingDelimiter), startOffset/endOffset,
// matchGlob, and paging by maxResults + pageToken. Items and prefixes both count towards maxResults, as on Google.
// Pure apart from reading the SortedStrings.
import { HttpError } from './contract.js';
import { prefixSuccessor, type SortedStrings } from './sorted.js';

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  includeTrailingDelimiter?: boolean;
  startOffset?: string;
  endOffset?: string;
  matchGlob?: string;
  /** 1..1000; default 1000. */
  maxResults?: number;
  pageToken?: string;
}

export interface ListPage {
  names: string[];
  prefixes: string[];
  nextPageToken?: string;
}

export const MAX_LIST_RESULTS = 1000;

export function encodePageToken(nextKey: string): string {
  return Buffer.from(JSON.stringify({ k: nextKey })).toString('base64url');
}

export function decodePageToken(token: string): string {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && typeof (v as { k?: unknown }).k === 'string') {
      return (v as { k: string }).k;
    }
  } catch {
    // fall through to the 400 below
  }
  throw new HttpError(400, `Invalid pageToken '${token}'.`);
}

export function listNames(names: SortedStrings, opts: ListOptions): ListPage {
  const prefix = opts.prefix ?? '';
  const delimiter = opts.delimiter === '' ? undefined : opts.delimiter;
  const max = opts.maxResults ?? MAX_LIST_RESULTS;
  const glob = opts.matchGlob ? globToRegExp(opts.matchGlob) : undefined;
  let start = prefix;
  if (opts.startOffset !== undefined && opts.startOffset > start) start = opts.startOffset;
  if (opts.pageToken) {
    const k = decodePageToken(opts.pageToken);
    if (k > start) start = k;
  }
  const page: ListPage = { names: [], prefixes: [] };
  let count = 0;
  let key: string | undefined = start;
  outer: while (key !== undefined) {
    for (const name of names.from(key)) {
      if (!name.startsWith(prefix)) break outer;
      if (opts.endOffset !== undefined && opts.endOffset !== '' && name >= opts.endOffset) break outer;
      if (count >= max) {
        page.nextPageToken = encodePageToken(name);
        break outer;
      }
      if (delimiter !== undefined) {
        const at = name.indexOf(delimiter, prefix.length);
        if (at >= 0) {
          const p = name.slice(0, at + delimiter.length);
          page.prefixes.push(p);
          count++;
          if (opts.includeTrailingDelimiter && name === p && (!glob || glob.test(name))) page.names.push(name);
          // Seek past everything under this prefix.
          key = prefixSuccessor(p);
          continue outer;
        }
      }
      if (!glob || glob.test(name)) {
        page.names.push(name);
        count++;
      }
    }
    break;
  }
  return page;
}

/**
 * Google's matchGlob: `*` (not across `/`), `**` (across `/`), `?`, `[abc]`, `[!abc]`, `{a,b}`.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let i = 0;
  let braces = 0;
  while (i < glob.length) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i += 2;
        continue;
      }
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) throw new HttpError(400, `Invalid matchGlob '${glob}': unclosed '['.`);
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end + 1;
      continue;
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) {
      re += '|';
    } else {
      re += c.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
    }
    i++;
  }
  if (braces > 0) throw new HttpError(400, `Invalid matchGlob '${glob}': unclosed '{'.`);
  return new RegExp(`^${re}$`, 's');
}
