// The CustomResourceDefinitions the controller needs, checked through API discovery (GET /apis/<group>/<version>,
// which every authenticated user may read: no extra RBAC). A controller started on a cluster without the Spark
// Operator's CRDs says which one is missing, in its log and in /readyz, instead of its informers backing off
// silently (issue 8 item 11); it keeps checking and becomes ready once they are installed.
import type { Check } from '../kube/health.js';
import type { Logger } from '../kube/log.js';
import { isNotFound, type KubeRest, type ResourceType } from '../kube/rest.js';

/** `plural.group` (a CRD's name) of a resource. */
export function crdName(r: Pick<ResourceType, 'plural' | 'group'>): string {
  return `${r.plural}.${r.group}`;
}

/** The resources (of API groups, not core) that the API server does not serve, as CRD names `plural.group`. */
export async function missingResources(rest: KubeRest, resources: readonly ResourceType[]): Promise<string[]> {
  const missing: string[] = [];
  const byGroupVersion = new Map<string, ResourceType[]>();
  for (const r of resources) {
    if (r.group === '') continue;
    const gv = `${r.group}/${r.version}`;
    byGroupVersion.set(gv, [...(byGroupVersion.get(gv) ?? []), r]);
  }
  for (const [gv, rs] of byGroupVersion) {
    let served = new Set<string>();
    try {
      const list = await rest.request<{ resources?: { name?: string }[] }>('GET', `/apis/${gv}`);
      served = new Set((list.resources ?? []).map((x) => x.name ?? ''));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    for (const r of rs) if (!served.has(r.plural)) missing.push(`${crdName(r)} (${r.kind} ${r.version})`);
  }
  return missing.sort();
}

export interface CrdWatch {
  /** /readyz check: fails naming every missing CRD. */
  check: Check;
  /** Resolves once every resource is served (or when stopped). */
  ready: Promise<void>;
  stop(): void;
}

/** Checks now and every `intervalMs` until all are served; logs each change of what is missing. */
export function watchRequiredCrds(o: {
  rest: KubeRest;
  resources: readonly ResourceType[];
  logger: Logger;
  intervalMs?: number;
}): CrdWatch {
  let missing: string[] | undefined;
  let error: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  const tick = async () => {
    try {
      const now = await missingResources(o.rest, o.resources);
      error = undefined;
      if (now.join() !== (missing ?? []).join() || missing === undefined) {
        if (now.length > 0) {
          o.logger.error(
            { missingCrds: now },
            `required CustomResourceDefinitions are not installed: ${now.join(', ')}; install them (the Spark Operator's CRDs come with its Helm chart) — the controller waits for them`,
          );
        } else if (missing !== undefined && missing.length > 0) {
          o.logger.info('every required CustomResourceDefinition is installed now');
        }
      }
      missing = now;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      o.logger.warn({ err }, 'could not check the required CustomResourceDefinitions');
    }
    if (missing !== undefined && missing.length === 0) {
      resolveReady();
      return;
    }
    if (!stopped) {
      timer = setTimeout(tick, o.intervalMs ?? 10_000);
      timer.unref();
    }
  };
  void tick();
  return {
    check: {
      name: 'crds',
      check: () => {
        if (missing === undefined) return { ok: false, message: error ?? 'not checked yet' };
        if (missing.length > 0)
          return { ok: false, message: `CustomResourceDefinitions not installed: ${missing.join(', ')}` };
        return { ok: true };
      },
    },
    ready,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      resolveReady();
    },
  };
}
