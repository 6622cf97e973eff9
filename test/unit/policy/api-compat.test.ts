// The pure modules declare the narrow structural inputs they read; this file holds them to src/api's generated
// types, so a CRD change that breaks them fails `tsc` (and the assertions below keep the constants in step).
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { IamCondition } from '../../../src/access/condition.js';
import {
  Annotations,
  type CheckpointStatus as ApiCheckpointStatus,
  type LabelSelector as ApiLabelSelector,
  type Checkpoint,
  CheckpointConditions,
  type CheckpointPolicy,
  type CheckpointPolicyAccess,
  Reasons,
} from '../../../src/api/index.js';
import type { CheckpointStatus } from '../../../src/checkpoint/status.js';
import type { IdentityAccess } from '../../../src/policy/identity.js';
import type { ExistingCheckpoint } from '../../../src/policy/naming.js';
import { POLICY_ANNOTATION, type PolicyCandidate } from '../../../src/policy/select.js';
import type { LabelSelector } from '../../../src/policy/selector.js';

describe('src/api compatibility', () => {
  it('accepts the API types where the pure modules take structural ones', () => {
    expectTypeOf<CheckpointPolicy>().toMatchTypeOf<PolicyCandidate>();
    expectTypeOf<ApiLabelSelector>().toMatchTypeOf<LabelSelector>();
    expectTypeOf<CheckpointPolicyAccess>().toMatchTypeOf<IdentityAccess>();
    expectTypeOf<ApiCheckpointStatus>().toMatchTypeOf<CheckpointStatus>();
    expectTypeOf<CheckpointStatus>().toMatchTypeOf<ApiCheckpointStatus>();
    expectTypeOf<Checkpoint['spec']['jobRef']>().toMatchTypeOf<ExistingCheckpoint['jobRef']>();
    expectTypeOf<{ title: string; expression: string; description?: string }>().toMatchTypeOf<IamCondition>();
  });

  it('uses the API’s names', () => {
    expect(POLICY_ANNOTATION).toBe(Annotations.policy);
    expect(CheckpointConditions).toMatchObject({ Ready: 'Ready', Bound: 'Bound', AccessGranted: 'AccessGranted' });
    expect(Reasons).toMatchObject({
      ServiceAccountNotAllowed: 'ServiceAccountNotAllowed',
      ServiceAccountAnnotationMissing: 'ServiceAccountAnnotationMissing',
    });
  });
});
