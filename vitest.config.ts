import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Three suites, one runner: `npm test` runs them all.
// - unit: pure logic, no server.
// - emulator: contract tests of the GCS/IAM emulator through the real Google clients.
// - integration: a real kube-apiserver + etcd (test/harness/global-setup.ts) and the emulator.
export default defineConfig({
  test: {
    // Two files at once even on 2 cores (vitest's default there is one): most of a test's time is spent waiting
    // on processes and servers. `--maxWorkers N` or VITEST_MAX_FORKS=N changes it; the integration project starts
    // one cluster per worker.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'emulator', include: ['test/emulator/**/*.test.ts'], testTimeout: 30_000 } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          // Every controller a file starts sees its whole test cluster, so two files must never share one at once:
          // the global setup starts a cluster per worker and each file uses its worker's (VITEST_POOL_ID), so files
          // run in parallel, each alone on its cluster, and each starts on it cleared of what earlier files left.
          setupFiles: ['test/harness/clean-cluster.ts'],
          testTimeout: 60_000,
          hookTimeout: 900_000,
        },
      },
      // The end-to-end test (test/e2e/): a real PySpark job and the Hadoop GCS connector on the playground stack.
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Installs the pinned PySpark and connector once if they are not cached (test/e2e/tools.ts).
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
      // The benchmarks' small versions as a process (their own stacks); see README "Benchmarks".
      { extends: true, test: { name: 'bench', include: ['test/bench/**/*.test.ts'], hookTimeout: 1_800_000 } },
      {
        extends: true,
        test: {
          // test/reliability: faults, restarts, failover and random histories on the suite's own stack
          // (test/reliability/stack.ts). Short by default; TIDEMARK_RELIABILITY=long for the README's long run.
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          globalSetup: ['test/reliability/global-setup.ts'],
          // Each file starts its own API server, emulator and controller processes: one file at a time on 2 cores.
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 1_800_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
