import type { KubeObject, KubeRest, ResourceType } from './rest.js';

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'> & { lastTransitionTime?: string };

// The patterns metav1.Condition validates (apimachinery's validation of conditions).
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const TYPE =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;

/** metav1.Time: RFC 3339 in UTC with second precision, e.g. 2024-05-01T10:00:00Z. */
export function formatTime(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits, e.g. 2024-05-01T10:00:00.123000Z. */
export function formatMicroTime(d: Date): string {
  return `${d.toISOString().slice(0, 23)}000Z`;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * Returns the conditions with `input` set (the array is not modified). Like apimachinery's SetStatusCondition:
 * lastTransitionTime changes only when the status changes; reason, message and observedGeneration are updated
 * in place; other conditions and their order are kept. Throws on a reason or type the API server would reject.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date = new Date(),
): Condition[] {
  if (!TYPE.test(input.type) || input.type.length > 316)
    throw new Error(`invalid condition type ${JSON.stringify(input.type)}`);
  if (!REASON.test(input.reason) || input.reason.length > 1024) {
    throw new Error(`invalid condition reason ${JSON.stringify(input.reason)}: must be CamelCase, e.g. GrantApplied`);
  }
  if (!['True', 'False', 'Unknown'].includes(input.status)) throw new Error(`invalid condition status ${input.status}`);
  if (input.message.length > 32768) throw new Error(`condition ${input.type}: message longer than 32768 characters`);
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === input.type);
  const prior = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message,
    lastTransitionTime:
      prior && prior.status === input.status ? prior.lastTransitionTime : (input.lastTransitionTime ?? formatTime(now)),
    ...(input.observedGeneration === undefined ? {} : { observedGeneration: input.observedGeneration }),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** Structural equality of JSON values (key order ignored): lets a reconcile skip a status write that changes nothing. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    ka.length === kb.length &&
    ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

export interface ObjectRef {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/**
 * Writes status through the `/status` subresource only, so a status write can never change spec, labels or
 * generation (the API server ignores everything but status there).
 */
export class StatusWriter {
  constructor(private readonly rest: KubeRest) {}

  /**
   * JSON merge patch of `.status`. Arrays (conditions) are replaced whole; a field set to null is removed.
   * With `resourceVersion` the write fails with 409 Conflict if the object changed since it was read.
   */
  async patch<T extends KubeObject>(
    rt: ResourceType,
    ref: ObjectRef,
    status: Record<string, unknown>,
    opts: { resourceVersion?: string } = {},
  ): Promise<T> {
    const name = ref.metadata?.name;
    if (!name) throw new Error('status patch: object has no metadata.name');
    const body: Record<string, unknown> = { status };
    if (opts.resourceVersion !== undefined) body.metadata = { resourceVersion: opts.resourceVersion };
    return this.rest.mergePatch<T>(rt, name, rt.namespaced ? ref.metadata?.namespace : undefined, body, 'status');
  }

  /** PUT of the whole status with the object's resourceVersion (409 Conflict when it is stale). */
  async replace<T extends KubeObject>(rt: ResourceType, obj: T): Promise<T> {
    if (!obj.metadata?.resourceVersion) throw new Error('status replace: object has no metadata.resourceVersion');
    return this.rest.replace<T>(rt, obj, 'status');
  }
}
