// The integration project's setup file: each test file starts on a cluster cleared of what earlier files left
// (reset-cluster.ts says why), and says what it removed.
import { beforeAll } from 'vitest';
import { testKubeConfig } from './kube.js';
import { resetCluster } from './reset-cluster.js';

beforeAll(async () => {
  const removed = await resetCluster(testKubeConfig());
  const what = Object.entries(removed).map(([kind, n]) => `${n} ${kind}`);
  if (what.length > 0) console.log(`[test cluster] cleared what earlier files left: ${what.join(', ')}`);
}, 120_000);
