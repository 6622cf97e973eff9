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

export async function scanRoot(gcs: Gcs, bucket: string, root: string, maxAttempts = 8): Promise<RootUsage> {
  const prefixes = new Map<string, PrefixUsage>();
  let strays = 0;
  let calls = 0;
  let pageToken: string | undefined;
  const base = `${root}/`;
  do {
    let page:
      | {
          items?: { name?: string | null; size?: string | null; updated?: string | null }[];
          nextPageToken?: string | null;
        }
      | undefined;
    for (let attempt = 1; !page; attempt++) {
      try {
        calls++;
        page = await gcsCall(gcs, 'storage.objects.list', () =>
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
      } catch (err) {
        const s = httpStatus(err);
        const again = s === undefined || s === 0 || s === 429 || s >= 500;
        if (!again || attempt >= maxAttempts) throw err;
        await sleep(backoffMs(attempt, 200, 10_000));
      }
    }
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
