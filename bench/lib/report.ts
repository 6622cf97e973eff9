// What every benchmark reports: figures, each beside its target (design §5) and the baseline measured in the same
// run, with the ratio; a small table on stdout and the same as JSON in bench/results/<name>.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';

export type Better = 'lower' | 'higher';

export interface Target {
  /** `<=` for "at most", `>=` for "at least". */
  op: '<=' | '>=';
  value: number;
}

export interface Figure {
  /** Stable key for the JSON and the test, e.g. `ManagedFolder.seconds`. */
  key: string;
  label: string;
  value: number;
  unit: string;
  better: Better;
  target?: Target | undefined;
  /** The same quantity measured for the baseline in the same run. */
  baseline?: number | undefined;
  /** How the baseline figure was obtained when not measured whole (e.g. extrapolated from a sample). */
  baselineNote?: string | undefined;
}

export interface FigureResult extends Figure {
  /** How many times better than the baseline (baseline/value when lower is better, value/baseline otherwise). */
  ratio?: number | undefined;
  /** Whether the target is met (undefined without a target). */
  met?: boolean | undefined;
}

export interface BenchResult {
  name: string;
  size: 'small' | 'full';
  date: string;
  machine: { cpus: number; memGiB: number; loadAvgStart: number[]; loadAvgEnd: number[]; node: string };
  params: Record<string, unknown>;
  figures: FigureResult[];
  notes: string[];
  /** Raw details (calls by method, samples) for whoever wants to dig. */
  details: Record<string, unknown>;
}

export function evaluate(f: Figure): FigureResult {
  const out: FigureResult = { ...f };
  if (f.baseline !== undefined && f.baseline > 0 && f.value > 0) {
    out.ratio = f.better === 'lower' ? f.baseline / f.value : f.value / f.baseline;
  }
  if (f.target) out.met = f.target.op === '<=' ? f.value <= f.target.value : f.value >= f.target.value;
  return out;
}

function num(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(a >= 1 ? 2 : 3);
}

/** The table: one row per figure. */
export function renderTable(r: BenchResult): string {
  const rows = [['figure', 'value', 'target', 'baseline', 'ratio', 'met']];
  for (const f of r.figures) {
    rows.push([
      f.label,
      `${num(f.value)} ${f.unit}`.trim(),
      f.target ? `${f.target.op} ${num(f.target.value)}` : '-',
      f.baseline !== undefined ? `${num(f.baseline)}${f.baselineNote ? ' *' : ''}` : '-',
      f.ratio !== undefined ? `${num(f.ratio)}x` : '-',
      f.met === undefined ? '-' : f.met ? 'yes' : 'NO',
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  const out = [
    `== ${r.name} (${r.size}, ${r.machine.cpus} cores, load ${r.machine.loadAvgStart[0]?.toFixed(1)} -> ${r.machine.loadAvgEnd[0]?.toFixed(1)})`,
    line(rows[0] ?? []),
    ...rows.slice(1).map(line),
  ];
  const starred = r.figures.filter((f) => f.baselineNote);
  for (const f of starred) out.push(`  * ${f.label}: ${f.baselineNote}`);
  for (const n of r.notes) out.push(`  - ${n}`);
  return out.join('\n');
}

export class Recorder {
  private readonly figures: FigureResult[] = [];
  readonly notes: string[] = [];
  readonly details: Record<string, unknown> = {};
  private readonly loadAvgStart = loadavg();
  private readonly started = new Date();

  constructor(
    readonly name: string,
    readonly size: 'small' | 'full',
    readonly params: Record<string, unknown>,
  ) {}

  add(f: Figure): FigureResult {
    const r = evaluate(f);
    this.figures.push(r);
    return r;
  }

  note(line: string): void {
    this.notes.push(line);
    console.log(`[${this.name}] ${line}`);
  }

  result(): BenchResult {
    return {
      name: this.name,
      size: this.size,
      date: this.started.toISOString(),
      machine: {
        cpus: cpus().length,
        memGiB: Math.round(totalmem() / 2 ** 30),
        loadAvgStart: this.loadAvgStart.map((x) => Math.round(x * 10) / 10),
        loadAvgEnd: loadavg().map((x) => Math.round(x * 10) / 10),
        node: process.version,
      },
      params: this.params,
      figures: this.figures,
      notes: this.notes,
      details: this.details,
    };
  }

  /** Prints the table and writes bench/results/<name>.json; returns the file's path. */
  async finish(resultsDir: string): Promise<string> {
    const r = this.result();
    console.log(`\n${renderTable(r)}\n`);
    await mkdir(resultsDir, { recursive: true });
    const file = join(resultsDir, `${this.name}.json`);
    await writeFile(file, `${JSON.stringify(r, null, 2)}\n`);
    return file;
  }
}

/** The q-quantile (0..1) of `xs`, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}
