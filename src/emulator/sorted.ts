// A sorted set of strings in chunks (like a one-level B-tree): insert, delete and seek cost O(log n + chunk size),
// so a bucket with a million objects lists page by page without sorting anything. Order is JavaScript string order
// (UTF-16 code units); Google orders by UTF-8 bytes, which differs only between U+E000–U+FFFF and astral characters.

const MAX_CHUNK = 512;

function lowerBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((arr[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedStrings {
  private chunks: string[][] = [];
  private size_ = 0;

  get size(): number {
    return this.size_;
  }

  /** Index of the first chunk whose last element is >= key (chunks.length when none). */
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.chunks[mid] as string[];
      if ((c[c.length - 1] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds `key`; returns false when it was already there. */
  add(key: string): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.size_ = 1;
      return true;
    }
    let ci = this.chunkFor(key);
    if (ci === this.chunks.length) ci--; // larger than everything: append to the last chunk
    const chunk = this.chunks[ci] as string[];
    const i = lowerBound(chunk, key);
    if (chunk[i] === key) return false;
    chunk.splice(i, 0, key);
    this.size_++;
    if (chunk.length > MAX_CHUNK) {
      this.chunks.splice(ci + 1, 0, chunk.splice(chunk.length >>> 1));
    }
    return true;
  }

  /** Removes `key`; returns false when it was not there. */
  delete(key: string): boolean {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (!chunk) return false;
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return false;
    chunk.splice(i, 1);
    this.size_--;
    if (chunk.length === 0) this.chunks.splice(ci, 1);
    return true;
  }

  has(key: string): boolean {
    const chunk = this.chunks[this.chunkFor(key)];
    if (!chunk) return false;
    return chunk[lowerBound(chunk, key)] === key;
  }

  /** The keys >= `from` in order. Do not add or delete while iterating. */
  *from(from = ''): Generator<string> {
    let ci = this.chunkFor(from);
    if (ci >= this.chunks.length) return;
    let i = lowerBound(this.chunks[ci] as string[], from);
    for (; ci < this.chunks.length; ci++, i = 0) {
      const chunk = this.chunks[ci] as string[];
      for (; i < chunk.length; i++) yield chunk[i] as string;
    }
  }

  /** The first key >= `from`, if any. */
  first(from = ''): string | undefined {
    const chunk = this.chunks[this.chunkFor(from)];
    if (!chunk) return undefined;
    return chunk[lowerBound(chunk, from)];
  }

  clear(): void {
    this.chunks = [];
    this.size_ = 0;
  }
}

/**
 * The smallest string greater than every string that starts with `prefix`; undefined when there is none (the prefix
 * is empty or all U+FFFF).
 */
export function prefixSuccessor(prefix: string): string | undefined {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 0xffff) end--;
  if (end === 0) return undefined;
  return prefix.slice(0, end - 1) + String.fromCharCode(prefix.charCodeAt(end - 1) + 1);
}
