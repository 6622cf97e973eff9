import { defineConfig } from 'vitest/config';

// Three suites, one runner: `npm test` runs them all.
// - unit: pure logic, no server.
// - emulator: contract tests of the GCS/IAM emulator through the real Google clients.
// - integration: a real kube-apiserver + etcd (test/harness/global-setup.ts) and the emulator.
export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'emulator', include: ['test/emulator/**/*.test.ts'], testTimeout: 30_000 } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
