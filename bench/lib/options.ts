/** What `npm run bench -- <name>|all [--small] [--full-baseline] [--profile]` passes to every benchmark. */
export interface BenchOptions {
  /** The CI sizes (all four in about 3 minutes on 2 cores). */
  small: boolean;
  /** Run the baselines whole instead of on a sample (provision-1k: ≥ 1,000 s; gc-1m: gcloud over every object). */
  fullBaseline: boolean;
  /** Run the controller (and the GC process) with `node --cpu-prof`; profiles go to bench/results/profiles/. */
  profileDir?: string | undefined;
}
