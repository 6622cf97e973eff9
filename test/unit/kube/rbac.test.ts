// src/kube/rbac.ts is the one list of the controller's Kubernetes permissions. This test reads every Kubernetes
// call in the controller's code (src/ without the emulator, the playground, the local cluster and the CLI's
// offline commands) and checks that the list holds exactly the verbs those calls need: a new call without its
// permission fails here, and so does a permission nothing uses any more.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CLUSTER_PERMISSIONS,
  grantsOf,
  grantsOfPermissions,
  LEASE_PERMISSIONS,
  rulesOf,
} from '../../../src/kube/rbac.js';
import { Resources } from '../../../src/kube/resources.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SRC = join(ROOT, 'src');
/** Code that never runs in the controller, or talks to a cluster it started itself. */
const OUTSIDE = ['emulator', 'playground', 'localcluster', 'plan', 'cli/plan.ts', 'cli/emulator.ts'];
/**
 * Calls this scan cannot read (the resource is a parameter or a constant of the file, a raw request, or an Informer
 * built by hand): each file is listed with the grants its calls need, so that the test still counts them. A new such
 * call site fails the test until it is listed here.
 */
const GENERIC: Record<string, readonly string[]> = {
  // Informer: list and watch of the resource each `informer(Resources.X)` names (counted below).
  'kube/informer.ts': [],
  // StatusWriter: not used by the controller today (policy-status.ts and kube-writer.ts PUT /status themselves).
  'kube/status.ts': [],
  // The fenced client of a leadership term forwards whatever the term's code asks (counted at those call sites).
  'controller/fence.ts': [],
  // Discovery of the CRDs' group versions: non-resource URLs, allowed to every user by system:discovery.
  'controller/crd-check.ts': [],
  // The webhook's serving certificate in its Secret (the --webhook-secret namespace).
  'admission/cert-keeper.ts': ['/secrets:get', '/secrets:create', '/secrets:update'],
  // The webhook configurations' entries and caBundle.
  'admission/config-keeper.ts': [
    'admissionregistration.k8s.io/mutatingwebhookconfigurations:get',
    'admissionregistration.k8s.io/mutatingwebhookconfigurations:create',
    'admissionregistration.k8s.io/mutatingwebhookconfigurations:update',
    'admissionregistration.k8s.io/validatingwebhookconfigurations:get',
    'admissionregistration.k8s.io/validatingwebhookconfigurations:create',
    'admissionregistration.k8s.io/validatingwebhookconfigurations:update',
  ],
  // Driver pods: an Informer on the driver label, and a JSON patch that removes Tidemark's scheduling gate.
  'admission/gate-controller.ts': ['/pods:list', '/pods:watch', '/pods:patch'],
  // A live read when the admission caches miss.
  'admission/view.ts': [
    '/namespaces:get',
    'sparkoperator.k8s.io/sparkapplications:get',
    'sparkoperator.k8s.io/scheduledsparkapplications:get',
  ],
  // The GC run's fresh lists (policies, namespaces, Checkpoints by label, jobs) and its live re-check of a job.
  'gc/run.ts': [
    'tidemark.dev/checkpointpolicies:list',
    '/namespaces:list',
    'tidemark.dev/checkpoints:list',
    'sparkoperator.k8s.io/sparkapplications:list',
    'sparkoperator.k8s.io/scheduledsparkapplications:list',
    'sparkoperator.k8s.io/sparkapplications:get',
    'sparkoperator.k8s.io/scheduledsparkapplications:get',
  ],
};

const VERB: Record<string, string> = {
  get: 'get',
  create: 'create',
  replace: 'update',
  mergePatch: 'patch',
  delete: 'delete',
};

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const rel = relative(SRC, path);
    if (OUTSIDE.some((o) => rel === o || rel.startsWith(`${o}/`))) continue;
    if (statSync(path).isDirectory()) out.push(...files(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The text of a call's arguments, from the '(' at `open` to its matching ')'. */
function argsAt(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error('unbalanced call');
}

function resourceOf(name: string): { group: string; plural: string } {
  const r = (Resources as Record<string, { group: string; plural: string }>)[name];
  if (!r) throw new Error(`Resources.${name} is not a known resource`);
  return r;
}

interface Scan {
  grants: Set<string>;
  generic: Set<string>;
  typedClients: string[];
}

function scan(): Scan {
  const grants = new Set<string>();
  const generic = new Set<string>();
  const typedClients: string[] = [];
  for (const file of files(SRC)) {
    const rel = relative(SRC, file);
    const text = readFileSync(file, 'utf8');
    if (rel !== 'kube/client.ts' && /makeApiClient|makeClients\(|KubernetesObjectApi/.test(text))
      typedClients.push(rel);
    for (const m of text.matchAll(
      /\brest\.(get|create|replace|mergePatch|delete|request|stream)\s*(<(?:[^<>(]|<(?:[^<>(]|<[^<>(]*>)*>)*>)?\(/g,
    )) {
      const args = argsAt(text, (m.index ?? 0) + m[0].length - 1);
      const first = /^\s*Resources\.(\w+)/.exec(args);
      const method = m[1] as string;
      if (!first || !(method in VERB)) {
        generic.add(rel);
        continue;
      }
      const r = resourceOf(first[1] as string);
      const sub = /,\s*'status'\s*(,|$)/.test(args) ? '/status' : '';
      grants.add(`${r.group}/${r.plural}${sub}:${VERB[method]}`);
    }
    for (const m of text.matchAll(/\binformer\s*(<[^>(]*>)?\(\s*Resources\.(\w+)/g)) {
      const r = resourceOf(m[2] as string);
      grants.add(`${r.group}/${r.plural}:list`);
      grants.add(`${r.group}/${r.plural}:watch`);
    }
  }
  for (const rel of generic) for (const g of GENERIC[rel] ?? []) grants.add(g);
  return { grants, generic, typedClients };
}

describe('the RBAC list (src/kube/rbac.ts) against the code', () => {
  const found = scan();

  it('holds exactly the verbs the controller calls', () => {
    const listed = [...grantsOfPermissions(CLUSTER_PERMISSIONS), ...grantsOfPermissions(LEASE_PERMISSIONS)].sort();
    expect(listed).toEqual([...found.grants].sort());
  });

  it('knows every call site whose resource is a parameter', () => {
    expect([...found.generic].sort()).toEqual(Object.keys(GENERIC).sort());
  });

  it('sees no typed client in the controller (their calls would escape this check)', () => {
    expect(found.typedClients).toEqual([]);
  });

  it('names every verb: no wildcard, no verb Kubernetes does not have', () => {
    for (const p of [...CLUSTER_PERMISSIONS, ...LEASE_PERMISSIONS]) {
      expect(p.resource).not.toContain('*');
      for (const v of p.verbs) expect(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']).toContain(v);
    }
  });

  it('rulesOf keeps every grant and adds none', () => {
    expect(grantsOf(rulesOf(CLUSTER_PERMISSIONS))).toEqual(grantsOfPermissions(CLUSTER_PERMISSIONS));
  });
});
