// The usage scan of a policy root: one paged listing of `<root>/` (names, sizes, update times only), summed per job
// prefix `<root>/<namespace>/<job>/`. Memory grows with the number of job prefixes, never with the objects. It gives
// the planner each prefix's newest write, and each Checkpoint its lastWriteTime and size.
import { type Gcs, gcsCall, httpStatus, NO_RETRY } from '../gcs/client.js';
import { backoffMs, sleep } from '../gcs/retry.js';
import type { PrefixUsage } from './plan.js';

export interface RootUsage {
  /** Per job prefix (`<root>/<ns>/<job>/`). */
  prefixes: Map<string, PrefixUsage>;
  /** Objects under the root that are not inside a job prefix (never touched). */
  strays: number;
  calls: number;
}

/** One listing call, 429/5xx and connection errors retried with backoff. */
async function listing<T>(maxAttempts: number, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const s = httpStatus(err);
      const again = s === undefined || s === 0 || s === 429 || s >= 500;
      if (!again || attempt >= maxAttempts) throw err;
      await sleep(backoffMs(attempt, 200, 10_000));
    }
  }
}

export async function scanRoot(gcs: Gcs, bucket: string, root: string, maxAttempts = 8): Promise<RootUsage> {
  const prefixes = new Map<string, PrefixUsage>();
  let strays = 0;
  let calls = 0;
  let pageToken: string | undefined;
  const base = `${root}/`;
  do {
    const page = await listing(maxAttempts, () => {
      calls++;
      return gcsCall(gcs, 'storage.objects.list', () =>
        gcs.storage.objects.list(
          {
            bucket,
            prefix: base,
            maxResults: 1000,
            fields: 'items(name,size,updated),nextPageToken',
            ...(pageToken ? { pageToken } : {}),
          },
          NO_RETRY,
        ),
      );
    });
    for (const o of page.items ?? []) {
      const name = o.name ?? '';
      const rest = name.slice(base.length).split('/');
      if (!name.startsWith(base) || rest.length < 3 || rest[0] === '' || rest[1] === '') {
        strays++;
        continue;
      }
      const prefix = `${base}${rest[0]}/${rest[1]}/`;
      const u = prefixes.get(prefix) ?? { objects: 0, bytes: 0 };
      u.objects++;
      u.bytes += Number(o.size ?? 0);
      const t = o.updated ? Date.parse(o.updated) : Number.NaN;
      if (!Number.isNaN(t) && (u.lastWriteMs === undefined || t > u.lastWriteMs)) u.lastWriteMs = t;
      prefixes.set(prefix, u);
    }
    pageToken = page.nextPageToken ?? undefined;
  } while (pageToken);
  return { prefixes, strays, calls };
}

/**
 * The managed folders under the root, per job prefix `<root>/<ns>/<job>/` (folder names end in `/`), with their
 * own clock: the later of createTime and updateTime. One call per 1,000 folders.
 */
export async function scanFolders(
  gcs: Gcs,
  bucket: string,
  root: string,
  maxAttempts = 8,
): Promise<Map<string, { updatedMs: number }>> {
  const out = new Map<string, { updatedMs: number }>();
  let pageToken: string | undefined;
  do {
    const page = await listing(maxAttempts, () =>
      gcsCall(gcs, 'storage.managedFolders.list', () =>
        gcs.storage.managedFolders.list(
          { bucket, prefix: `${root}/`, pageSize: 1000, ...(pageToken ? { pageToken } : {}) },
          NO_RETRY,
        ),
      ),
    );
    for (const f of page.items ?? []) {
      const name = f.name ?? '';
      const prefix = name.endsWith('/') ? name : `${name}/`;
      const times = [f.createTime, f.updateTime].map((t) => (t ? Date.parse(t) : Number.NaN));
      const known = times.filter((t) => !Number.isNaN(t));
      // No time at all: never stale (there is no clock to go by).
      const updatedMs = known.length > 0 ? Math.max(...known) : Number.POSITIVE_INFINITY;
      out.set(prefix, { updatedMs });
    }
    pageToken = page.nextPageToken ?? undefined;
  } while (pageToken);
  return out;
}
