// When a Checkpoint's own status proves its grant settled (so a restart or an unrelated change need not read GCS):
// src/checkpoint/reconciler.ts settledGrant. Anything short of "exactly this grant, read back, for this generation"
// must send the reconcile to GCS.
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../src/api/index.js';
import { grantFor } from '../../../src/checkpoint/grants.js';
import { settledGrant } from '../../../src/checkpoint/reconciler.js';

const job = { namespace: 'team-a', name: 'ingest' };
const place = { bucket: 'b', prefix: 'root/team-a/ingest/' };
const A = 'principal://a';
const B = 'principal://b';
const grant = grantFor(place, 'BucketCondition', 'roles/storage.objectUser', [A], job);

function cp(o: { generation?: number; status?: Partial<NonNullable<Checkpoint['status']>> } = {}): Checkpoint {
  return {
    apiVersion: 'tidemark.dev/v1alpha1',
    kind: 'Checkpoint',
    metadata: { ...job, generation: o.generation ?? 2 },
    spec: {
      policyName: 'p',
      jobRef: { kind: 'SparkApplication', name: 'ingest' },
      ...place,
      uri: 'gs://b/root/team-a/ingest/',
    },
    status: {
      phase: 'Bound',
      grants: [grant],
      grantedMembers: [A],
      conditions: [
        {
          type: 'AccessGranted',
          status: 'True',
          reason: 'Granted',
          message: '',
          lastTransitionTime: '2026-11-30T00:00:00Z',
          observedGeneration: 2,
        },
      ],
      ...o.status,
    },
  } as Checkpoint;
}

describe('settledGrant', () => {
  it('holds for exactly the desired grant, read back, for the current generation', () => {
    expect(settledGrant(cp(), grant)).toBe(true);
  });

  it.each([
    ['a newer generation (spec changed since the read-back)', cp({ generation: 3 })],
    [
      'an intent not yet read back (record wider than grantedMembers)',
      cp({ status: { grants: [{ ...grant, members: [A, B] }] } }),
    ],
    [
      'another grant still to revoke (a migration)',
      cp({ status: { grants: [grant, grantFor(place, 'ManagedFolder', 'roles/storage.objectUser', [A], job)] } }),
    ],
    ['no record', cp({ status: { grants: [] } })],
    ['AccessGranted pending', cp({ status: { conditions: [] } })],
    ['released', cp({ status: { phase: 'Released' } })],
  ])('does not hold for %s', (_, c) => {
    expect(settledGrant(c, grant)).toBe(false);
  });

  it('does not hold when the desired members or place differ from the record', () => {
    expect(settledGrant(cp(), { ...grant, members: [A, B] })).toBe(false);
    expect(settledGrant(cp(), grantFor(place, 'BucketCondition', 'roles/storage.objectViewer', [A], job))).toBe(false);
  });
});
