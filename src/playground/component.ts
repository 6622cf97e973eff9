import type { Log } from '../localcluster/paths.js';

/** What every playground component gets when it starts. */
export interface PlaygroundContext {
  /** The playground's state directory (.tidemark/playground); a component keeps its files in a subdirectory. */
  stateDir: string;
  log: Log;
  /** Variables contributed by the components started before this one (e.g. KUBECONFIG for the controller). */
  env: ReadonlyMap<string, string>;
  /** Aborted when the playground is asked to stop while this component is still starting. */
  signal: AbortSignal;
}

export interface RunningComponent {
  /** Variables for the env file, in order. */
  env: ReadonlyArray<readonly [string, string]>;
  /** Lines for "what to try", printed once everything is up. */
  hints: readonly string[];
  /** Stops everything this component started and removes its files. */
  stop(): Promise<void>;
}

/**
 * One piece of the playground (the cluster now; the GCS emulator and the controller later). Components start in
 * list order and stop in reverse order.
 */
export interface Component {
  name: string;
  start(ctx: PlaygroundContext): Promise<RunningComponent>;
}
