// The GCS/IAM emulator: a Node HTTP server speaking the Cloud Storage JSON API (objects, buckets, uploads, batch)
// with the IAM half (src/emulator/iam/) deciding every call, plus realism knobs and admin endpoints. See
// docs/emulator.md. Nothing outside src/emulator/, src/cli/ and src/playground/ may import this.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { adminRoutes } from './admin.js';
import { batchRoutes } from './batch.js';
import { bucketRoutes } from './buckets.js';
import { DEFAULT_CONFIG, mergeConfig } from './config.js';
import type { CoreContext } from './context.js';
import type { EmulatorConfig, IamPart, StorageView } from './contract.js';
import { createIam } from './iam/index.js';
import { BucketWriteLimiter, Counters } from './knobs.js';
import { objectRoutes } from './objects.js';
import { type EmulatorLog, Pipeline, type RawCall, silentLog } from './pipeline.js';
import { RequestLog } from './request-log.js';
import { Router } from './router.js';
import { Store } from './store.js';
import { UploadSessions } from './upload-sessions.js';
import { uploadRoutes } from './uploads.js';
import { xmlRoutes } from './xml-api.js';

export type { EmulatorConfig, FaultRule } from './contract.js';
export type { EmulatorLog } from './pipeline.js';

export interface EmulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Default: a random token (returned as `adminToken`). */
  adminToken?: string;
  /** Default `tidemark-dev`. */
  projectId?: string;
  /** Default `123456789012`. */
  projectNumber?: string;
  config?: Partial<EmulatorConfig>;
  log?: EmulatorLog;
}

export interface RunningEmulator {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:4443 — the JSON API root. */
  url: string;
  adminToken: string;
  projectId: string;
  projectNumber: string;
  /**
   * In-process only, for benchmarks (gc-1m): writes objects straight into the store, without HTTP, IAM, latency or
   * counters, each with `updated`/`timeCreated` at `at` (ms since the epoch; default now). The bucket must exist.
   * Returns how many objects were written.
   */
  seedObjects(bucket: string, objects: Iterable<string>, data: Buffer, at?: number): number;
  stop(): Promise<void>;
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<RunningEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  const adminToken = opts.adminToken ?? randomBytes(24).toString('base64url');
  const projectId = opts.projectId ?? 'tidemark-dev';
  const projectNumber = opts.projectNumber ?? '123456789012';
  const log = opts.log ?? silentLog;
  if (!/^\d+$/.test(projectNumber)) throw new Error(`projectNumber must be digits, got '${projectNumber}'`);
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(projectId)) {
    throw new Error(`projectId '${projectId}' is not a valid Google Cloud project id`);
  }
  if (adminToken.length < 8 || /\s/.test(adminToken)) {
    throw new Error('the admin token must be at least 8 characters without spaces');
  }
  const initialConfig = mergeConfig(DEFAULT_CONFIG, opts.config ?? {});
  let config = initialConfig;
  let baseUrl = '';

  const store = new Store();
  const limiter = new BucketWriteLimiter();
  const counters = new Counters();
  const requestLog = new RequestLog();
  const view: StorageView = {
    bucketExists: (b) => store.bucket(b) !== undefined,
    uniformBucketLevelAccess: (b) => store.bucket(b)?.uniformBucketLevelAccess === true,
    hasObjectsUnder: (b, prefix) => store.hasObjectsUnder(b, prefix),
    bucketMetadataWrite: (b) => limiter.write(b, config.bucketWriteLimitPerSecond),
    config: () => config,
    projectId,
    projectNumber,
    baseUrl: () => baseUrl,
  };
  const iam: IamPart = createIam(view, { adminToken });
  const ctx: CoreContext = {
    store,
    iam: () => iam,
    config: () => config,
    setConfig: (c) => {
      config = c;
    },
    counters,
    requestLog,
    limiter,
    uploads: new UploadSessions(),
    baseUrl: () => baseUrl,
    projectId,
    projectNumber,
  };
  const router = new Router();
  const pipeline = new Pipeline({
    router,
    authorizer: () => iam.authorizer,
    config: () => config,
    counters,
    log,
    requestLog,
  });
  router.add([
    ...objectRoutes(ctx),
    ...uploadRoutes(ctx),
    ...bucketRoutes(ctx),
    ...batchRoutes(ctx, (call, o) => pipeline.run(call, o)),
    ...adminRoutes(ctx, () => initialConfig),
    ...iam.routes,
    ...xmlRoutes(ctx),
  ]);

  const server = createServer((req, res) => handle(req, res));
  function handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {}); // an interrupted upload: nothing to answer
    req.on('end', () => {
      const call: RawCall = {
        method: req.method ?? 'GET',
        url: new URL(req.url ?? '/', baseUrl),
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      pipeline.run(call, { top: true }).then(
        (out) => {
          if (out.reset) {
            req.socket.destroy();
            return;
          }
          res.writeHead(out.status, { ...out.headers, 'content-length': String(out.body.length) });
          if (out.truncate) {
            // Half the body, then the connection goes: the client sees a premature end of the answer.
            res.write(out.body.subarray(0, Math.floor(out.body.length / 2)), () => req.socket.destroy());
            return;
          }
          res.end(out.body);
        },
        (err: unknown) => {
          log.error({ err: String(err) }, 'emulator failed to answer');
          res.destroy();
        },
      );
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  baseUrl = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;

  let stopped: Promise<void> | undefined;
  return {
    url: baseUrl,
    adminToken,
    projectId,
    projectNumber,
    seedObjects(bucketName, names, data, at) {
      const b = store.bucket(bucketName);
      if (!b) throw new Error(`seedObjects: no bucket ${bucketName}`);
      let n = 0;
      for (const name of names) {
        const o = store.putObject(b, name, data, {});
        if (at !== undefined) {
          o.timeCreated = at;
          o.updated = at;
        }
        n++;
      }
      return n;
    },
    stop() {
      stopped ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await iam.close?.();
      })();
      return stopped;
    },
  };
}
