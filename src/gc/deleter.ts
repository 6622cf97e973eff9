// Deletes everything under one job prefix, streaming: one listed page (≤ 1,000 objects) at a time is held in memory,
// deleted in JSON batches of ≤ 100 with a bounded number of batches in flight (p-queue), 429/5xx retried with
// jittered exponential backoff (parts one by one, whole batches as well). Each delete names the generation listed,
// so an object written after the listing is never deleted unseen: it answers 412 and the prefix is reported as
// written during deletion (and kept fenced). After the objects, the job's managed folder (ManagedFolder mode), whose
// delete Google refuses while it holds objects; without a folder, one more listing: only an empty prefix counts as
// deleted.
import PQueue from 'p-queue';
import { managedFolderName } from '../access/folder-policy.js';
import { type Gcs, gcsCall, gcsMessage, httpStatus, NO_RETRY } from '../gcs/client.js';
import { backoffMs, sleep as realSleep } from '../gcs/retry.js';
import { BatchHttpError, MAX_BATCH, type ObjectRef, type PartResult, sendDeleteBatch } from './batch.js';
import { parseJobPrefix } from './plan.js';

export interface DeleteProgress {
  objectsDeleted: number;
  bytesDeleted: number;
}

export type GcErrorReason = 'PermissionDenied' | 'WrittenDuringDeletion' | 'Transient' | 'Aborted' | 'Unsafe';

/** A deletion that could not finish; `reason` is CamelCase for Events. */
export class GcError extends Error {
  constructor(
    readonly reason: GcErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'GcError';
  }
}

export interface DeletePrefixOptions {
  gcs: Gcs;
  bucket: string;
  /** The policy root: the prefix must be `<root>/<namespace>/<job>/`, anything else is refused. */
  root: string;
  prefix: string;
  /** Also delete the job's managed folder once its objects are gone. */
  deleteManagedFolder: boolean;
  /** Batches in flight (default 4). */
  concurrency?: number;
  /** Attempts per call for 429/5xx and connection errors (default 8). */
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Called before each listed page is deleted; throw to stop (e.g. the fence was lifted). */
  beforePage?: () => Promise<void>;
  /** Called after each page with the totals so far (the caller records them so a restart resumes the counts). */
  onProgress?: (p: DeleteProgress) => Promise<void>;
  sleep?: (ms: number) => Promise<void>;
}

const PAGE = 1000;

const retryable = (status: number | undefined) =>
  status === undefined || status === 0 || status === 408 || status === 429 || status >= 500;

function permissionError(err: unknown, what: string, bucket: string): GcError {
  return new GcError(
    'PermissionDenied',
    `The controller may not ${what} in gs://${bucket}: ${gcsMessage(err)} (see docs/access.md, garbage collection)`,
  );
}

export async function deletePrefix(opts: DeletePrefixOptions): Promise<DeleteProgress> {
  const { gcs, bucket, prefix, root } = opts;
  if (!parseJobPrefix(root, prefix)) {
    throw new GcError('Unsafe', `refusing to delete ${prefix}: not <root>/<namespace>/<job>/ under ${root}/`);
  }
  const maxAttempts = opts.maxAttempts ?? 8;
  const base = opts.backoffBaseMs ?? 200;
  const cap = opts.backoffMaxMs ?? 10_000;
  const sleep = opts.sleep ?? realSleep;
  const concurrency = opts.concurrency ?? 4;
  const progress: DeleteProgress = { objectsDeleted: 0, bytesDeleted: 0 };
  let changed = 0;

  const withRetry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        // A fenced client (the leadership term ended): nothing more is sent, so nothing to retry.
        if (err instanceof GcError || gcs.signal?.aborted) throw err;
        const status = err instanceof BatchHttpError ? err.status : httpStatus(err);
        if (status === 403) throw permissionError(err, what, bucket);
        if (!retryable(status) || attempt >= maxAttempts) {
          throw new GcError(
            'Transient',
            `${what} in gs://${bucket} failed after ${attempt} attempt(s): ${gcsMessage(err)}`,
          );
        }
        await sleep(backoffMs(attempt, base, cap));
      }
    }
  };

  const list = (pageToken: string | undefined, maxResults: number) =>
    withRetry('list objects', () =>
      gcsCall(gcs, 'storage.objects.list', () =>
        gcs.storage.objects.list(
          {
            bucket,
            prefix,
            maxResults,
            fields: 'items(name,generation,size),nextPageToken',
            ...(pageToken ? { pageToken } : {}),
          },
          NO_RETRY,
        ),
      ),
    );

  /** Deletes one batch; parts answering 429/5xx go again (alone) until they succeed or attempts run out. */
  const deleteBatch = async (objects: ObjectRef[]) => {
    let pending = objects;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const results: PartResult[] = await withRetry('delete objects', () => sendDeleteBatch(gcs, bucket, pending));
      const again: ObjectRef[] = [];
      for (const r of results) {
        const o = pending[r.index] as ObjectRef;
        if (r.status === 200 || r.status === 204 || r.status === 404) {
          if (r.status !== 404) {
            progress.objectsDeleted++;
            progress.bytesDeleted += o.size;
          }
        } else if (r.status === 412) {
          changed++;
        } else if (r.status === 403) {
          throw permissionError(new Error(r.message ?? 'HTTP 403'), 'delete objects', bucket);
        } else if (retryable(r.status) && attempt < maxAttempts) {
          again.push(o);
        } else {
          throw new GcError('Transient', `delete gs://${bucket}/${o.name}: HTTP ${r.status} ${r.message ?? ''}`.trim());
        }
      }
      if (again.length > 0) await sleep(backoffMs(attempt, base, cap));
      pending = again;
    }
  };

  const queue = new PQueue({ concurrency });
  let failure: unknown;
  const enqueue = (batch: ObjectRef[]) => {
    queue
      .add(() => deleteBatch(batch))
      .catch((err) => {
        failure ??= err;
        queue.clear();
      });
  };

  let pageToken: string | undefined;
  do {
    await opts.beforePage?.();
    const page = await list(pageToken, PAGE);
    pageToken = page.nextPageToken ?? undefined;
    const items: ObjectRef[] = (page.items ?? []).map((o) => ({
      name: o.name ?? '',
      generation: String(o.generation ?? ''),
      size: Number(o.size ?? 0),
    }));
    for (const o of items) {
      if (!o.name.startsWith(prefix)) throw new GcError('Unsafe', `listing ${prefix} returned ${o.name}`);
    }
    for (let i = 0; i < items.length; i += MAX_BATCH) enqueue(items.slice(i, i + MAX_BATCH));
    await queue.onIdle();
    if (failure) throw failure;
    await opts.onProgress?.({ ...progress });
  } while (pageToken);
  if (changed > 0) {
    throw new GcError(
      'WrittenDuringDeletion',
      `${changed} object(s) under gs://${bucket}/${prefix} were written while it was being deleted; they were kept and the checkpoint stays fenced.`,
    );
  }

  const notEmpty = (detail: string) =>
    new GcError(
      'WrittenDuringDeletion',
      `gs://${bucket}/${prefix} is not empty after deletion (${detail}: written meanwhile); the checkpoint stays fenced.`,
    );
  if (opts.deleteManagedFolder) {
    // Without allowNonEmpty, Google refuses (409) to delete a folder that still holds objects: the delete is also
    // the emptiness check.
    const folder = managedFolderName(prefix);
    await withRetry('delete managed folders', async () => {
      try {
        await gcsCall(gcs, 'storage.managedFolders.delete', () =>
          gcs.storage.managedFolders.delete({ bucket, managedFolder: folder }, NO_RETRY),
        );
      } catch (err) {
        const status = httpStatus(err);
        if (status === 409) throw notEmpty('the managed folder still holds objects');
        if (status !== 404) throw err;
        // 404: no folder (never created, or deleted by an earlier attempt): check emptiness by listing.
        const left = await list(undefined, 1);
        if ((left.items ?? []).length > 0) throw notEmpty(`${left.items?.[0]?.name}`);
      }
    });
  } else {
    const left = await list(undefined, 1);
    if ((left.items ?? []).length > 0) throw notEmpty(`${left.items?.[0]?.name}`);
  }
  return progress;
}
