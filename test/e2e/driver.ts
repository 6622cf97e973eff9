// Runs a Spark driver the way the Spark Operator's driver Pod would on GKE: spark-submit of the stored
// SparkApplication (operator.ts), the image's defaults as a properties file, and the pod's identity: Workload
// Identity gives the pod's Kubernetes service account the member
// principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL/subject/ns/NS/sa/KSA,
// handed out by the metadata server. Here that is one of the emulator's per-principal metadata servers; the Java
// connector prepends GCE_METADATA_HOST to the path, so it gets the path form `127.0.0.1:PORT/_emulator/metadata/ID`.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { type StoredSparkApplication, sparkSubmitArgs } from './operator.js';
import type { Playground } from './stack.js';
import type { E2eTools } from './tools.js';

export const JOB_FILE = join(import.meta.dirname, 'job', 'streaming_job.py');
/** Where the SparkApplications of the test say the job lives inside their image. */
export const IMAGE_JOB_FILE = 'local:///opt/tidemark-e2e/streaming_job.py';
const LINE_PREFIX = 'tidemark-e2e:';

/**
 * What the job's image would carry in spark-defaults.conf, not what Tidemark injects: these depend on the image
 * (its Hadoop and connector versions) and on the platform (GKE's metadata server, Google's endpoint), not on
 * least privilege. Tidemark injects only the settings a prefix-only grant needs (README "What Tidemark changes").
 */
export function imageDefaults(gcsEndpoint: string, project: string): Record<string, string> {
  return {
    // The connector on the classpath and registered for gs:// (an image that bundles it has this).
    'spark.hadoop.fs.gs.impl': 'com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem',
    'spark.hadoop.fs.AbstractFileSystem.gs.impl': 'com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS',
    // Hadoop 3.5.0 (in pyspark 4.3) ships fs.gs.* defaults such as `64m` that connector 3.1.3 cannot parse.
    'spark.hadoop.fs.gs.block.size': String(64 * 1024 * 1024),
    'spark.hadoop.fs.gs.rewrite.max.chunk.size': String(512 * 1024 * 1024),
    'spark.hadoop.fs.gs.outputstream.buffer.size': String(8 * 1024 * 1024),
    'spark.hadoop.fs.gs.inputstream.inplace.seek.limit': String(8 * 1024 * 1024),
    'spark.hadoop.fs.gs.inputstream.min.range.request.size': String(2 * 1024 * 1024),
    // GKE: tokens from the metadata server; here Google's endpoint is the emulator.
    'spark.hadoop.fs.gs.auth.type': 'COMPUTE_ENGINE',
    'spark.hadoop.fs.gs.project.id': project,
    'spark.hadoop.fs.gs.storage.root.url': `${gcsEndpoint}/`,
    // A small, quiet local run: no UI, two shuffle partitions (so two state-store partitions), fast JVM start-up.
    'spark.ui.enabled': 'false',
    'spark.ui.showConsoleProgress': 'false',
    'spark.sql.shuffle.partitions': '2',
    'spark.driver.extraJavaOptions': '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC',
    'spark.driver.host': '127.0.0.1',
    'spark.driver.bindAddress': '127.0.0.1',
  };
}

export interface DriverRun {
  code: number | null;
  /** Everything the driver printed (stdout and stderr, interleaved). */
  output: string;
  /** The job's own lines (`tidemark-e2e: …`). */
  lines: string[];
  /** The batch ids the job saw complete, in order. */
  batches: number[];
  member: string;
  tookMs: number;
}

export interface Driver {
  /** The Workload Identity member of a pod's Kubernetes service account. */
  memberOf(namespace: string, serviceAccount: string): string;
  /** Runs the driver of `app` as `pod`'s identity to its end (the job stops itself after `batches` batches). */
  run(app: StoredSparkApplication, pod: V1Pod, o?: { batches?: number }): Promise<DriverRun>;
}

export async function makeDriver(stack: Playground, tools: E2eTools, workDir: string): Promise<Driver> {
  const project = stack.env.get('GOOGLE_CLOUD_PROJECT') ?? '';
  const propertiesFile = join(workDir, 'spark-defaults.conf');
  await writeFile(
    propertiesFile,
    `${Object.entries(imageDefaults(stack.gcsEndpoint, project))
      .map(([k, v]) => `${k} ${v}`)
      .join('\n')}\n`,
  );
  const metadataHosts = new Map<string, string>();
  const metadataHostFor = async (member: string) => {
    let host = metadataHosts.get(member);
    if (!host) {
      const reg = (await stack.admin('POST', '/_emulator/metadata-servers', { principal: member })) as {
        pathHost: string;
      };
      host = reg.pathHost;
      metadataHosts.set(member, host);
    }
    return host;
  };
  const memberOf = (namespace: string, serviceAccount: string) =>
    `principal://iam.googleapis.com/projects/${stack.projectNumber}/locations/global/workloadIdentityPools/${stack.pool}/subject/ns/${namespace}/sa/${serviceAccount}`;

  return {
    memberOf,
    async run(app, pod, o = {}) {
      const namespace = pod.metadata?.namespace ?? app.metadata.namespace;
      const member = memberOf(namespace, pod.spec?.serviceAccountName || 'default');
      const host = await metadataHostFor(member);
      if (app.spec.mainApplicationFile !== IMAGE_JOB_FILE) {
        throw new Error(
          `mainApplicationFile ${app.spec.mainApplicationFile}: the test image only has ${IMAGE_JOB_FILE}`,
        );
      }
      const withBatches = {
        ...app,
        spec: { ...app.spec, arguments: [...(app.spec.arguments ?? []), '--batches', String(o.batches ?? 5)] },
      };
      const args = sparkSubmitArgs(withBatches, {
        master: 'local[2]',
        mainFile: JOB_FILE,
        propertiesFile,
        jars: [tools.connectorJar],
      });
      const venvBin = join(tools.python, '..');
      const env: NodeJS.ProcessEnv = {
        PATH: `${venvBin}:${join(tools.java, '..')}:${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? workDir,
        SPARK_HOME: tools.sparkHome,
        PYSPARK_PYTHON: tools.python,
        PYSPARK_DRIVER_PYTHON: tools.python,
        SPARK_LOCAL_IP: '127.0.0.1',
        GCE_METADATA_HOST: host,
        TMPDIR: workDir,
      };
      const started = Date.now();
      const { code, output } = await spawnCollect('bash', [join(tools.sparkHome, 'bin', 'spark-submit'), ...args], {
        env,
        cwd: workDir,
        timeoutMs: 300_000,
      });
      const lines = output
        .split('\n')
        .filter((l) => l.startsWith(LINE_PREFIX))
        .map((l) => l.trimEnd());
      const batches = lines.flatMap((l) => {
        const m = /^tidemark-e2e: batch (\d+) done/.exec(l);
        return m ? [Number(m[1])] : [];
      });
      return { code, output, lines, batches, member, tookMs: Date.now() - started };
    },
  };
}

function spawnCollect(
  cmd: string,
  args: string[],
  o: { env: NodeJS.ProcessEnv; cwd: string; timeoutMs: number },
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: o.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const keep = (d: Buffer) => {
      output += d.toString('utf8');
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      output += `\n[e2e] the driver ran longer than ${o.timeoutMs} ms: killed\n`;
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, o.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
