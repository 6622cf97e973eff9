// `tidemark plan` as a process (bin/tidemark.js): the outputs, the exit codes, and bad input answered with one line
// on stderr — never a stack trace.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { PlanReport } from '../../../src/plan/report.js';
import { type CliResult, ensureBuilt, tidemark } from '../../harness/cli.js';

const FINDINGS = 'test/fixtures/plan/findings.yaml';
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tidemark-plan-'));
  await ensureBuilt(join('cli', 'plan.js'), ['cli', 'plan', 'policy', 'api']);
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Bad input: exit 2, nothing on stdout, exactly one line on stderr saying what and where. */
function expectOneLine(r: CliResult, fragment: string | RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^(tidemark plan: |error: )/);
  expect(lines[0]).toMatch(fragment);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe('tidemark plan: outputs and exit codes', { timeout: 120_000 }, () => {
  it('the samples directory: a table with the job, its URI and members; exit 0', async () => {
    const r = await tidemark(['plan', '-f', 'config/samples']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('team-a     SparkApplication/clickstream  Provision  playground');
    expect(r.stdout).toContain('gs://playground-checkpoints/checkpoints/playground/team-a/clickstream/');
    expect(r.stdout).toContain('grant roles/storage.objectUser (ManagedFolder) to principal://');
  });

  it('-f - reads stdin (a kustomize build piped in) and -o json gives the report', async () => {
    const { readFileSync } = await import('node:fs');
    const input = ['config/samples/policy-playground.yaml', 'config/samples/team-a.yaml']
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n---\n');
    const r = await tidemark(['plan', '-f', '-', '-o', 'json'], { input });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as PlanReport;
    expect(report.jobs).toHaveLength(1);
    expect(report.jobs[0]).toMatchObject({ outcome: 'Provision', source: '<stdin>#4' });
  });

  it('findings (a conflict, an overlapping root, a refused identity): exit 1, and -o yaml says which', async () => {
    const r = await tidemark(['plan', '-f', FINDINGS, '-o', 'yaml']);
    expect(r.code).toBe(1);
    const report = parse(r.stdout) as PlanReport;
    expect(report.exitCode).toBe(1);
    expect(report.policies.find((p) => p.name === 'streaming-two')).toMatchObject({
      status: 'Shadowed',
      shadowedBy: 'streaming',
    });
    expect(report.jobs.map((j) => [j.name, j.outcome, j.reason])).toEqual([
      ['clickstream', 'Blocked', 'PolicyConflict'],
      ['nightly', 'Refused', 'ServiceAccountNotAllowed'],
    ]);
  });

  it('several -f paths, other kinds skipped and noted', async () => {
    const other = join(tmp, 'deploy.yaml');
    writeFileSync(other, 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n');
    const r = await tidemark(['plan', '-f', 'config/samples', '-f', other]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      '3 object(s) of kinds plan does not read were skipped: apps/v1 Deployment, kustomize.config.k8s.io/v1beta1 Kustomization, v1 Pod.',
    );
  });

  it('--help documents the exit codes', async () => {
    const r = await tidemark(['plan', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Exit codes:');
    expect(r.stdout).toContain('-f, --filename <path...>');
  });
});

describe('tidemark plan: bad input gets one clear line and exit 2', { timeout: 120_000 }, () => {
  it('not YAML', async () => {
    const f = join(tmp, 'broken.yaml');
    writeFileSync(f, 'apiVersion: v1\nkind: [unclosed\n');
    expectOneLine(await tidemark(['plan', '-f', f]), /broken\.yaml: not valid YAML/);
  });

  it('a YAML document that is not a Kubernetes object', async () => {
    expectOneLine(
      await tidemark(['plan', '-f', '-'], { input: '- just\n- a list\n' }),
      /<stdin>: not a Kubernetes object/,
    );
  });

  it("an unknown kind in Tidemark's or the Spark Operator's group", async () => {
    const input = 'apiVersion: tidemark.dev/v1alpha1\nkind: CheckpointPolicyy\nmetadata:\n  name: x\n';
    expectOneLine(await tidemark(['plan', '-f', '-'], { input }), /unknown kind CheckpointPolicyy in tidemark\.dev/);
    const spark = 'apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApp\nmetadata:\n  name: x\n';
    expectOneLine(
      await tidemark(['plan', '-f', '-'], { input: spark }),
      /unknown kind SparkApp in sparkoperator\.k8s\.io/,
    );
  });

  it('a 10 MB file, and 10 MB on stdin', async () => {
    const f = join(tmp, 'huge.yaml');
    const big = `# ${'x'.repeat(10 * 1024 * 1024)}\n`;
    writeFileSync(f, big);
    expectOneLine(await tidemark(['plan', '-f', f]), /huge\.yaml: larger than 4 MiB/);
    expectOneLine(await tidemark(['plan', '-f', '-'], { input: big }), /<stdin>: larger than 4 MiB/);
  });

  it('a directory loop (a symbolic link back to an ancestor)', async () => {
    const dir = join(tmp, 'loop', 'a');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n');
    symlinkSync('..', join(dir, 'back'));
    expectOneLine(await tidemark(['plan', '-f', join(tmp, 'loop')]), /directory loop/);
  });

  it('a missing file, a duplicate object, a bad --output, an unknown flag', async () => {
    expectOneLine(await tidemark(['plan', '-f', join(tmp, 'nope.yaml')]), /nope\.yaml: no such file or directory/);
    const ns = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n';
    expectOneLine(
      await tidemark(['plan', '-f', '-'], { input: `${ns}---\n${ns}` }),
      /Namespace x is also defined in <stdin>#1/,
    );
    expectOneLine(await tidemark(['plan', '-f', 'config/samples', '-o', 'xml']), /xml/);
    expectOneLine(await tidemark(['plan', '-f', 'config/samples', '--frobnicate']), /unknown option/);
  });
});
