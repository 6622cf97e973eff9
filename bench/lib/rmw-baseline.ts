// The provisioning baseline: what Terraform's google_storage_bucket_iam_member, Config Connector's IAMPolicyMember and
// Crossplane do for each member: read the bucket policy, add one (conditional) binding, write it back with the etag,
// and start over on 412 (someone else wrote meanwhile) or 429 (the bucket's write limit). Real Google client
// (googleapis, through src/gcs/client.ts) against the same emulator, as the controller's identity.
import { jobCondition } from '../../src/access/condition.js';
import { createGcs, httpStatus, NO_RETRY } from '../../src/gcs/client.js';
import { backoffMs, sleep } from '../../src/gcs/retry.js';
import type { Job } from './jobs.js';
import type { Stack } from './stack.js';

export interface RmwResult {
  jobs: number;
  seconds: number;
  jobsPerSecond: number;
  /** HTTP calls per job (get + set + every retry). */
  callsPerJob: number;
  conflicts: number;
  rateLimited: number;
}

export async function runRmwBaseline(
  stack: Stack,
  o: { jobs: readonly Job[]; rootPrefix: string; concurrency: number },
): Promise<RmwResult> {
  const token = await stack.token(stack.controllerMember);
  const gcs = createGcs({ endpoint: stack.emu.url, accessToken: token });
  const bucket = stack.bucket;
  const pool = `${stack.gcs.project}.svc.id.goog`;
  let calls = 0;
  let conflicts = 0;
  let rateLimited = 0;
  const addMember = async (j: Job) => {
    const member = `principal://iam.googleapis.com/projects/${stack.gcs.projectNumber}/locations/global/workloadIdentityPools/${pool}/subject/ns/${j.namespace}/sa/${j.serviceAccount}`;
    const prefix = `${o.rootPrefix}/${j.namespace}/${j.name}/`;
    for (let attempt = 1; ; attempt++) {
      calls++;
      const { data: policy } = await gcs.storage.buckets.getIamPolicy(
        { bucket, optionsRequestedPolicyVersion: 3 },
        NO_RETRY,
      );
      const bindings = [
        ...(policy.bindings ?? []),
        { role: 'roles/storage.objectUser', members: [member], condition: jobCondition(bucket, prefix, j) },
      ];
      try {
        calls++;
        await gcs.storage.buckets.setIamPolicy(
          { bucket, requestBody: { version: 3, etag: policy.etag ?? null, bindings } },
          NO_RETRY,
        );
        return;
      } catch (err) {
        const status = httpStatus(err);
        if (status === 412) conflicts++;
        else if (status === 429) rateLimited++;
        else throw err;
        if (attempt >= 50) throw new Error(`RMW baseline: gave up on ${j.namespace}/${j.name} after ${attempt} tries`);
        await sleep(backoffMs(Math.min(attempt, 6), 200, 5000));
      }
    }
  };
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (next < o.jobs.length) await addMember(o.jobs[next++] as Job);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return {
    jobs: o.jobs.length,
    seconds,
    jobsPerSecond: o.jobs.length / seconds,
    callsPerJob: calls / o.jobs.length,
    conflicts,
    rateLimited,
  };
}
