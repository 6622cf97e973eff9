// linkSignals: a request's signal follows the signals it is linked to and its timeout, and leaves nothing behind on
// them once done (AbortSignal.any, which it replaces, grows a long-lived signal by one entry per call on Node 20).
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { linkSignals } from '../../../src/kube/signals.js';
import { dependants } from '../../harness/signals.js';

describe('linkSignals', () => {
  it('aborts with the reason of whichever linked signal aborts', () => {
    const a = new AbortController();
    const b = new AbortController();
    const l = linkSignals([a.signal, undefined, b.signal]);
    expect(l.signal.aborted).toBe(false);
    b.abort(new Error('term over'));
    expect(l.signal.aborted).toBe(true);
    expect((l.signal.reason as Error).message).toBe('term over');
    expect(l.timedOut()).toBe(false);
  });

  it('starts aborted when a linked signal already is', () => {
    const a = new AbortController();
    a.abort(new Error('gone'));
    const l = linkSignals([a.signal], 60_000);
    expect(l.signal.aborted).toBe(true);
    expect(l.timedOut()).toBe(false);
  });

  it('aborts with a TimeoutError after its timeout, and says so', async () => {
    const a = new AbortController();
    const l = linkSignals([a.signal], 5);
    await new Promise<void>((r) => l.signal.addEventListener('abort', () => r(), { once: true }));
    expect(l.timedOut()).toBe(true);
    expect((l.signal.reason as DOMException).name).toBe('TimeoutError');
    expect(a.signal.aborted).toBe(false);
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0);
  });

  it('once done, is detached: no listener or dependant left on the linked signals, and no abort later', () => {
    const term = new AbortController();
    for (let i = 0; i < 1000; i++) linkSignals([term.signal], 60_000).done();
    expect(getEventListeners(term.signal, 'abort')).toHaveLength(0);
    expect(dependants(term.signal)).toBe(0);
    const l = linkSignals([term.signal]);
    l.done();
    term.abort();
    expect(l.signal.aborted).toBe(false);
  });

  it('the dependants check can fail: AbortSignal.any leaves one per call on a long-lived signal', () => {
    const term = new AbortController();
    for (let i = 0; i < 10; i++) AbortSignal.any([term.signal]);
    // Node versions that prune them (or hold them elsewhere) make this 0; Node 20 keeps all 10.
    expect(dependants(term.signal)).toBeGreaterThanOrEqual(process.versions.node.startsWith('20.') ? 10 : 0);
  });

  it('many requests in flight on one term at once raise no MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const term = new AbortController();
      const linked = Array.from({ length: 50 }, () => linkSignals([term.signal], 60_000));
      expect(getEventListeners(term.signal, 'abort')).toHaveLength(50);
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      for (const l of linked) l.done();
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
