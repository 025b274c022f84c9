/**
 * /metrics of a live server passes `promtool check metrics` (Debian's `prometheus` package)
 * without a lint problem: names, types, help texts and units as Prometheus expects them.
 */
import { readFile } from "node:fs/promises";
import { collectDefaultMetrics, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dig } from "../dns/support.ts";
import { runProcess } from "../support/process.ts";
import { startTestService, type TestService } from "../support/service.ts";
import { systemBinary } from "../support/system-binary.ts";

let promtool: string;
let service: TestService;

beforeAll(async () => {
  promtool = systemBinary("promtool", "prometheus");
  const demo = await readFile(new URL("../../examples/demo.yaml", import.meta.url), "utf8");
  service = await startTestService(demo, { dnsAddr: { host: "127.0.0.1", port: 0 } });
});
afterAll(() => service?.close());

async function checkMetrics(text: string) {
  return runProcess(promtool, ["check", "metrics"], { input: text, timeoutMs: 10_000 });
}

describe("promtool check metrics", () => {
  it("finds nothing to lint in a live /metrics, with endpoints and healthy endpoints per service", async () => {
    // Traffic first, so that every labelled series and histogram is there to be checked.
    for (const path of [
      "/v1/services/shop/cart/pick",
      "/v1/services/shop/checkout/pick?session-key=user-42",
      "/v1/services/nope/nope/pick",
    ]) {
      await fetch(`${service.url}${path}`);
    }
    await dig((service.dns as { port: number }).port, ["+short", "cart.shop.lb.konsul.local"]);
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(text).toContain("konsul_lb_selections_total{");
    expect(text).toContain("konsul_lb_dns_queries_total{");
    // The demo's checkout has three endpoints, one of them not ready.
    expect(text).toContain('konsul_lb_endpoints{service="shop/checkout"} 3');
    expect(text).toContain('konsul_lb_healthy_endpoints{service="shop/checkout"} 2');
    const result = await checkMetrics(text);
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.code).toBe(0);
  });

  it("does find the *_total gauges prom-client's default collectors export", async () => {
    // The check above is only worth something if promtool reports what it was there for.
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const result = await checkMetrics(await registry.metrics());
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain(
      'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
    );
  });
});
