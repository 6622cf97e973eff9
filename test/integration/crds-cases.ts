// Sample Tidemark objects and the table of bad inputs the CRDs must refuse. Shared by the integration test
// (test/integration/crds.test.ts, against the real API server) and the unit test of the offline validator
// (test/unit/api-validation.test.ts), so the two are held to the same expectations.
import type { Checkpoint, CheckpointPolicy } from '../../src/api/index.js';

export function samplePolicy(name: string): CheckpointPolicy {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'CheckpointPolicy',
    metadata: { name },
    spec: {
      namespaceSelector: { matchLabels: { team: 'streaming' } },
      jobSelector: {
        matchLabels: { 'tidemark.dev/checkpoint': 'true' },
        matchExpressions: [{ key: 'tier', operator: 'In', values: ['prod', 'staging'] }],
      },
      storage: { bucket: 'acme-checkpoints', rootPrefix: 'checkpoints/prod-cluster' },
      access: { workloadIdentity: { projectNumber: '123456789012', pool: 'acme-prod.svc.id.goog' } },
    },
  };
}

export function sampleCheckpoint(namespace: string, job: string): Checkpoint {
  const prefix = `checkpoints/prod-cluster/${namespace}/${job}/`;
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'Checkpoint',
    metadata: { name: job, namespace },
    spec: {
      policyName: 'prod',
      jobRef: { kind: 'SparkApplication', name: job },
      bucket: 'acme-checkpoints',
      prefix,
      uri: `gs://acme-checkpoints/${prefix}`,
      members: [
        `principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/acme-prod.svc.id.goog/subject/ns/${namespace}/sa/spark-driver`,
      ],
    },
  };
}

/** Sets (or, with undefined, deletes) the field at a dotted path, creating objects on the way. */
export function setPath(target: unknown, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1] as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

export interface BadCase {
  /** What is wrong, in words. */
  name: string;
  /** Dotted paths to set on the valid sample; undefined deletes the field. */
  set: Record<string, unknown>;
  /** A fragment the API server's message must contain. */
  expect: string;
}

/** Each of these CheckpointPolicies must be refused on create (422) with a message containing `expect`. */
export const badPolicies: BadCase[] = [
  // bucket names GCS would refuse
  {
    name: 'bucket with uppercase letters',
    set: { 'spec.storage.bucket': 'Acme-Checkpoints' },
    expect: 'bucket names may only contain lowercase letters',
  },
  {
    name: 'bucket ending in a dash',
    set: { 'spec.storage.bucket': 'acme-' },
    expect: 'must start and end with a letter or digit',
  },
  { name: 'bucket with a space', set: { 'spec.storage.bucket': 'acme bucket' }, expect: 'may only contain lowercase' },
  { name: 'bucket of 2 characters', set: { 'spec.storage.bucket': 'ab' }, expect: 'must be 3 to 63 characters long' },
  {
    name: 'bucket of 64 characters without dots',
    set: { 'spec.storage.bucket': 'a'.repeat(64) },
    expect: 'must be 3 to 63 characters long',
  },
  {
    name: 'dotted bucket with a 64-character part',
    set: { 'spec.storage.bucket': `${'a'.repeat(64)}.example.com` },
    expect: 'each dot-separated part of a bucket name must be at most 63 characters',
  },
  { name: "bucket with '..'", set: { 'spec.storage.bucket': 'acme..checkpoints' }, expect: "must not contain '..'" },
  { name: 'bucket that is an IP address', set: { 'spec.storage.bucket': '192.168.5.4' }, expect: 'IP address' },
  {
    name: "bucket starting with 'goog'",
    set: { 'spec.storage.bucket': 'goog-data' },
    expect: "must not start with 'goog'",
  },
  {
    name: "bucket containing 'google'",
    set: { 'spec.storage.bucket': 'acme-google-data' },
    expect: "must not contain 'google' or a close misspelling",
  },
  {
    name: "bucket containing 'g00gle'",
    set: { 'spec.storage.bucket': 'acme-g00gle-data' },
    expect: "must not contain 'google' or a close misspelling",
  },
  // rootPrefix
  {
    name: "rootPrefix with a '..' segment",
    set: { 'spec.storage.rootPrefix': 'a/../b' },
    expect: "'.' or '..' segment",
  },
  { name: "rootPrefix that is '..'", set: { 'spec.storage.rootPrefix': '..' }, expect: "'.' or '..' segment" },
  { name: "rootPrefix with '//'", set: { 'spec.storage.rootPrefix': 'a//b' }, expect: "must not contain '//'" },
  {
    name: "rootPrefix with a leading '/'",
    set: { 'spec.storage.rootPrefix': '/a' },
    expect: "must not start with '/'",
  },
  { name: "rootPrefix with a trailing '/'", set: { 'spec.storage.rootPrefix': 'a/' }, expect: "must not end with '/'" },
  {
    name: "rootPrefix with '#'",
    set: { 'spec.storage.rootPrefix': 'a#b' },
    expect: "rootPrefix may only contain letters, digits, '-', '_', '.' and '/'",
  },
  { name: "rootPrefix with '*'", set: { 'spec.storage.rootPrefix': 'a*' }, expect: 'rootPrefix may only contain' },
  {
    name: 'rootPrefix with a newline',
    set: { 'spec.storage.rootPrefix': 'a\nb' },
    expect: 'rootPrefix may only contain',
  },
  { name: 'empty rootPrefix', set: { 'spec.storage.rootPrefix': '' }, expect: 'spec.storage.rootPrefix' },
  // selectors
  {
    name: 'no namespaceSelector',
    set: { 'spec.namespaceSelector': undefined },
    expect: 'spec.namespaceSelector: Required value',
  },
  { name: 'no jobSelector', set: { 'spec.jobSelector': undefined }, expect: 'spec.jobSelector: Required value' },
  {
    name: 'matchExpressions In without values',
    set: { 'spec.jobSelector': { matchExpressions: [{ key: 'tier', operator: 'In' }] } },
    expect: 'operators In and NotIn need at least one value',
  },
  {
    name: 'matchExpressions with an unknown operator',
    set: { 'spec.jobSelector': { matchExpressions: [{ key: 'tier', operator: 'Equals', values: ['a'] }] } },
    expect: 'Unsupported value: "Equals"',
  },
  {
    name: 'matchExpressions with an invalid key',
    set: { 'spec.jobSelector': { matchExpressions: [{ key: 'tier/', operator: 'Exists' }] } },
    expect: 'matchExpressions keys must be label keys',
  },
  {
    name: 'matchExpressions with an invalid value',
    set: {
      'spec.namespaceSelector': { matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['ok', 'not ok'] }] },
    },
    expect: 'matchExpressions values must be label values',
  },
  {
    name: 'matchLabels with an invalid key',
    set: { 'spec.jobSelector': { matchLabels: { '-tier': 'prod' } } },
    expect: 'matchLabels keys must be label keys',
  },
  {
    name: 'matchLabels with an invalid value',
    set: { 'spec.namespaceSelector': { matchLabels: { team: 'a b' } } },
    expect: 'matchLabels values must be label values',
  },
  // durations
  {
    name: 'negative retention',
    set: { 'spec.retention.afterRelease': '-1h' },
    expect: 'a duration must not be negative',
  },
  {
    name: 'unparseable retention',
    set: { 'spec.retention.afterRelease': '7 days' },
    expect: 'a duration is a number with a unit (d, h, m, s or ms)',
  },
  { name: 'retention without a unit', set: { 'spec.retention.afterRelease': '90' }, expect: 'a duration is a number' },
  {
    name: 'unparseable propagationHold',
    set: { 'spec.access.propagationHold': 'soon' },
    expect: 'a duration is a number',
  },
  // schedule
  {
    name: 'schedule with 4 fields',
    set: { 'spec.gc.schedule': '0 3 * *' },
    expect: 'gc.schedule must be a cron expression with 5 fields',
  },
  { name: 'unknown schedule macro', set: { 'spec.gc.schedule': '@sometimes' }, expect: 'or one of @hourly, @daily' },
  { name: 'minute 60', set: { 'spec.gc.schedule': '60 3 * * *' }, expect: 'the minute field (1st)' },
  { name: 'hour 24', set: { 'spec.gc.schedule': '0 24 * * *' }, expect: 'the hour field (2nd)' },
  { name: 'day of month 0', set: { 'spec.gc.schedule': '0 3 0 * *' }, expect: 'the day-of-month field (3rd)' },
  { name: 'month 13', set: { 'spec.gc.schedule': '0 3 * 13 *' }, expect: 'the month field (4th)' },
  { name: 'weekday 8', set: { 'spec.gc.schedule': '0 3 * * 8' }, expect: 'the day-of-week field (5th)' },
  { name: 'step 0', set: { 'spec.gc.schedule': '*/0 * * * *' }, expect: 'the minute field (1st)' },
  {
    name: 'backwards range',
    set: { 'spec.gc.schedule': '0 22-2 * * *' },
    expect: 'a range a-b must not run backwards',
  },
  // access
  {
    name: 'KubernetesServiceAccount identity without workloadIdentity',
    set: { 'spec.access.workloadIdentity': undefined },
    expect: 'workloadIdentity (projectNumber and pool) is required when identity is KubernetesServiceAccount',
  },
  {
    name: 'projectNumber that is a project ID',
    set: { 'spec.access.workloadIdentity.projectNumber': 'acme-prod' },
    expect: 'workloadIdentity.projectNumber must be a project number',
  },
  {
    name: 'pool without .svc.id.goog',
    set: { 'spec.access.workloadIdentity.pool': 'acme-prod' },
    expect: 'workloadIdentity.pool must look like PROJECT_ID.svc.id.goog',
  },
  {
    name: 'GoogleServiceAccount identity without allowedServiceAccounts',
    set: { 'spec.access.identity': 'GoogleServiceAccount' },
    expect: 'allowedServiceAccounts must list at least one service-account email or pattern',
  },
  {
    name: 'GoogleServiceAccount identity with an empty allowedServiceAccounts',
    set: { 'spec.access.identity': 'GoogleServiceAccount', 'spec.access.allowedServiceAccounts': [] },
    expect: 'allowedServiceAccounts must list at least one',
  },
  {
    name: 'allowedServiceAccounts entry that is a user email',
    set: {
      'spec.access.identity': 'GoogleServiceAccount',
      'spec.access.allowedServiceAccounts': ['alice@example.com'],
    },
    expect: 'allowedServiceAccounts entries must be service-account emails or patterns',
  },
  {
    name: 'allowedServiceAccounts entry with a wildcard domain',
    set: {
      'spec.access.identity': 'GoogleServiceAccount',
      'spec.access.allowedServiceAccounts': ['*@*.iam.gserviceaccount.com'],
    },
    expect: 'allowedServiceAccounts entries must be service-account emails or patterns',
  },
  {
    name: 'role without roles/',
    set: { 'spec.access.role': 'storage.objectUser' },
    expect: 'role must be an IAM role name: roles/NAME, projects/PROJECT/roles/NAME',
  },
  {
    name: 'custom role without a name',
    set: { 'spec.access.role': 'projects/acme-prod/roles/' },
    expect: 'role must be an IAM role name',
  },
  { name: 'unknown access mode', set: { 'spec.access.mode': 'Folder' }, expect: 'Unsupported value: "Folder"' },
  { name: 'no access', set: { 'spec.access': undefined }, expect: 'spec.access: Required value' },
  // gc
  {
    name: 'maxDeletesPerRun 0',
    set: { 'spec.gc.maxDeletesPerRun': 0 },
    expect: 'gc.maxDeletesPerRun must be at least 1',
  },
  {
    name: 'maxDeletesPerRun -5',
    set: { 'spec.gc.maxDeletesPerRun': -5 },
    expect: 'gc.maxDeletesPerRun must be at least 1',
  },
  // metadata
  {
    name: 'policy name longer than 63 characters',
    set: { 'metadata.name': `p${'x'.repeat(63)}` },
    expect: 'a CheckpointPolicy name must be at most 63 characters',
  },
];

/** Each of these Checkpoints must be refused on create with a message containing `expect`. */
export const badCheckpoints: BadCase[] = [
  {
    name: "prefix without a trailing '/'",
    set: {
      'spec.prefix': 'checkpoints/prod-cluster/ns/job',
      'spec.uri': 'gs://acme-checkpoints/checkpoints/prod-cluster/ns/job',
    },
    expect: "prefix must end with '/'",
  },
  {
    name: 'uri that does not match bucket and prefix',
    set: { 'spec.uri': 'gs://other-bucket/checkpoints/prod-cluster/ns/job/' },
    expect: 'uri must be gs://<bucket>/<prefix>',
  },
  { name: 'unknown jobRef.kind', set: { 'spec.jobRef.kind': 'Deployment' }, expect: 'Unsupported value: "Deployment"' },
  {
    name: 'name different from the job',
    set: { 'spec.jobRef.name': 'another-job' },
    expect: 'a Checkpoint must be named after its job',
  },
  {
    name: 'member that is not an IAM member',
    set: { 'spec.members': ['alice@example.com'] },
    expect: 'members must be IAM members',
  },
  {
    name: 'prefix with a .. segment',
    set: { 'spec.prefix': '../ns/job/', 'spec.uri': 'gs://acme-checkpoints/../ns/job/' },
    expect: "prefix must not contain a '.' or '..' segment",
  },
  {
    name: 'bucket GCS would refuse',
    set: { 'spec.bucket': 'Acme', 'spec.uri': 'gs://Acme/checkpoints/prod-cluster/ns/job/' },
    expect: 'bucket names may only contain lowercase letters',
  },
  { name: 'no policyName', set: { 'spec.policyName': undefined }, expect: 'spec.policyName: Required value' },
];
