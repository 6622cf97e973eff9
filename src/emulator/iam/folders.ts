// Managed folders: names, metadata and lookup by containment (their IAM policies live in the policy store).

export interface ManagedFolder {
  bucket: string;
  /** Always ends with '/'. */
  name: string;
  createTime: string;
  updateTime: string;
  metageneration: number;
}

/**
 * Normalizes a managed folder name (a missing final '/' is added, as Google does) or throws Error saying why
 * the name is invalid.
 */
export function normalizeFolderName(raw: unknown): string {
  if (typeof raw !== 'string' || raw === '' || raw === '/') {
    throw new Error('A managed folder needs a name such as "a/b/".');
  }
  const name = raw.endsWith('/') ? raw : `${raw}/`;
  if (name.startsWith('/')) throw new Error(`Invalid managed folder name '${raw}': it must not start with '/'.`);
  if (name.includes('//')) throw new Error(`Invalid managed folder name '${raw}': it must not contain '//'.`);
  if (Buffer.byteLength(name) > 1024) throw new Error(`Invalid managed folder name: longer than 1024 bytes.`);
  for (const seg of name.slice(0, -1).split('/')) {
    if (seg === '.' || seg === '..') throw new Error(`Invalid managed folder name '${raw}': '.' and '..' segments.`);
  }
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw new Error(`Invalid managed folder name '${raw}': control characters are not allowed.`);
  }
  return name;
}

export class ManagedFolderStore {
  private readonly buckets = new Map<string, Map<string, ManagedFolder>>();

  get(bucket: string, name: string): ManagedFolder | undefined {
    return this.buckets.get(bucket)?.get(name);
  }

  create(bucket: string, name: string, now: Date): ManagedFolder {
    let folders = this.buckets.get(bucket);
    if (!folders) {
      folders = new Map();
      this.buckets.set(bucket, folders);
    }
    const t = now.toISOString();
    const f: ManagedFolder = { bucket, name, createTime: t, updateTime: t, metageneration: 1 };
    folders.set(name, f);
    return f;
  }

  delete(bucket: string, name: string): boolean {
    return this.buckets.get(bucket)?.delete(name) ?? false;
  }

  deleteBucket(bucket: string): void {
    this.buckets.delete(bucket);
  }

  touch(bucket: string, name: string, now: Date): void {
    const f = this.get(bucket, name);
    if (f) {
      f.updateTime = now.toISOString();
      f.metageneration++;
    }
  }

  /** Every folder whose name is a prefix of `path` (an object name, a list prefix or a folder name), outermost first. */
  containing(bucket: string, path: string): ManagedFolder[] {
    const folders = this.buckets.get(bucket);
    if (!folders || folders.size === 0) return [];
    const out: ManagedFolder[] = [];
    // Walk the path's '/'-terminated prefixes rather than every folder: cost is the path's depth.
    let i = path.indexOf('/');
    while (i >= 0) {
      const f = folders.get(path.slice(0, i + 1));
      if (f) out.push(f);
      i = path.indexOf('/', i + 1);
    }
    return out;
  }

  /** Folders of a bucket in name order, those starting with `prefix`. */
  list(bucket: string, prefix = ''): ManagedFolder[] {
    const folders = this.buckets.get(bucket);
    if (!folders) return [];
    return [...folders.values()].filter((f) => f.name.startsWith(prefix)).sort((a, b) => cmp(a.name, b.name));
  }

  /** Whether a folder other than `name` itself lies under `name`. */
  hasNested(bucket: string, name: string): boolean {
    for (const f of this.buckets.get(bucket)?.values() ?? []) {
      if (f.name !== name && f.name.startsWith(name)) return true;
    }
    return false;
  }

  all(): ManagedFolder[] {
    return [...this.buckets.values()].flatMap((m) => [...m.values()]);
  }

  clear(): void {
    this.buckets.clear();
  }
}

/** Byte-wise (UTF-8) order, as Cloud Storage lists. */
export function cmp(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
