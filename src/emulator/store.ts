// In-memory buckets and objects. Only live objects are kept (no versioning, no soft delete). Object names are kept
// in a SortedStrings per bucket so that listing is a seek, not a sort.
import { crc32c, md5Base64 } from './hashes.js';
import { SortedStrings } from './sorted.js';

/** Object metadata a client may set (uploads, patch, update, rewrite/copy/compose destination). */
export interface WritableObjectMeta {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  customTime?: string;
  storageClass?: string;
  metadata?: Record<string, string>;
  temporaryHold?: boolean;
  eventBasedHold?: boolean;
}

export interface StoredObject extends WritableObjectMeta {
  bucket: string;
  name: string;
  data: Buffer;
  generation: number;
  metageneration: number;
  timeCreated: number;
  updated: number;
  /** Absent for composite objects, as on Google. */
  md5Hash?: string;
  crc32c: number;
  componentCount?: number;
}

export interface LifecycleConfig {
  rule: unknown[];
}

export interface StoredBucket {
  name: string;
  timeCreated: number;
  updated: number;
  metageneration: number;
  location: string;
  locationType: string;
  storageClass: string;
  uniformBucketLevelAccess: boolean;
  /** When UBLA was enabled (Google locks the setting 90 days later). */
  ublaSince?: number;
  publicAccessPrevention: string;
  softDeleteRetentionSeconds: number;
  softDeleteEffectiveTime: number;
  lifecycle?: LifecycleConfig;
  hierarchicalNamespace: boolean;
  versioning: boolean;
  labels?: Record<string, string>;
  objects: Map<string, StoredObject>;
  names: SortedStrings;
}

/** Generations are microsecond timestamps, strictly increasing across the emulator (Google's look the same). */
export class GenerationClock {
  private last = 0;
  constructor(private readonly now: () => number = Date.now) {}
  next(): number {
    this.last = Math.max(this.last + 1, this.now() * 1000);
    return this.last;
  }
}

export class Store {
  readonly buckets = new Map<string, StoredBucket>();
  readonly clock: GenerationClock;

  constructor(readonly now: () => number = Date.now) {
    this.clock = new GenerationClock(now);
  }

  bucket(name: string): StoredBucket | undefined {
    return this.buckets.get(name);
  }

  addBucket(b: Omit<StoredBucket, 'objects' | 'names'>): StoredBucket {
    const full: StoredBucket = { ...b, objects: new Map(), names: new SortedStrings() };
    this.buckets.set(b.name, full);
    return full;
  }

  deleteBucket(name: string): void {
    this.buckets.delete(name);
  }

  object(bucket: string, name: string): StoredObject | undefined {
    return this.buckets.get(bucket)?.objects.get(name);
  }

  /** Writes a new generation of an object (a new object replaces any live one). The bucket must exist. */
  putObject(
    bucket: StoredBucket,
    name: string,
    data: Buffer,
    meta: WritableObjectMeta,
    extra: { composite?: { componentCount: number } } = {},
  ): StoredObject {
    const t = this.now();
    const obj: StoredObject = {
      ...stripUndefined(meta),
      bucket: bucket.name,
      name,
      data,
      generation: this.clock.next(),
      metageneration: 1,
      timeCreated: t,
      updated: t,
      crc32c: crc32c(data),
      storageClass: meta.storageClass ?? bucket.storageClass,
    };
    if (extra.composite) obj.componentCount = extra.composite.componentCount;
    else obj.md5Hash = md5Base64(data);
    bucket.objects.set(name, obj);
    bucket.names.add(name);
    return obj;
  }

  deleteObject(bucket: StoredBucket, name: string): boolean {
    if (!bucket.objects.delete(name)) return false;
    bucket.names.delete(name);
    return true;
  }

  hasObjectsUnder(bucket: string, prefix: string): boolean {
    const b = this.buckets.get(bucket);
    if (!b) return false;
    const first = b.names.first(prefix);
    return first?.startsWith(prefix) === true;
  }

  reset(): void {
    this.buckets.clear();
  }
}

export function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
