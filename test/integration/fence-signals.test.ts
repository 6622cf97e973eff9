// A leadership term's fenced client (src/controller/fence.ts) over the real API server: its requests and watches,
// however many, leave nothing attached to the term's signal once they are over (AbortSignal.any, used before,
// grew it by one entry per request for the life of the term: ~9 per job in the memory benchmark).
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { fencedRest } from '../../src/controller/fence.js';
import { Resources } from '../../src/kube/resources.js';
import { KubeRest, resourcePath } from '../../src/kube/rest.js';
import { testKubeConfig } from '../harness/kube.js';
import { dependants } from '../harness/signals.js';

describe('fencedRest and the term signal', () => {
  it('requests and closed watches leave no listener or dependant on the term signal; an aborted term refuses', async () => {
    const term = new AbortController();
    const rest = fencedRest(new KubeRest(testKubeConfig()), term.signal);
    const caller = new AbortController();
    for (let i = 0; i < 20; i++) {
      await rest.get(Resources.Namespace, 'default');
      await rest.get(Resources.Namespace, 'kube-system', undefined, { signal: caller.signal });
    }
    const watchStop = new AbortController();
    const res = await rest.stream(
      resourcePath(Resources.Namespace, {}),
      { watch: 1, timeoutSeconds: 30 },
      watchStop.signal,
    );
    const closed = new Promise<void>((r) => res.once('close', () => r()));
    res.resume();
    watchStop.abort();
    await closed;
    expect(getEventListeners(term.signal, 'abort')).toHaveLength(0);
    expect(dependants(term.signal)).toBe(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(dependants(caller.signal)).toBe(0);

    term.abort(new Error('leadership ended'));
    await expect(rest.get(Resources.Namespace, 'default')).rejects.toThrow('leadership ended');
  });

  it('aborting the term aborts a request in flight (a watch held open)', async () => {
    const term = new AbortController();
    const rest = fencedRest(new KubeRest(testKubeConfig()), term.signal);
    const res = await rest.stream(
      resourcePath(Resources.Namespace, {}),
      { watch: 1, timeoutSeconds: 60 },
      new AbortController().signal,
    );
    const closed = new Promise<void>((r) => res.once('close', () => r()));
    res.on('error', () => {});
    res.resume();
    term.abort(new Error('leadership ended'));
    await closed;
    expect(getEventListeners(term.signal, 'abort')).toHaveLength(0);
  });
});
