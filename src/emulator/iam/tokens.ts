// Bearer tokens: opaque random strings, each standing for exactly one IAM member until it expires.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ADMIN_MEMBER, HttpError } from '../contract.js';

export const DEFAULT_TOKEN_LIFETIME_S = 3600;
/** Google's ceiling for generateAccessToken lifetimes (12 h with the org policy that allows extension). */
export const MAX_TOKEN_LIFETIME_S = 43_200;

interface Entry {
  member: string;
  expiresAt: number;
}

export interface MintedToken {
  token: string;
  member: string;
  expiresAt: number;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class TokenStore {
  private readonly tokens = new Map<string, Entry>();

  constructor(
    private readonly adminToken: string,
    private readonly now: () => number = Date.now,
  ) {
    if (adminToken === '') throw new Error('The admin token must not be empty.');
  }

  mint(member: string, lifetimeSeconds = DEFAULT_TOKEN_LIFETIME_S): MintedToken {
    if (!(lifetimeSeconds > 0) || lifetimeSeconds > MAX_TOKEN_LIFETIME_S) {
      throw new Error(`Token lifetime must be between 1 and ${MAX_TOKEN_LIFETIME_S} seconds.`);
    }
    if (this.tokens.size > 10_000) this.purgeExpired();
    const token = `ya29.emu.${randomBytes(24).toString('base64url')}`;
    const expiresAt = this.now() + lifetimeSeconds * 1000;
    this.tokens.set(token, { member, expiresAt });
    return { token, member, expiresAt };
  }

  /** The member a token stands for, or undefined when unknown or expired. */
  lookup(token: string): string | undefined {
    if (sameSecret(token, this.adminToken)) return ADMIN_MEMBER;
    const e = this.tokens.get(token);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.tokens.delete(token);
      return undefined;
    }
    return e.member;
  }

  /** Maps an Authorization header to a member; HttpError 401 as Google answers when missing or invalid. */
  authenticate(authorization: string | undefined): string {
    const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) {
      throw new HttpError(
        401,
        'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or ' +
          'other valid authentication credential.',
        'required',
        undefined,
        { 'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/"' },
      );
    }
    const member = this.lookup(m[1] as string);
    if (member === undefined) {
      throw new HttpError(401, 'Invalid Credentials', 'authError', undefined, {
        'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"',
      });
    }
    return member;
  }

  /** Forgets every token but the admin token. */
  reset(): void {
    this.tokens.clear();
  }

  /** Live tokens per member (the secrets themselves are never dumped). */
  summary(): Record<string, number> {
    this.purgeExpired();
    const out: Record<string, number> = {};
    for (const e of this.tokens.values()) out[e.member] = (out[e.member] ?? 0) + 1;
    return out;
  }

  private purgeExpired(): void {
    const now = this.now();
    for (const [t, e] of this.tokens) if (e.expiresAt <= now) this.tokens.delete(t);
  }
}
