// `tidemark plan`'s output: a table for people, JSON or YAML (the PlanReport as is) for tools.
import { stringify } from 'yaml';
import type { JobReport, PlanReport } from './report.js';

export const OUTPUTS = ['table', 'json', 'yaml'] as const;
export type Output = (typeof OUTPUTS)[number];

export function render(report: PlanReport, output: Output): string {
  if (output === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (output === 'yaml') return stringify(report, { lineWidth: 0 });
  return table(report);
}

function table(r: PlanReport): string {
  const out: string[] = [];
  out.push('CheckpointPolicies');
  if (r.policies.length === 0) out.push('  (none in the input)');
  else {
    out.push(
      ...columns([
        ['NAME', 'STATUS', 'BUCKET', 'ROOT', 'MODE', 'IDENTITY'],
        ...r.policies.map((p) => [
          p.name,
          p.status,
          p.bucket ?? '-',
          p.rootPrefix ?? '-',
          p.mode ?? '-',
          p.identity ?? '-',
        ]),
      ]).map((l) => `  ${l}`),
    );
    for (const p of r.policies) {
      for (const e of p.errors) out.push(`  ${p.name}: ${e}`);
    }
  }
  out.push('', 'Jobs');
  if (r.jobs.length === 0) out.push('  (no SparkApplication or ScheduledSparkApplication in the input)');
  else {
    const rows = r.jobs.map((j) => [
      j.namespace,
      `${j.kind}/${j.name}`,
      j.outcome,
      j.policy ?? '-',
      j.outcome === 'Provision' || j.outcome === 'Refused' ? (j.uri ?? '-') : j.reason,
    ]);
    const lines = columns([['NAMESPACE', 'JOB', 'OUTCOME', 'POLICY', 'CHECKPOINT / REASON'], ...rows]);
    out.push(`  ${lines[0]}`);
    r.jobs.forEach((j, i) => {
      out.push(`  ${lines[i + 1]}`);
      for (const d of details(j)) out.push(`      ${d}`);
    });
  }
  out.push('', summaryLine(r));
  if (r.notes.length > 0) out.push('', 'Notes', ...r.notes.map((n) => `  ${n}`));
  return `${out.join('\n')}\n`;
}

function details(j: JobReport): string[] {
  const d: string[] = [];
  if (j.outcome === 'Provision') {
    d.push(`grant ${j.role} (${j.mode}) to ${j.members.join(', ')}`);
    if (j.condition) d.push(`condition "${j.condition.title}": ${j.condition.expression}`);
  } else {
    d.push(j.message);
  }
  const a = j.admission;
  if (a) {
    const set = [
      ...Object.entries(a.sparkConf).map(([k, v]) => `sparkConf ${k}=${v}`),
      ...Object.entries(a.hadoopConf).map(([k, v]) => `hadoopConf ${k}=${v}`),
      ...Object.keys(a.annotations).map((k) => `annotation ${k}`),
    ];
    d.push(`admission sets: ${set.join('; ')}; driver pod gated (${a.schedulingGates.join(', ')}) until Ready`);
    for (const w of a.warnings) d.push(`admission warns: ${w}`);
  }
  if (j.runs) d.push(`runs in the input: ${j.runs.join(', ')}`);
  return d;
}

function summaryLine(r: PlanReport): string {
  const s = r.summary;
  const jobs = s.Provision + s.Refused + s.Blocked + s.Unselected + s.Invalid;
  return (
    `${jobs} job(s): ${s.Provision} to provision, ${s.Refused} refused, ${s.Blocked} blocked, ${s.Unselected} unselected, ${s.Invalid} invalid; ` +
    `${s.policies} policy(ies), ${s.policyProblems} with problems`
  );
}

function columns(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((row) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}
