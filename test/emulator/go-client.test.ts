// cloud.google.com/go/storage (pinned in test/clients/go/go.mod) against the emulator: the Go suite is a test
// binary built and cached by test/clients/toolchain.ts, run once here; each Go test is one vitest test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { emulatorEnv, outcomeProblem, parseGoTestOutput, runProgram, type SuiteRun } from '../clients/run.js';
import { ensureGoClientTests } from '../clients/toolchain.js';
import { start } from './clients.js';

const GO_TESTS = [
  'TestSimpleUpload',
  'TestResumableUploadAboveChunkSize',
  'TestRangedReads',
  'TestComposeAndRewrite',
  'TestPreconditions',
  'TestListPrefixAndDelimiter',
  'TestBucketIAMHoldsPrincipalToPrefix',
  'TestManagedFolderHoldsPrincipalToPrefix',
  'TestConditionalBindingNeedsUniformAccess',
  'TestStorageEmulatorHostIsAnonymous',
];

let emu: RunningEmulator | undefined;
let suite: SuiteRun;

beforeAll(async () => {
  const log = (m: string) => console.log(m);
  const binary = await ensureGoClientTests(log);
  emu = await start();
  const run = await runProgram(binary.path, ['-test.v', '-test.count=1', '-test.timeout=5m'], {
    env: emulatorEnv(emu),
  });
  suite = { ...run, tests: parseGoTestOutput(run.output) };
  console.log(
    `go client suite: test binary ${binary.source}${binary.tookMs ? ` in ${Math.round(binary.tookMs / 1000)}s` : ''}, ` +
      `run ${Math.round(run.tookMs / 100) / 10}s`,
  );
}, 1_800_000);
afterAll(() => emu?.stop());

describe('cloud.google.com/go/storage', () => {
  it('the binary ran exactly the listed tests', () => {
    expect([...suite.tests.keys()].sort()).toEqual([...GO_TESTS].sort());
  });
  for (const name of GO_TESTS) {
    it(name, () => {
      expect(outcomeProblem(suite, name)).toBeUndefined();
    });
  }
});
