// A leadership term's fence (issue 8 item 8): the Kubernetes client a term acts through refuses every request once
// the term's signal is aborted, and aborts the ones in flight. With the GCS client built on the same signal
// (createGcs({signal})) and the term's own event recorder on this client, nothing the old leader started can
// write anything after it lost the lease.
import type { KubeRest, RequestOptions } from '../kube/rest.js';
import { linkSignals } from '../kube/signals.js';

/** `rest`, every request of which is tied to `signal` (refused at once when it is aborted). */
export function fencedRest(rest: KubeRest, signal: AbortSignal): KubeRest {
  const request = (method: string, path: string, opts: RequestOptions = {}) => {
    if (signal.aborted) return Promise.reject(signal.reason ?? new Error('leadership ended'));
    // Linked per request and detached after it: AbortSignal.any would grow the term's signal by one entry per
    // request (src/kube/signals.ts).
    const linked = linkSignals([opts.signal, signal]);
    return rest.request(method, path, { ...opts, signal: linked.signal }).finally(linked.done);
  };
  return new Proxy(rest, {
    get(target, prop, receiver) {
      if (prop === 'request') return request;
      if (prop === 'stream') {
        return async (path: string, query: Parameters<KubeRest['stream']>[1], s: AbortSignal) => {
          if (signal.aborted) throw signal.reason ?? new Error('leadership ended');
          const linked = linkSignals([s, signal]);
          try {
            const res = await target.stream(path, query, linked.signal);
            res.once('close', linked.done);
            return res;
          } catch (err) {
            linked.done();
            throw err;
          }
        };
      }
      const v = Reflect.get(target, prop, receiver);
      // Methods run with the proxy as `this`, so get/create/replace/... go through the fenced `request`.
      return typeof v === 'function' ? v.bind(receiver) : v;
    },
  });
}
