// Child processes measured from outside: wall time, stdout lines with their arrival times, and peak RSS of the process
// and its descendants sampled from /proc every 100 ms.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** `pid` and every descendant (gcloud runs workers as child processes). */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

export interface Measured {
  code: number | null;
  seconds: number;
  peakRssMB: number;
  /** Stdout lines with the seconds since the start at which each arrived. */
  lines: { t: number; line: string }[];
  stderr: string;
}

export async function measureProcess(
  command: string,
  args: readonly string[],
  o: { env: NodeJS.ProcessEnv; includeChildren?: boolean; echo?: (line: string) => void },
): Promise<Measured> {
  const t0 = performance.now();
  const child = spawn(command, args, { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid ?? 0;
  let peak = 0;
  const sample = () => {
    const pids = o.includeChildren ? tree(pid) : [pid];
    const kib = pids.reduce((a, p) => a + rssKiB(p), 0);
    if (kib > peak) peak = kib;
  };
  sample();
  const timer = setInterval(sample, 100);
  const lines: { t: number; line: string }[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push({ t: (performance.now() - t0) / 1000, line });
      o.echo?.(line);
      i = buf.indexOf('\n');
    }
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  if (buf) lines.push({ t: seconds, line: buf });
  return { code, seconds, peakRssMB: peak / 1024, lines, stderr };
}
