import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  KubernetesObjectApi,
} from '@kubernetes/client-node';
import { KubeRest } from './rest.js';

export interface KubeConfigSource {
  /** An explicit kubeconfig file; wins over everything else. */
  kubeconfig?: string | undefined;
  /** A context inside the kubeconfig; default its current-context. */
  context?: string | undefined;
  /** Environment to read KUBECONFIG / KUBERNETES_SERVICE_HOST from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export type KubeConfigOrigin = 'file' | 'env' | 'in-cluster' | 'home';

/**
 * Loads a KubeConfig in this order: an explicit path; $KUBECONFIG (colon-separated files are merged, like kubectl);
 * the in-cluster service account (when KUBERNETES_SERVICE_HOST is set); ~/.kube/config. Unlike the library's
 * `loadFromDefault`, it never falls back silently to http://localhost:8080: no configuration is an error.
 */
export function loadKubeConfig(source: KubeConfigSource = {}): { kubeConfig: KubeConfig; origin: KubeConfigOrigin } {
  const env = source.env ?? process.env;
  const kc = new KubeConfig();
  let origin: KubeConfigOrigin;
  if (source.kubeconfig) {
    if (!existsSync(source.kubeconfig)) throw new Error(`kubeconfig ${source.kubeconfig} does not exist`);
    kc.loadFromFile(source.kubeconfig);
    origin = 'file';
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(':').filter((f) => f !== '');
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length === files.length) throw new Error(`KUBECONFIG names no existing file: ${env.KUBECONFIG}`);
    let first = true;
    for (const f of files.filter((f) => existsSync(f))) {
      if (first) {
        kc.loadFromFile(f);
        first = false;
      } else {
        const more = new KubeConfig();
        more.loadFromFile(f);
        kc.mergeConfig(more, true);
      }
    }
    origin = 'env';
  } else if (env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
    origin = 'in-cluster';
  } else {
    const home = join(env.HOME ?? homedir(), '.kube', 'config');
    if (!existsSync(home)) {
      throw new Error('no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
    }
    kc.loadFromFile(home);
    origin = 'home';
  }
  if (source.context) {
    if (!kc.getContextObject(source.context)) throw new Error(`kubeconfig has no context named ${source.context}`);
    kc.setCurrentContext(source.context);
  }
  if (!kc.getCurrentCluster()) throw new Error('kubeconfig has no current context/cluster');
  return { kubeConfig: kc, origin };
}

/** The typed clients of the library, for code that prefers them over raw JSON. */
export interface KubeClients {
  kubeConfig: KubeConfig;
  /** Raw JSON client used by the runtime (informers, leases, events, status writes). */
  rest: KubeRest;
  core: CoreV1Api;
  customObjects: CustomObjectsApi;
  coordination: CoordinationV1Api;
  events: EventsV1Api;
  objects: KubernetesObjectApi;
}

export function makeClients(kubeConfig: KubeConfig): KubeClients {
  return {
    kubeConfig,
    rest: new KubeRest(kubeConfig),
    core: kubeConfig.makeApiClient(CoreV1Api),
    customObjects: kubeConfig.makeApiClient(CustomObjectsApi),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
    events: kubeConfig.makeApiClient(EventsV1Api),
    objects: KubernetesObjectApi.makeApiClient(kubeConfig),
  };
}
