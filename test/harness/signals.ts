/**
 * The entries AbortSignal.any keeps in a source signal (`kDependantSignals`, a Node internal; absent = none). Node 20
 * never takes them out, so a long-lived signal passed to AbortSignal.any grows by one per call.
 */
export function dependants(s: AbortSignal): number {
  const sym = Object.getOwnPropertySymbols(s).find((x) => x.description === 'kDependantSignals');
  return sym ? ((s as unknown as Record<symbol, Set<unknown>>)[sym]?.size ?? 0) : 0;
}
