// The emulator's runtime knobs: defaults, and validation of a partial update (`PUT /_emulator/config`, start options,
// CLI flags). Pure.
import type { EmulatorConfig, FaultRule } from './contract.js';

export const DEFAULT_CONFIG: EmulatorConfig = {
  latencyMs: 0,
  bucketWriteLimitPerSecond: 1,
  iamPropagationDelayMs: 0,
  faults: [],
};

const KEYS = ['latencyMs', 'bucketWriteLimitPerSecond', 'iamPropagationDelayMs', 'faults'] as const;
const RULE_KEYS = ['op', 'rate', 'kind', 'delayMs', 'member'];
const NAMED_KINDS = ['reset', 'slow', 'malformedJson', 'truncated'] as const;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function nonNegative(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(`${what} must be a finite number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function faultRule(value: unknown, i: number): FaultRule {
  const where = `faults[${i}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${where} must be an object {op, rate, kind, delayMs?, member?}`);
  }
  const r = value as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!RULE_KEYS.includes(k))
      throw new ConfigError(`${where}: unknown field '${k}' (allowed: ${RULE_KEYS.join(', ')})`);
  }
  if (typeof r.op !== 'string' || r.op === '') {
    throw new ConfigError(`${where}.op must be a method id such as storage.objects.get, or '*'`);
  }
  const rate = r.rate;
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
    throw new ConfigError(`${where}.rate must be a number from 0 to 1, got ${JSON.stringify(rate)}`);
  }
  const kind = r.kind;
  if (!(typeof kind === 'string' && (NAMED_KINDS as readonly string[]).includes(kind)) && !Number.isInteger(kind)) {
    throw new ConfigError(
      `${where}.kind must be an HTTP status (400-599) or one of ${NAMED_KINDS.map((k) => `'${k}'`).join(', ')}, got ${JSON.stringify(kind)}`,
    );
  }
  if (typeof kind === 'number' && (kind < 400 || kind > 599)) {
    throw new ConfigError(`${where}.kind must be an HTTP error status from 400 to 599, got ${kind}`);
  }
  const rule: FaultRule = { op: r.op, rate, kind: kind as FaultRule['kind'] };
  if (r.delayMs !== undefined) rule.delayMs = nonNegative(r.delayMs, `${where}.delayMs`);
  if (kind === 'slow' && rule.delayMs === undefined) throw new ConfigError(`${where}: kind 'slow' needs delayMs`);
  if (r.member !== undefined) {
    if (typeof r.member !== 'string' || r.member === '') throw new ConfigError(`${where}.member must be an IAM member`);
    rule.member = r.member;
  }
  return rule;
}

/** Checks a partial config (unknown keys and bad values are errors) and returns it typed. */
export function parseConfigPatch(value: unknown): Partial<EmulatorConfig> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError('the config must be a JSON object');
  }
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (!(KEYS as readonly string[]).includes(k)) {
      throw new ConfigError(`unknown config field '${k}' (allowed: ${KEYS.join(', ')})`);
    }
  }
  const out: Partial<EmulatorConfig> = {};
  if (v.latencyMs !== undefined) out.latencyMs = nonNegative(v.latencyMs, 'latencyMs');
  if (v.bucketWriteLimitPerSecond !== undefined) {
    out.bucketWriteLimitPerSecond = nonNegative(v.bucketWriteLimitPerSecond, 'bucketWriteLimitPerSecond');
  }
  if (v.iamPropagationDelayMs !== undefined) {
    out.iamPropagationDelayMs = nonNegative(v.iamPropagationDelayMs, 'iamPropagationDelayMs');
  }
  if (v.faults !== undefined) {
    if (!Array.isArray(v.faults)) throw new ConfigError('faults must be an array of rules');
    out.faults = v.faults.map(faultRule);
  }
  return out;
}

/** A new config: `base` with the (validated) patch applied; `faults`, when given, replaces the list. */
export function mergeConfig(base: EmulatorConfig, patch: unknown): EmulatorConfig {
  const p = parseConfigPatch(patch);
  return { ...base, ...p, faults: (p.faults ?? base.faults).map((f) => ({ ...f })) };
}
