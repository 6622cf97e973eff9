// Generation and metageneration preconditions (`ifGenerationMatch` … and the `ifSource…` forms). Pure.
import { HttpError } from './contract.js';

export interface Versioned {
  generation: number;
  metageneration: number;
}

export interface Preconditions {
  ifGenerationMatch?: number;
  ifGenerationNotMatch?: number;
  ifMetagenerationMatch?: number;
  ifMetagenerationNotMatch?: number;
}

const NAMES = ['GenerationMatch', 'GenerationNotMatch', 'MetagenerationMatch', 'MetagenerationNotMatch'] as const;

/** A non-negative integer query parameter, or undefined; 400 when malformed. */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new HttpError(400, `Invalid value for ${name}: '${v}' is not a non-negative integer.`);
  return Number(v);
}

/** The preconditions in the query; `source` reads the `ifSource…` forms. */
export function readPreconditions(query: URLSearchParams, source = false): Preconditions {
  const out: Preconditions = {};
  for (const n of NAMES) {
    const v = intParam(query, source ? `ifSource${n}` : `if${n}`);
    if (v !== undefined) out[`if${n}`] = v;
  }
  if (out.ifGenerationMatch !== undefined && out.ifGenerationNotMatch !== undefined) {
    throw new HttpError(400, 'ifGenerationMatch and ifGenerationNotMatch are mutually exclusive.');
  }
  return out;
}

export function preconditionFailed(): HttpError {
  return new HttpError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
}

/** Which precondition fails for the live object (undefined = none), in Google's order. */
export function failedPrecondition(current: Versioned | undefined, p: Preconditions): keyof Preconditions | undefined {
  if (p.ifGenerationMatch !== undefined) {
    if (p.ifGenerationMatch === 0 ? current !== undefined : current?.generation !== p.ifGenerationMatch) {
      return 'ifGenerationMatch';
    }
  }
  if (p.ifGenerationNotMatch !== undefined) {
    if (current === undefined || current.generation === p.ifGenerationNotMatch) return 'ifGenerationNotMatch';
  }
  if (p.ifMetagenerationMatch !== undefined) {
    if (current === undefined || current.metageneration !== p.ifMetagenerationMatch) return 'ifMetagenerationMatch';
  }
  if (p.ifMetagenerationNotMatch !== undefined) {
    if (current === undefined || current.metageneration === p.ifMetagenerationNotMatch) {
      return 'ifMetagenerationNotMatch';
    }
  }
  return undefined;
}

/** Throws 412 `conditionNotMet` when a precondition fails. */
export function checkPreconditions(current: Versioned | undefined, p: Preconditions): void {
  if (failedPrecondition(current, p) !== undefined) throw preconditionFailed();
}
