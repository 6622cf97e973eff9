// Buckets and objects as the JSON API returns them.
import { crc32cBase64 } from './hashes.js';
import type { StoredBucket, StoredObject } from './store.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const enc = encodeURIComponent;

/** An etag that changes with every generation and metageneration (Google's are opaque base64 too). */
export function objectEtag(o: StoredObject): string {
  return Buffer.from(`${o.generation}/${o.metageneration}`).toString('base64');
}

export function bucketEtag(b: StoredBucket): string {
  return Buffer.from(`b/${b.timeCreated}/${b.metageneration}`).toString('base64');
}

export function objectResource(o: StoredObject, baseUrl: string): Record<string, unknown> {
  const path = `b/${enc(o.bucket)}/o/${enc(o.name)}`;
  const r: Record<string, unknown> = {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `${baseUrl}/storage/v1/${path}`,
    mediaLink: `${baseUrl}/download/storage/v1/${path}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket: o.bucket,
    generation: String(o.generation),
    metageneration: String(o.metageneration),
    contentType: o.contentType ?? 'application/octet-stream',
    storageClass: o.storageClass,
    size: String(o.data.length),
    crc32c: crc32cBase64(o.crc32c),
    etag: objectEtag(o),
    timeCreated: iso(o.timeCreated),
    updated: iso(o.updated),
    timeStorageClassUpdated: iso(o.timeCreated),
    timeFinalized: iso(o.timeCreated),
  };
  if (o.md5Hash !== undefined) r.md5Hash = o.md5Hash;
  if (o.componentCount !== undefined) r.componentCount = o.componentCount;
  for (const k of [
    'contentEncoding',
    'contentDisposition',
    'contentLanguage',
    'cacheControl',
    'customTime',
    'temporaryHold',
    'eventBasedHold',
  ] as const) {
    if (o[k] !== undefined) r[k] = o[k];
  }
  if (o.metadata && Object.keys(o.metadata).length > 0) r.metadata = { ...o.metadata };
  return r;
}

export function bucketResource(b: StoredBucket, baseUrl: string, projectNumber: string): Record<string, unknown> {
  const r: Record<string, unknown> = {
    kind: 'storage#bucket',
    selfLink: `${baseUrl}/storage/v1/b/${enc(b.name)}`,
    id: b.name,
    name: b.name,
    projectNumber,
    generation: String(b.timeCreated * 1000),
    metageneration: String(b.metageneration),
    location: b.location,
    storageClass: b.storageClass,
    etag: bucketEtag(b),
    timeCreated: iso(b.timeCreated),
    updated: iso(b.updated),
    iamConfiguration: {
      bucketPolicyOnly: ublaJson(b),
      uniformBucketLevelAccess: ublaJson(b),
      publicAccessPrevention: b.publicAccessPrevention,
    },
    softDeletePolicy: {
      retentionDurationSeconds: String(b.softDeleteRetentionSeconds),
      effectiveTime: iso(b.softDeleteEffectiveTime),
    },
    hierarchicalNamespace: { enabled: b.hierarchicalNamespace },
    locationType: b.locationType,
    rpo: 'DEFAULT',
  };
  if (b.versioning) r.versioning = { enabled: true };
  if (b.lifecycle) r.lifecycle = b.lifecycle;
  if (b.labels && Object.keys(b.labels).length > 0) r.labels = { ...b.labels };
  return r;
}

function ublaJson(b: StoredBucket): Record<string, unknown> {
  if (!b.uniformBucketLevelAccess || b.ublaSince === undefined) return { enabled: false };
  return { enabled: true, lockedTime: iso(b.ublaSince + 90 * 24 * 3600 * 1000) };
}
