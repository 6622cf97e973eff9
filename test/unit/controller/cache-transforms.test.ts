// The controller's cache transforms for the objects it only reads: bulky unread parts out, and every part the
// controller reads (job resolution, the job's source for policy selection and identities, owner references,
// deletion, uid, creation time, the service account's GSA annotation) the same as on the object as served.
import { describe, expect, it } from 'vitest';
import {
  LAST_APPLIED_ANNOTATION,
  readOnlyCacheTransform,
  sparkJobCacheTransform,
} from '../../../src/controller/cache-transforms.js';
import type { KubeObject } from '../../../src/kube/rest.js';
import { resolveServiceAccounts } from '../../../src/policy/identity.js';
import { jobSource, logicalJobOf, logicalJobOfScheduled } from '../../../src/policy/job.js';

const spec = {
  type: 'Python',
  mode: 'cluster',
  image: 'apache/spark:4.0.0-python3',
  mainApplicationFile: 'local:///opt/app/stream.py',
  sparkConf: { 'spark.kubernetes.authenticate.executor.serviceAccountName': 'exec-conf' },
  driver: { serviceAccount: 'driver-sa', cores: 1, template: { spec: { serviceAccountName: 'tmpl-sa' } } },
  executor: { instances: 3, template: { spec: { serviceAccountName: 'exec-tmpl' } } },
};

const app = (): KubeObject =>
  ({
    apiVersion: 'sparkoperator.k8s.io/v1beta2',
    kind: 'SparkApplication',
    metadata: {
      name: 'nightly-1',
      namespace: 'team-a',
      uid: 'u-1',
      resourceVersion: '42',
      creationTimestamp: '2026-11-30T05:00:00Z',
      deletionTimestamp: '2026-11-30T06:00:00Z',
      labels: { 'sparkoperator.k8s.io/scheduled-app-name': 'nightly', 'tidemark.dev/checkpoint': 'true' },
      annotations: { 'tidemark.dev/policy': 'prod', [LAST_APPLIED_ANNOTATION]: JSON.stringify({ spec }) },
      ownerReferences: [
        { apiVersion: 'sparkoperator.k8s.io/v1beta2', kind: 'ScheduledSparkApplication', name: 'nightly' },
      ],
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
    },
    spec,
    status: {
      applicationState: { state: 'RUNNING' },
      executorState: { 'nightly-1-exec-1': 'RUNNING', 'nightly-1-exec-2': 'RUNNING' },
      driverInfo: { podName: 'nightly-1-driver' },
    },
  }) as KubeObject;

describe('sparkJobCacheTransform', () => {
  it('drops status, managedFields and the last-applied annotation, and nothing else', () => {
    const raw = app();
    const t = sparkJobCacheTransform<KubeObject & { status?: unknown; spec?: unknown }>(raw);
    expect(t).not.toHaveProperty('status');
    expect(t.metadata).not.toHaveProperty('managedFields');
    expect(t.metadata?.annotations).toEqual({ 'tidemark.dev/policy': 'prod' });
    const { managedFields: _m, annotations: _a, ...meta } = raw.metadata ?? {};
    const { annotations: _b, ...tmeta } = t.metadata ?? {};
    expect(tmeta).toEqual(meta);
    expect(t.spec).toEqual(spec);
    expect(t.apiVersion).toBe(raw.apiVersion);
    expect(t.kind).toBe(raw.kind);
    // The object as served is not changed (the informer may hand it to nothing else, but a transform must not mutate).
    expect(raw).toEqual(app());
  });

  it('keeps every field the controller reads: the same job, source and service accounts as the object as served', () => {
    const raw = app() as unknown as Parameters<typeof logicalJobOf>[0];
    const t = sparkJobCacheTransform(app()) as unknown as Parameters<typeof logicalJobOf>[0];
    expect(logicalJobOf(t)).toEqual(logicalJobOf(raw));
    const job = { kind: 'SparkApplication' as const, namespace: 'team-a', name: 'nightly-1' };
    const src = jobSource(job, { app: t });
    expect(src).toEqual({ ...jobSource(job, { app: raw }), annotations: { 'tidemark.dev/policy': 'prod' } });
    expect(resolveServiceAccounts(t.spec)).toEqual(resolveServiceAccounts(raw.spec));
  });

  it('a ScheduledSparkApplication keeps its template (identities) and labels (selection)', () => {
    const raw = {
      apiVersion: 'sparkoperator.k8s.io/v1beta2',
      kind: 'ScheduledSparkApplication',
      metadata: { name: 'nightly', namespace: 'team-a', labels: { a: 'b' } },
      spec: { schedule: '@daily', template: spec },
      status: { pastSuccessfulRunNames: ['nightly-1', 'nightly-2'], lastRunName: 'nightly-2' },
    } as KubeObject;
    const t = sparkJobCacheTransform(raw) as unknown as Parameters<typeof logicalJobOfScheduled>[0];
    expect(t).not.toHaveProperty('status');
    expect(logicalJobOfScheduled(t)).toEqual(logicalJobOfScheduled(raw as unknown as typeof t));
    expect(t.spec).toEqual(raw.spec);
    expect(t.metadata).toEqual(raw.metadata);
  });

  it('an object with nothing to drop comes out equal', () => {
    const raw = { apiVersion: 'v1', kind: 'X', metadata: { name: 'a', namespace: 'b' }, spec: { x: 1 } } as KubeObject;
    expect(sparkJobCacheTransform(raw)).toEqual(raw);
  });
});

describe('readOnlyCacheTransform', () => {
  it('a ServiceAccount keeps its GSA annotation and loses managedFields and last-applied', () => {
    const sa = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: 'spark',
        namespace: 'team-a',
        annotations: {
          'iam.gke.io/gcp-service-account': 'a@p.iam.gserviceaccount.com',
          [LAST_APPLIED_ANNOTATION]: '{}',
        },
        managedFields: [{ manager: 'kubectl' }],
      },
      secrets: [{ name: 'spark-token' }],
    } as KubeObject;
    expect(readOnlyCacheTransform(sa)).toEqual({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: 'spark',
        namespace: 'team-a',
        annotations: { 'iam.gke.io/gcp-service-account': 'a@p.iam.gserviceaccount.com' },
      },
      secrets: [{ name: 'spark-token' }],
    });
  });
});
