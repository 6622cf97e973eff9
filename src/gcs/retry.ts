// Backoff for the access backends' own retries (conflicts and rate limits).

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Exponential backoff with full jitter: a random wait in [base·2^(attempt-1)/2, base·2^(attempt-1)], capped at
 * `max`. `attempt` counts from 1. `random` is injectable for tests.
 */
export function backoffMs(attempt: number, base: number, max: number, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1)
    throw new Error(`backoff: attempt must be an integer >= 1, got ${attempt}`);
  const ceiling = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
