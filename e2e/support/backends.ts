// The sample backends (examples/backends.yaml) and policies (examples/policies/) as the tests
// expect them: which Service has how many pods, under which policy and strategy.

import { endpointSlices, kubectl, readyEndpoints, waitFor } from "./cluster.ts";
import { type Replica, serviceSummary } from "./discovery.ts";
import { BACKENDS, SHOP } from "./env.ts";

export interface Backend {
  readonly service: string;
  readonly pods: number;
  readonly policy: string;
  readonly strategy: string;
}

export const BACKEND_SERVICES: readonly Backend[] = [
  { service: "web", pods: 3, policy: "web-round-robin", strategy: "round-robin" },
  { service: "catalog", pods: 3, policy: "catalog-canary", strategy: "weighted-round-robin" },
  { service: "checkout", pods: 3, policy: "checkout-sticky", strategy: "ring-hash" },
  { service: "cart", pods: 3, policy: "cart-maglev", strategy: "maglev" },
  { service: "search", pods: 3, policy: "search-least-request", strategy: "least-request" },
  { service: "payments", pods: 2, policy: "payments-nearest", strategy: "latency-based" },
  { service: "profile", pods: 3, policy: "profile-by-client", strategy: "ip-hash" },
];

export const key = (service: string) => `${SHOP}/${service}`;

/** Applies examples/backends.yaml and waits for every Deployment and EndpointSlice. */
export async function deployBackends(): Promise<void> {
  await kubectl(["apply", "-f", BACKENDS]);
  await kubectl([
    "-n",
    SHOP,
    "wait",
    "--for=condition=Available",
    "deployment",
    "--all",
    "--timeout=300s",
  ]);
  for (const backend of BACKEND_SERVICES) {
    await waitFor(
      `${backend.pods} ready endpoints of ${key(backend.service)}`,
      async () => {
        const ready = readyEndpoints(await endpointSlices(SHOP, backend.service));
        return ready.size === backend.pods ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
  }
}

/** Waits until a replica's catalog has `count` healthy endpoints for a service. */
export async function servedWith(replica: Replica, service: string, count: number): Promise<void> {
  await waitFor(
    `${replica.pod} to serve ${key(service)} with ${count} healthy endpoints`,
    async () => {
      const summary = await serviceSummary(replica.url, key(service));
      return summary?.endpoints.healthy === count && summary.endpoints.total === count
        ? true
        : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
}
