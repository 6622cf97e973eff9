// Emulator-only endpoints of the HTTP core (admin token): reset, counters, config, state dump.

import { ConfigError, mergeConfig } from './config.js';
import { boolParam, type CoreContext } from './context.js';
import { type EmuRequest, type EmuResponse, HttpError } from './contract.js';
import { parseJsonObject } from './json.js';
import type { CoreRoute } from './pipeline.js';

export function adminRoutes(
  ctx: CoreContext,
  initialConfig: () => import('./contract.js').EmulatorConfig,
): CoreRoute[] {
  const reset = (req: EmuRequest): EmuResponse => {
    ctx.store.reset();
    ctx.uploads.reset();
    ctx.limiter.reset();
    ctx.counters.reset();
    ctx.requestLog.reset();
    ctx.iam().reset();
    if (boolParam(req.query, 'config')) ctx.setConfig(initialConfig());
    return { status: 200, body: { reset: true, config: ctx.config() } };
  };

  const counters = (req: EmuRequest): EmuResponse => {
    const snapshot = ctx.counters.snapshot();
    if (boolParam(req.query, 'reset')) ctx.counters.reset();
    return { status: 200, body: snapshot };
  };

  const requests = (req: EmuRequest): EmuResponse => {
    const raw = req.query.get('since') ?? '0';
    const since = Number(raw);
    if (!Number.isInteger(since) || since < 0) {
      throw new HttpError(400, `since must be a whole number >= 0, got '${raw}'`, 'invalid');
    }
    return { status: 200, body: ctx.requestLog.snapshot(since) };
  };

  const putConfig = (req: EmuRequest): EmuResponse => {
    // The emulator's own config: a null is a bad value (400 naming the field), not an absent one.
    const body = parseJsonObject(req.body);
    try {
      ctx.setConfig(mergeConfig(ctx.config(), body));
    } catch (err) {
      if (err instanceof ConfigError) throw new HttpError(400, `Invalid emulator config: ${err.message}`, 'invalid');
      throw err;
    }
    return { status: 200, body: ctx.config() };
  };

  const state = (): EmuResponse => {
    const buckets = [...ctx.store.buckets.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((b) => ({
        name: b.name,
        uniformBucketLevelAccess: b.uniformBucketLevelAccess,
        hierarchicalNamespace: b.hierarchicalNamespace,
        metageneration: b.metageneration,
        objectCount: b.objects.size,
        objects: [...b.names.from('')].map((n) => {
          const o = b.objects.get(n);
          return { name: n, size: o?.data.length ?? 0, generation: String(o?.generation ?? '') };
        }),
      }));
    return {
      status: 200,
      body: {
        projectId: ctx.projectId,
        projectNumber: ctx.projectNumber,
        config: ctx.config(),
        buckets,
        uploadsInProgress: ctx.uploads.size,
        iam: ctx.iam().dump(),
      },
    };
  };

  return [
    { method: 'POST', path: '/_emulator/reset', op: 'emulator.reset', auth: 'admin', handler: reset },
    { method: 'GET', path: '/_emulator/counters', op: 'emulator.counters', auth: 'admin', handler: counters },
    {
      method: 'GET',
      path: '/_emulator/config',
      op: 'emulator.config.get',
      auth: 'admin',
      handler: () => ({ status: 200, body: ctx.config() }),
    },
    { method: 'GET', path: '/_emulator/requests', op: 'emulator.requests', auth: 'admin', handler: requests },
    { method: 'PUT', path: '/_emulator/config', op: 'emulator.config.put', auth: 'admin', handler: putConfig },
    { method: 'GET', path: '/_emulator/state', op: 'emulator.state', auth: 'admin', handler: state },
  ];
}
