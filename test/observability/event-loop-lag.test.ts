import { describe, expect, it } from "vitest";
import { BalancerManager } from "../../src/balancer/index.ts";
import { Catalog } from "../../src/catalog/catalog.ts";
import { Metrics } from "../../src/observability/metrics.ts";

/** The value of an unlabelled sample in Prometheus text, or undefined. */
function sample(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return match ? Number(match[1]) : undefined;
}

describe("event-loop lag metrics (docs/operations.md, Event-loop lag budget)", () => {
  it("are served from prom-client's default collectors, and see a blocked loop", async () => {
    const metrics = new Metrics(new Catalog(), new BalancerManager());
    // Block the loop for 120 ms, in turns, so that the delay histogram records it.
    for (let turn = 0; turn < 3; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const until = performance.now() + 40;
      while (performance.now() < until) {
        // Busy: what a long table build on the event loop does.
      }
    }
    const text = await metrics.registry.metrics();
    for (const name of [
      "nodejs_eventloop_lag_seconds",
      "nodejs_eventloop_lag_p50_seconds",
      "nodejs_eventloop_lag_p99_seconds",
      "nodejs_eventloop_lag_max_seconds",
      "nodejs_eventloop_lag_mean_seconds",
    ]) {
      expect(sample(text, name), name).toBeGreaterThanOrEqual(0);
    }
    expect(sample(text, "nodejs_eventloop_lag_max_seconds")).toBeGreaterThan(0.03);
  });
});
