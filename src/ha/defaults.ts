/**
 * The defaults of the HA settings and the check of the leader election's timings, in a module
 * that imports nothing: every command reads the settings, and the modules that use these load
 * the Kubernetes client.
 */

export const DEFAULT_STATE_PREFIX = "konsul-lb-state";
export const DEFAULT_STATE_INTERVAL_MS = 1_000;
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

export function validateTimings(leaseMs: number, renewMs: number, retryMs: number): void {
  for (const [name, value] of [
    ["lease duration", leaseMs],
    ["renew deadline", renewMs],
    ["retry period", retryMs],
  ] as const) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new Error(`leader election: ${name} ${value} ms is not allowed; expected more than 0`);
    }
  }
  if (leaseMs <= renewMs) {
    throw new Error(
      `leader election: the lease duration (${leaseMs} ms) must be longer than the renew deadline (${renewMs} ms), or a new leader could start before the old one stops`,
    );
  }
  if (renewMs <= retryMs) {
    throw new Error(
      `leader election: the renew deadline (${renewMs} ms) must be longer than the retry period (${retryMs} ms), or one failed renew would end leadership`,
    );
  }
  if (leaseMs % 1000 !== 0) {
    throw new Error(
      `leader election: the lease duration (${leaseMs} ms) must be whole seconds; Leases count in seconds`,
    );
  }
}
