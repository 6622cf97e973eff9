// google-cloud-storage (pinned in test/clients/python/requirements.txt) against the emulator: the suite runs once
// in a cached virtualenv (test/clients/toolchain.ts); each unittest test is one vitest test.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { emulatorEnv, outcomeProblem, runProgram, type SuiteRun, type TestOutcome } from '../clients/run.js';
import { ensurePythonClients, PYTHON_DIR } from '../clients/toolchain.js';
import { start } from './clients.js';

const PY_TESTS = [
  'test_simple_and_multipart_uploads',
  'test_resumable_upload_above_the_chunk_size',
  'test_ranged_reads',
  'test_compose_sends_null_generations',
  'test_rewrite_and_copy',
  'test_preconditions',
  'test_list_with_prefix_and_delimiter',
  'test_bucket_iam_holds_principal_to_prefix',
  'test_managed_folder_holds_principal_to_prefix',
  'test_conditional_binding_needs_uniform_access',
  'test_batch',
  'test_storage_emulator_host_without_credentials_is_anonymous',
];

let emu: RunningEmulator | undefined;
let suite: SuiteRun;

beforeAll(async () => {
  const log = (m: string) => console.log(m);
  const python = await ensurePythonClients(log);
  emu = await start();
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-pyclients-'));
  try {
    const results = join(dir, 'results.json');
    const env = { ...emulatorEnv(emu), PYTHONDONTWRITEBYTECODE: '1' };
    const run = await runProgram(python.path, ['run_tests.py', results], { env, cwd: PYTHON_DIR });
    let tests = new Map<string, TestOutcome>();
    try {
      tests = new Map(Object.entries(JSON.parse(readFileSync(results, 'utf8')) as Record<string, TestOutcome>));
    } catch {
      // No results file: the runner itself failed; every test reports the program's output.
    }
    suite = { ...run, tests };
    console.log(
      `python client suite: virtualenv ${python.source}${python.tookMs ? ` in ${Math.round(python.tookMs / 1000)}s` : ''}, ` +
        `run ${Math.round(run.tookMs / 100) / 10}s`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 1_800_000);
afterAll(() => emu?.stop());

describe('google-cloud-storage (Python)', () => {
  it('the runner ran exactly the listed tests', () => {
    expect([...suite.tests.keys()].sort()).toEqual([...PY_TESTS].sort());
  });
  for (const name of PY_TESTS) {
    it(name, () => {
      expect(outcomeProblem(suite, name)).toBeUndefined();
    });
  }
});
