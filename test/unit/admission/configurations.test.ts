import { describe, expect, it } from 'vitest';
import { mutatingWebhooks, validatingWebhook } from '../../../src/admission/configurations.js';
import { validatePolicy } from '../../../src/admission/policy-validation.js';
import type { CheckpointPolicy } from '../../../src/api/index.js';

const pol = (name: string, root: string, ns: Record<string, string>, bucket = 'b-ckpt'): CheckpointPolicy => ({
  apiVersion: 'tidemark.dev/v1alpha1',
  kind: 'CheckpointPolicy',
  metadata: { name },
  spec: {
    namespaceSelector: { matchLabels: ns },
    jobSelector: {},
    storage: { bucket, rootPrefix: root },
    access: { workloadIdentity: { projectNumber: '1', pool: 'my-project.svc.id.goog' } },
  },
});

describe('tidemark-mutating', () => {
  it("has two Fail entries per policy with the policy's namespaceSelector; an invalid selector gets none", () => {
    const bad = pol('c-bad', 'x', {});
    bad.spec.namespaceSelector = { matchExpressions: [{ key: 'k', operator: 'Nope' as 'In' }] };
    const hooks = mutatingWebhooks(
      [pol('b', 'r2', { team: 'b' }), pol('a', 'r1', { team: 'a' }), bad],
      { kind: 'Service', namespace: 'tidemark-system', name: 'tidemark-webhook', port: 443 },
      'PEM',
    );
    expect(hooks.map((h) => h.name)).toEqual([
      'a.sparkapplications.tidemark.dev',
      'a.driver-pods.tidemark.dev',
      'b.sparkapplications.tidemark.dev',
      'b.driver-pods.tidemark.dev',
    ]);
    for (const h of hooks) {
      expect(h).toMatchObject({ failurePolicy: 'Fail', timeoutSeconds: 10, reinvocationPolicy: 'IfNeeded' });
      expect(h.clientConfig.caBundle).toBe(Buffer.from('PEM').toString('base64'));
    }
    expect(hooks[0]?.namespaceSelector).toEqual({ matchLabels: { team: 'a' } });
    expect(hooks[1]?.objectSelector).toEqual({
      matchLabels: { 'sparkoperator.k8s.io/launched-by-spark-operator': 'true', 'spark-role': 'driver' },
    });
    expect(hooks[1]?.clientConfig.service?.path).toBe('/mutate/driver-pod');
  });

  it('tidemark-validating fails open', () => {
    expect(validatingWebhook({ kind: 'URL', url: 'https://127.0.0.1:9443' }, undefined)).toMatchObject({
      name: 'checkpointpolicies.tidemark.dev',
      failurePolicy: 'Ignore',
      clientConfig: { url: 'https://127.0.0.1:9443/validate/checkpointpolicy' },
    });
  });
});

describe('validatePolicy', () => {
  const existing = pol('first', 'checkpoints/prod', { team: 'a' });
  const namespaces = [
    { name: 'ns-a', labels: { team: 'a' } },
    { name: 'ns-b', labels: { team: 'b' } },
  ];
  it.each([
    ['equal root', 'checkpoints/prod', false],
    ['nested root', 'checkpoints/prod/x', false],
    ['parent root', 'checkpoints', false],
    ['sibling with a common start', 'checkpoints/production', true],
  ])('%s: allowed=%s', (_why, root, allowed) => {
    const d = validatePolicy({
      operation: 'CREATE',
      object: pol('second', root, { team: 'b' }),
      others: [existing],
      namespaces,
    });
    expect(d.allowed).toBe(allowed);
  });

  it('another bucket never overlaps; an UPDATE of an overlapping policy only warns', () => {
    expect(
      validatePolicy({
        operation: 'CREATE',
        object: pol('s', 'checkpoints/prod', {}, 'other-b'),
        others: [existing],
        namespaces,
      }).allowed,
    ).toBe(true);
    const upd = validatePolicy({
      operation: 'UPDATE',
      object: pol('s', 'checkpoints/prod', { team: 'b' }),
      others: [existing],
      namespaces,
    });
    expect(upd).toMatchObject({ allowed: true, warnings: [expect.stringContaining('RootOverlap')] });
  });

  it('warns about namespaces two policies select', () => {
    const d = validatePolicy({
      operation: 'CREATE',
      object: pol('s', 'other', { team: 'a' }),
      others: [existing],
      namespaces,
    });
    expect(d).toMatchObject({ allowed: true, warnings: [expect.stringContaining('also selects namespace(s) ns-a')] });
  });
});
