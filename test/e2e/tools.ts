// The end-to-end test's tools: PySpark from PyPI in a virtualenv and the Hadoop GCS connector's shaded jar from
// Maven Central, both at pinned versions, cached in ~/.cache/tidemark/e2e/<hash of the pins and the interpreter>/
// with the client suites' machinery (test/clients/toolchain.ts: a lock, a temporary directory renamed into place).
// `ensureE2eTools` installs them (the "e2e tools" phase of .ci/run, `npm run e2e:tools`); the test itself only
// calls `locateE2eTools`, which never downloads anything and fails with how to install them.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { findOnPath, isExecutable } from '../../src/localcluster/binaries.js';
import {
  cached,
  cacheRoot,
  captureVersion,
  hashOf,
  type Log,
  pythonInterpreter,
  run as runTool,
} from '../clients/toolchain.js';

/** PySpark 4.3.0 bundles Hadoop 3.5 and runs on Java 17. */
export const PYSPARK_VERSION = '4.3.0';

/** com.google.cloud.bigdataoss:gcs-connector:3.1.3, classifier shaded (checksums from Maven Central). */
export const GCS_CONNECTOR = {
  group: 'com.google.cloud.bigdataoss',
  artifact: 'gcs-connector',
  version: '3.1.3',
  classifier: 'shaded',
  sha1: '83f25dae445f22caec07e5e15dd31d127cee4749',
  sha256: '34752716758917d9a266ca7e770ffdd3fd430c7a3c48078c525264681da91db1',
  size: 36_933_559,
} as const;

const JAR = `${GCS_CONNECTOR.artifact}-${GCS_CONNECTOR.version}-${GCS_CONNECTOR.classifier}.jar`;
const KIND = 'e2e';
export const INSTALL_HINT =
  'install them once with `npm run e2e:tools` (bash .ci/run does it in its "e2e tools" phase): it needs python3 ' +
  'with venv, PyPI and Maven Central';

export interface E2eTools {
  dir: string;
  python: string;
  /** The pyspark package directory: SPARK_HOME for its bin/spark-submit. */
  sparkHome: string;
  connectorJar: string;
  java: string;
}

function mavenUrl(): string {
  const repo = (process.env.TIDEMARK_MAVEN_REPO || 'https://repo1.maven.org/maven2').replace(/\/+$/, '');
  const { group, artifact, version } = GCS_CONNECTOR;
  return `${repo}/${group.replaceAll('.', '/')}/${artifact}/${version}/${JAR}`;
}

/** The cache entry for these pins and this interpreter: ~/.cache/tidemark/e2e/<hash>. */
async function entryFor(): Promise<{ interpreter: string; version: string; entry: string }> {
  const interpreter = pythonInterpreter('the end-to-end test');
  const version = await captureVersion(interpreter);
  const entry = hashOf([
    ['pyspark', PYSPARK_VERSION],
    ['gcs-connector', `${GCS_CONNECTOR.version}:${GCS_CONNECTOR.classifier}:${GCS_CONNECTOR.sha256}`],
    ['python', version],
  ]);
  return { interpreter, version, entry };
}

function sparkHomeIn(dir: string): string | undefined {
  const lib = join(dir, 'venv', 'lib');
  if (!existsSync(lib)) return undefined;
  for (const py of readdirSync(lib)) {
    const home = join(lib, py, 'site-packages', 'pyspark');
    if (existsSync(join(home, 'bin', 'spark-submit'))) return home;
  }
  return undefined;
}

function complete(dir: string): boolean {
  return existsSync(join(dir, 'READY')) && isExecutable(join(dir, 'venv', 'bin', 'python')) && !!sparkHomeIn(dir);
}

function javaBinary(): string | undefined {
  const home = process.env.JAVA_HOME;
  if (home && isExecutable(join(home, 'bin', 'java'))) return join(home, 'bin', 'java');
  return findOnPath('java');
}

function toolsIn(dir: string): E2eTools {
  const java = javaBinary();
  if (!java) throw new Error('the end-to-end test needs Java 17 (java on PATH or JAVA_HOME) for Spark');
  return {
    dir,
    python: join(dir, 'venv', 'bin', 'python'),
    sparkHome: sparkHomeIn(dir) as string,
    connectorJar: join(dir, JAR),
    java,
  };
}

/** The installed tools, or an Error saying what is missing and how to install it. Never downloads. */
export async function locateE2eTools(): Promise<E2eTools> {
  const { entry } = await entryFor();
  const dir = join(cacheRoot(KIND), entry);
  if (!complete(dir)) {
    throw new Error(
      `The end-to-end test's tools (pyspark ${PYSPARK_VERSION} in a virtualenv and ${JAR}) are not installed in ${dir}: ${INSTALL_HINT}.`,
    );
  }
  return toolsIn(dir);
}

async function download(url: string, path: string): Promise<void> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`GET ${url}: HTTP ${res.status}`);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(path));
}

async function fileHash(path: string, algorithm: string): Promise<string> {
  const h = createHash(algorithm);
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/** Installs the tools into the cache if they are not there yet (PyPI and Maven Central); returns them. */
export async function ensureE2eTools(log: Log): Promise<E2eTools & { built: boolean }> {
  const { interpreter, version, entry } = await entryFor();
  const { dir, built } = await cached(
    KIND,
    entry,
    complete,
    async (tmp) => {
      log(`e2e: a virtualenv with ${interpreter} (${version}) and pyspark==${PYSPARK_VERSION} (about 500 MB)`);
      const venv = join(tmp, 'venv');
      await mkdir(tmp, { recursive: true });
      await runTool(interpreter, ['-m', 'venv', venv], cacheRoot(KIND));
      const quiet = ['--disable-pip-version-check', '--no-input', '--quiet'];
      await runTool(
        join(venv, 'bin', 'python'),
        ['-m', 'pip', 'install', ...quiet, '--require-virtualenv', `pyspark==${PYSPARK_VERSION}`],
        cacheRoot(KIND),
        { ...process.env, PIP_REQUIRE_VIRTUALENV: '1' },
      );
      const url = mavenUrl();
      log(`e2e: ${url}`);
      const jar = join(tmp, JAR);
      await download(url, jar);
      const size = statSync(jar).size;
      const sha1 = await fileHash(jar, 'sha1');
      const sha256 = await fileHash(jar, 'sha256');
      if (size !== GCS_CONNECTOR.size || sha1 !== GCS_CONNECTOR.sha1 || sha256 !== GCS_CONNECTOR.sha256) {
        throw new Error(
          `${url}: got ${size} bytes, sha1 ${sha1}, sha256 ${sha256}; expected ${GCS_CONNECTOR.size} bytes, ` +
            `sha1 ${GCS_CONNECTOR.sha1}, sha256 ${GCS_CONNECTOR.sha256}`,
        );
      }
      await writeFile(join(tmp, 'READY'), `${new Date().toISOString()}\n`);
    },
    log,
  );
  return { ...toolsIn(dir), built };
}
