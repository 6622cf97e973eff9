// The garbage collector's metrics: objects and bytes deleted, and how long runs take.
import type { Counter, Histogram, Registry } from 'prom-client';
import { counter, histogram } from '../kube/metrics.js';

export class GcMetrics {
  private readonly objects: Counter<'policy'>;
  private readonly bytes: Counter<'policy'>;
  private readonly duration: Histogram<'policy' | 'dry_run' | 'result'>;

  constructor(registry: Registry) {
    this.objects = counter(registry, {
      name: 'tidemark_gc_objects_deleted_total',
      help: 'Objects deleted by garbage collection, by policy',
      labelNames: ['policy'],
    });
    this.bytes = counter(registry, {
      name: 'tidemark_gc_bytes_reclaimed_total',
      help: 'Bytes of objects deleted by garbage collection, by policy',
      labelNames: ['policy'],
    });
    this.duration = histogram(registry, {
      name: 'tidemark_gc_run_duration_seconds',
      help: 'Duration of garbage-collection runs, by policy, dry run and result (ok or error)',
      labelNames: ['policy', 'dry_run', 'result'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
    });
  }

  deleted(policy: string, objects: number, bytes: number): void {
    this.objects.inc({ policy }, objects);
    this.bytes.inc({ policy }, bytes);
  }

  run(policy: string, dryRun: boolean, result: 'ok' | 'error', seconds: number): void {
    this.duration.observe({ policy, dry_run: String(dryRun), result }, seconds);
  }
}
