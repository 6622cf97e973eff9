// Matches request paths against Route templates (contract.ts): literal segments, `:name` parameters, `:name:verb`
// parameters that end in a Google custom verb, and a final `:name*` that captures the rest. Matching works on the
// raw (still percent-encoded) segments, so an object name with an encoded `/` stays one segment; parameters are
// percent-decoded afterwards.
import { HttpError, type Route } from './contract.js';

type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'param'; name: string; verb?: string }
  | { kind: 'rest'; name: string };

interface Compiled {
  route: Route;
  segments: Segment[];
  hasRest: boolean;
  /** Number of literal segments: the more, the more specific. */
  literals: number;
  /** Number of custom-verb segments (`:name:verb`), more specific than a plain parameter. */
  verbs: number;
}

export interface Match {
  route: Route;
  params: Record<string, string>;
}

function compile(route: Route): Compiled {
  if (!route.path.startsWith('/')) throw new Error(`route path must start with '/': ${route.path}`);
  const raw = route.path.split('/').slice(1);
  const segments: Segment[] = raw.map((s, i) => {
    if (!s.startsWith(':')) return { kind: 'literal', text: s };
    const body = s.slice(1);
    if (body.endsWith('*')) {
      if (i !== raw.length - 1) throw new Error(`a ':name*' segment must be last: ${route.path}`);
      return { kind: 'rest', name: body.slice(0, -1) };
    }
    const colon = body.indexOf(':');
    if (colon >= 0) return { kind: 'param', name: body.slice(0, colon), verb: body.slice(colon + 1) };
    return { kind: 'param', name: body };
  });
  const hasRest = segments.some((s) => s.kind === 'rest');
  const literals = segments.filter((s) => s.kind === 'literal').length;
  const verbs = segments.filter((s) => s.kind === 'param' && s.verb !== undefined).length;
  return { route, segments, hasRest, literals, verbs };
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `Invalid percent-encoding in path segment '${segment}'.`);
  }
}

/** A key that identifies what a template matches, to find two routes that would shadow each other. */
function shapeKey(c: Compiled): string {
  return `${c.route.method} ${c.segments
    .map((s) => (s.kind === 'literal' ? s.text : s.kind === 'rest' ? '*' : `:${s.verb ?? ''}`))
    .join('/')}`;
}

export class Router {
  private readonly routes: Compiled[] = [];

  constructor(routes: Route[] = []) {
    this.add(routes);
  }

  /** Adds routes; throws when one has the same method and shape as a route already added. */
  add(routes: Route[]): void {
    const seen = new Map(this.routes.map((c) => [shapeKey(c), c.route.path]));
    for (const r of routes) {
      const c = compile(r);
      const key = shapeKey(c);
      const other = seen.get(key);
      if (other !== undefined) throw new Error(`route conflict: ${r.method} ${r.path} and ${other}`);
      seen.set(key, r.path);
      this.routes.push(c);
    }
    // Exact-length templates before catch-alls; among each, more literal segments first, then custom verbs.
    this.routes.sort((a, b) => Number(a.hasRest) - Number(b.hasRest) || b.literals - a.literals || b.verbs - a.verbs);
  }

  /** The route for a method and raw path (no query), or undefined; `methods` lists the methods the path allows. */
  match(method: string, rawPath: string): Match | { route: undefined; methods: string[] } {
    const parts = rawPath.split('/').slice(1);
    const methods = new Set<string>();
    for (const c of this.routes) {
      const params = matchSegments(c, parts);
      if (!params || (c.route.accepts && !c.route.accepts(params))) continue;
      if (c.route.method !== method) {
        methods.add(c.route.method);
        continue;
      }
      return { route: c.route, params };
    }
    return { route: undefined, methods: [...methods] };
  }
}

function matchSegments(c: Compiled, parts: string[]): Record<string, string> | undefined {
  const { segments } = c;
  if (c.hasRest ? parts.length < segments.length : parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as Segment;
    if (seg.kind === 'rest') {
      const rest = parts.slice(i);
      if (rest.length === 1 && rest[0] === '') return undefined;
      params[seg.name] = rest.map(decode).join('/');
      return params;
    }
    const part = parts[i] as string;
    if (seg.kind === 'literal') {
      if (part !== seg.text) return undefined;
      continue;
    }
    let value = part;
    if (seg.verb !== undefined) {
      // The verb may arrive as `:verb` or percent-encoded `%3Averb`.
      const decoded = decode(part);
      const suffix = `:${seg.verb}`;
      if (!decoded.endsWith(suffix) || decoded.length === suffix.length) return undefined;
      params[seg.name] = decoded.slice(0, -suffix.length);
      continue;
    }
    if (value === '') return undefined;
    value = decode(value);
    params[seg.name] = value;
  }
  return params;
}
