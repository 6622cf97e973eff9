// `npm run bench -- <name>|all [--small] [--full-baseline] [--profile]`: the benchmarks of design §5, each against
// its own stack (real kube-apiserver + etcd, the GCS/IAM emulator, `tidemark controller` as a process), each printing
// a table of figures beside their targets and same-run baselines and writing bench/results/<name>.json.
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gc } from './gc.js';
import { latency } from './latency.js';
import type { BenchOptions } from './lib/options.js';
import type { Recorder } from './lib/report.js';
import { memory } from './memory.js';
import { provision } from './provision.js';

const BENCHMARKS: Record<string, (o: BenchOptions) => Promise<Recorder>> = {
  'provision-1k': provision,
  latency,
  'gc-1m': gc,
  'memory-10k': memory,
};

const USAGE = `usage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}|all> [--small] [--full-baseline] [--profile]`;

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const names = argv.filter((a) => !a.startsWith('--'));
  for (const f of flags) {
    if (!['--small', '--full-baseline', '--profile'].includes(f)) {
      console.error(`bench: unknown flag ${f}\n${USAGE}`);
      return 2;
    }
  }
  if (names.length !== 1 || !(names[0] === 'all' || (names[0] as string) in BENCHMARKS)) {
    console.error(USAGE);
    return 2;
  }
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  const profileDir = flags.has('--profile') ? join(resultsDir, 'profiles') : undefined;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const opts: BenchOptions = { small: flags.has('--small'), fullBaseline: flags.has('--full-baseline'), profileDir };
  const selected = names[0] === 'all' ? Object.keys(BENCHMARKS) : [names[0] as string];
  let failed = 0;
  for (const name of selected) {
    const t0 = performance.now();
    console.log(`\n### ${name}${opts.small ? ' (small)' : ''}`);
    try {
      const rec = await (BENCHMARKS[name] as (o: BenchOptions) => Promise<Recorder>)(opts);
      const file = await rec.finish(resultsDir);
      console.log(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(0)} s; results in ${file}`);
    } catch (err) {
      failed++;
      console.error(`${name}: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  return failed > 0 ? 1 : 0;
}

process.exit(await main(process.argv.slice(2)));
