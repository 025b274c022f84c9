/**
 * The shapes the prober works on. They mirror what the policy module parses from a
 * LoadBalancingPolicy's `spec.healthCheck` and from the discovered endpoints, declared here so
 * the prober depends on nothing outside this folder; TypeScript's structural typing keeps the
 * two in step.
 */
export interface HealthCheckSpec {
  readonly kind: "http" | "tcp";
  /** Request path of an HTTP check; null means "/". Ignored by TCP checks. */
  readonly path: string | null;
  /** A port number, or the name of one of the endpoint's ports. */
  readonly port: number | string;
  readonly intervalMs: number;
  /** How long one probe may take; expected to be below intervalMs. */
  readonly timeoutMs: number;
  /** Consecutive failures that mark an endpoint unhealthy. */
  readonly unhealthyThreshold: number;
  /** Consecutive successes that mark an unhealthy endpoint healthy again. */
  readonly healthyThreshold: number;
}

export interface ProbeTarget {
  /** Stable endpoint identity: state is kept per identity across target updates. */
  readonly identity: string;
  /** IPv4 or IPv6 literal; anything else fails the probe, so no name is ever resolved. */
  readonly address: string;
  readonly ports: Readonly<Record<string, number>>;
  /** The endpoint's default port. */
  readonly port: number | null;
}

/** What one probe found. `reason` is for logs: short, and it names the cause of a failure. */
export interface ProbeOutcome {
  readonly healthy: boolean;
  readonly reason: string;
}

/** Where a probe connects, once the spec's port has been resolved against the endpoint. */
export interface ProbeDestination {
  readonly address: string;
  readonly port: number;
}
