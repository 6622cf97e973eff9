// The library's typed clients, for tests, the playground and the local cluster. The controller and `tidemark gc`
// never import this module: loading @kubernetes/client-node costs ~70 MB of RSS (see kubeconfig.ts).
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  KubernetesObjectApi,
} from '@kubernetes/client-node';
import { KubeRest } from './rest.js';

export { type KubeConfigOrigin, type KubeConfigSource, loadKubeConfig } from './kubeconfig.js';

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
