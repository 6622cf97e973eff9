import { type DestinationStream, type Logger, type LoggerOptions, pino, stdSerializers } from 'pino';

export type { Logger } from 'pino';

export interface LoggerConfig {
  /** pino level; default $LOG_LEVEL or 'info'. */
  level?: string;
  /** Where JSON lines go; default stdout. */
  destination?: DestinationStream;
  /** Fields on every line (e.g. {component: 'controller'}). */
  base?: Record<string, unknown>;
}

/**
 * The process logger: JSON lines, ISO timestamps, `level` as a word (what log pipelines expect), errors
 * serialized with stack under `err`.
 */
export function createLogger(config: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    level: config.level ?? process.env.LOG_LEVEL ?? 'info',
    base: config.base ?? {},
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: stdSerializers.err, error: stdSerializers.err },
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}

/** The fields a reconcile log line may carry. Only the given ones are added. */
export interface LogScope {
  controller?: string;
  policy?: string;
  namespace?: string;
  job?: string;
  [extra: string]: unknown;
}

/** A child logger carrying `controller`, `policy`, `namespace`, `job` (whichever are set). */
export function scoped(logger: Logger, scope: LogScope): Logger {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(scope)) if (v !== undefined && v !== '') fields[k] = v;
  return logger.child(fields);
}

/** A logger that writes nothing (tests, libraries used without a logger). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
