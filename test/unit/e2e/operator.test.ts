// The end-to-end test's stand-in for the Spark Operator (test/e2e/operator.ts): its submission and its scheduled runs
// must look like the operator's, or the e2e test would prove something about another program.
import { describe, expect, it } from 'vitest';
import { logicalJobOf } from '../../../src/policy/job.js';
import {
  driverPod,
  type ScheduledSparkApplication,
  type StoredSparkApplication,
  scheduledRun,
  sparkSubmitArgs,
} from '../../e2e/operator.js';

const app: StoredSparkApplication = {
  metadata: { name: 'clickstream', namespace: 'team-a', uid: 'u1' },
  spec: {
    mainApplicationFile: 'local:///opt/app/job.py',
    arguments: ['--query-name', 'events'],
    sparkConf: { 'spark.sql.streaming.checkpointLocation': 'gs://b/p/', 'spark.sql.shuffle.partitions': '4' },
    hadoopConf: { 'fs.gs.create.items.conflict.check.enable': 'false' },
    driver: { serviceAccount: 'spark' },
  },
};

describe('the Spark Operator stand-in', () => {
  it('submits sparkConf as --conf and hadoopConf as --conf spark.hadoop.*, then the file and its arguments', () => {
    const args = sparkSubmitArgs(app, {
      master: 'local[2]',
      mainFile: '/x/job.py',
      propertiesFile: '/x/d.conf',
      jars: ['/j.jar'],
    });
    expect(args).toEqual([
      '--master',
      'local[2]',
      '--deploy-mode',
      'client',
      '--name',
      'clickstream',
      '--properties-file',
      '/x/d.conf',
      '--jars',
      '/j.jar',
      '--conf',
      'spark.sql.streaming.checkpointLocation=gs://b/p/',
      '--conf',
      'spark.sql.shuffle.partitions=4',
      '--conf',
      'spark.hadoop.fs.gs.create.items.conflict.check.enable=false',
      '/x/job.py',
      '--query-name',
      'events',
    ]);
  });

  it("creates the driver pod with the operator's labels and the driver's service account", () => {
    const pod = driverPod(app, 'sub-1');
    expect(pod.metadata?.name).toBe('clickstream-driver');
    expect(pod.metadata?.labels).toMatchObject({
      'sparkoperator.k8s.io/app-name': 'clickstream',
      'sparkoperator.k8s.io/launched-by-spark-operator': 'true',
      'spark-role': 'driver',
    });
    expect(pod.spec?.serviceAccountName).toBe('spark');
  });

  it('names a scheduled run <scheduled>-<unix nanoseconds> and marks it so that it belongs to the schedule', () => {
    const scheduled: ScheduledSparkApplication = {
      metadata: { name: 'nightly', namespace: 'team-a', uid: 'u2', labels: { 'tidemark.dev/checkpoint': 'true' } },
      spec: { template: app.spec },
    };
    const run = scheduledRun(scheduled, new Date(1_796_000_000_123));
    expect(run.metadata.name).toBe('nightly-1796000000123000000');
    expect(run.metadata.labels).toEqual({
      'tidemark.dev/checkpoint': 'true',
      'sparkoperator.k8s.io/scheduled-app-name': 'nightly',
    });
    expect(logicalJobOf(run)).toEqual({
      kind: 'Job',
      job: { kind: 'ScheduledSparkApplication', namespace: 'team-a', name: 'nightly' },
    });
  });
});
