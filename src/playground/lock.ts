import { readFileSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';

export type LockResult = { acquired: true; release: () => Promise<void> } | { acquired: false; pid: number };

/**
 * A pid lock file created with O_EXCL. A lock whose process is gone — or whose pid now belongs to a process that
 * is not a playground — is stale: `onStale` runs (to clean what that run left behind) and the lock is taken over.
 */
export async function acquirePidLock(path: string, onStale: (pid: number) => Promise<void>): Promise<LockResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return {
        acquired: true,
        release: async () => {
          // Only remove a lock that is still ours.
          const owner = await readFile(path, 'utf8').catch(() => '');
          if (Number.parseInt(owner, 10) === process.pid) await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // removed meanwhile: try again
    const pid = Number.parseInt(text, 10);
    if (Number.isInteger(pid) && pid > 0 && isPlaygroundProcess(pid)) return { acquired: false, pid };
    if (!Number.isInteger(pid) && Date.now() - (await mtimeMs(path)) < 5000) {
      // Being written by a starting playground; look again shortly.
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    await onStale(Number.isInteger(pid) ? pid : 0);
    await rm(path, { force: true });
  }
  throw new Error(`cannot take the playground lock ${path}`);
}

async function mtimeMs(path: string): Promise<number> {
  return stat(path)
    .then((s) => s.mtimeMs)
    .catch(() => 0);
}

function isPlaygroundProcess(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Alive. Guard against pid reuse where /proc tells us the command line.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('playground');
  } catch {
    return true;
  }
}
