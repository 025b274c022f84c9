import { describe, expect, it } from "vitest";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import { loadService, SimulateError } from "../../src/simulate/load.ts";
import { parseSimulateArgs } from "../../src/simulate/options.ts";
import type { StrategyReport } from "../../src/simulate/report.ts";
import { simulate } from "../../src/simulate/simulate.ts";
import { formatTable } from "../../src/simulate/table.ts";
import { clientAddress } from "../../src/simulate/traffic.ts";
import { kubectlDump, NODES, SERVICES } from "./fixtures.ts";
import { DEMO_PATH, DUMP_PATH, readFixture, report, sum } from "./support.ts";

const DEMO_SERVICES = ["shop/checkout", "shop/catalog", "shop/cart", "payments/payments"];
const DUMP_SERVICES = SERVICES.map((s) => `${s.namespace}/${s.name}`);

function only(args: readonly string[]): StrategyReport {
  const strategies = report(args).strategies;
  expect(strategies).toHaveLength(1);
  return strategies[0] as StrategyReport;
}

describe("simulate: the service as the server sees it", () => {
  it("reads the demo and a kubectl dump through the server's translation", () => {
    const checkout = loadService(DEMO_PATH, "shop", "checkout", readFixture);
    expect(checkout.view.strategy).toBe("ring-hash");
    expect(checkout.entry.endpoints).toHaveLength(3);
    const front = loadService(DUMP_PATH, "web", "front", readFixture);
    expect(front.view.strategy).toBe("ring-hash");
    expect(front.entry.endpoints.map((e) => e.region)).toContain("eu-west");
    // Weights come from the pod annotation, as the server reads it.
    const api = loadService(DUMP_PATH, "web", "api", readFixture);
    expect(api.entry.endpoints.map((e) => e.weight)).toEqual([1, 2, 3]);
  });

  it("leaves out the endpoint that is not ready, as the health filter does", () => {
    const result = report([
      "--file",
      DEMO_PATH,
      "--service",
      "shop/checkout",
      "--requests",
      "2000",
    ]);
    const notReady = result.endpoints.find((e) => e.identity === "checkout-6f7b9c-qm5tz");
    expect(notReady).toMatchObject({ healthy: false, balanced: false });
    const strategy = result.strategies[0] as StrategyReport;
    const row = strategy.endpoints.find((e) => e.identity === "checkout-6f7b9c-qm5tz");
    expect(row).toMatchObject({ requests: 0, expected: 0, ratio: null });
  });

  it("an unknown service is a usage error naming the services of the file", () => {
    let error: unknown;
    try {
      loadService(DEMO_PATH, "shop", "basket", readFixture);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SimulateError);
    expect((error as SimulateError).exitCode).toBe(2);
    expect((error as Error).message).toContain('--service: "shop/basket"');
    for (const known of DEMO_SERVICES) expect((error as Error).message).toContain(known);
  });

  it("a file that cannot be read or parsed fails with exit code 1, naming the file", () => {
    const cases: [string, () => string][] = [
      [
        "missing.yaml",
        () => {
          throw new Error("ENOENT: no such file or directory");
        },
      ],
      ["broken.yaml", () => "kind: Service\nmetadata: [\n"],
    ];
    for (const [path, read] of cases) {
      let error: unknown;
      try {
        loadService(path, "shop", "cart", read);
      } catch (caught) {
        error = caught;
      }
      expect((error as SimulateError).exitCode, path).toBe(1);
      expect((error as Error).message, path).toContain(path);
    }
  });

  it("reports the translation's warnings about the service, not those about others", () => {
    const dump = kubectlDump(NODES, [
      {
        namespace: "web",
        name: "api",
        pods: [
          { name: "api-5b8f6-aaaaa", node: "node-use1-a", ip: "10.244.0.10", weight: 0 },
          { name: "api-5b8f6-bbbbb", node: "node-euw1-a", ip: "10.244.2.11" },
        ],
      },
      {
        namespace: "web",
        name: "other",
        pods: [{ name: "other-1c2d3-ccccc", node: "node-use1-a", ip: "10.244.0.12", weight: 5000 }],
      },
    ]);
    const parsed = parseSimulateArgs([
      "--file",
      "dump.yaml",
      "--service",
      "web/api",
      "--requests",
      "10",
    ]);
    if (parsed.kind !== "ok") throw new Error("bad arguments");
    const result = simulate(
      loadService("dump.yaml", "web", "api", () => dump),
      parsed.options,
    );
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toContain("Pod web/api-5b8f6-aaaaa");
    expect(formatTable(result)).toContain(`warning: ${result.warnings[0]}`);
  });

  it("synthesizes distinct client addresses in 10.0.0.0/8", () => {
    expect(clientAddress(0)).toBe("10.0.0.1");
    expect(clientAddress(255)).toBe("10.0.1.0");
    expect(clientAddress(999_999)).toBe("10.15.66.64");
  });
});

describe("simulate: figures", () => {
  it("shares sum to 1 for every service of the demo and of the dump, with every strategy", () => {
    const cases = [
      ...DEMO_SERVICES.map((service) => [DEMO_PATH, service] as const),
      ...DUMP_SERVICES.map((service) => [DUMP_PATH, service] as const),
    ];
    for (const [file, service] of cases) {
      const result = report([
        "--file",
        file,
        "--service",
        service,
        "--requests",
        "3000",
        "--compare",
        "all",
        "--keys",
        "300",
        "--clients",
        "200",
      ]);
      expect(result.strategies.map((s) => s.strategy)).toEqual([...STRATEGY_NAMES]);
      for (const strategy of result.strategies) {
        const label = `${service} ${strategy.strategy}`;
        expect(sum(strategy.endpoints.map((e) => e.share)), label).toBeCloseTo(1, 10);
        expect(sum(strategy.endpoints.map((e) => e.requests)), label).toBe(3000);
        expect(sum(strategy.endpoints.map((e) => e.expected)), label).toBeCloseTo(1, 10);
        if (strategy.hash !== null) {
          expect(sum(strategy.hash.endpoints.map((e) => e.keyShare)), label).toBeCloseTo(1, 10);
        }
      }
    }
  });

  it("round-robin: max/mean is 1 to within one request", () => {
    for (const [file, service] of [
      [DEMO_PATH, "shop/cart"],
      [DUMP_PATH, "web/static"],
      [DUMP_PATH, "web/api"],
    ] as const) {
      const strategy = only([
        "--file",
        file,
        "--service",
        service,
        "--strategy",
        "round-robin",
        "--requests",
        "10001",
      ]);
      const balanced = strategy.endpoints.filter((e) => e.expected > 0).length;
      expect(strategy.maxMean, service).toBeLessThanOrEqual(1 + balanced / 10001);
      expect(strategy.expectedBasis).toBe("equal");
    }
  });

  it("weighted-round-robin: shares match the weights exactly over a multiple of the total weight", () => {
    // shop/catalog weighs 2, 1, 3 (annotation, default, policy); web/api 1, 2, 3.
    for (const [file, service] of [
      [DEMO_PATH, "shop/catalog"],
      [DUMP_PATH, "web/api"],
    ] as const) {
      const result = report(["--file", file, "--service", service, "--requests", "60000"]);
      const strategy = result.strategies[0] as StrategyReport;
      expect(strategy.strategy).toBe("weighted-round-robin");
      const totalWeight = sum(result.endpoints.map((e) => e.weight));
      result.endpoints.forEach((endpoint, i) => {
        expect(strategy.endpoints[i]?.requests).toBe((60000 * endpoint.weight) / totalWeight);
        expect(strategy.endpoints[i]?.share).toBe(strategy.endpoints[i]?.expected);
      });
      expect(strategy.maxRatio).toBe(1);
    }
  });

  it("ring-hash: removing an endpoint moves about its share of the keys, and no more", () => {
    const strategy = only(["--file", DUMP_PATH, "--service", "web/front", "--keys", "20000"]);
    const hash = strategy.hash;
    expect(hash?.hashOn).toBe("session-key");
    expect(hash?.distinctKeys).toBe(20000);
    for (const endpoint of hash?.endpoints ?? []) {
      expect(endpoint.ideal).toBe(1 / 8);
      expect(endpoint.moved, endpoint.identity).toBeGreaterThan(endpoint.ideal * 0.75);
      expect(endpoint.moved, endpoint.identity).toBeLessThan(endpoint.ideal * 1.25);
      // Consistent hashing: only the removed endpoint's own keys move.
      expect(endpoint.moved, endpoint.identity).toBeCloseTo(endpoint.keyShare, 10);
    }
    expect(hash?.meanMovedOverIdeal).toBeCloseTo(1, 1);
  });

  it("ring-hash on the demo: the checkout pods' keys, and the pod that is not ready moves none", () => {
    const hash = only(["--file", DEMO_PATH, "--service", "shop/checkout"]).hash;
    const [first, second, notReady] = hash?.endpoints ?? [];
    expect(first?.moved).toBeCloseTo(0.5, 1);
    expect(second?.moved).toBeCloseTo(0.5, 1);
    expect(notReady?.moved).toBe(0);
  });

  it("maglev and ip-hash report key spread too; ip-hash spreads the client IPs", () => {
    const result = report([
      "--file",
      DUMP_PATH,
      "--service",
      "web/front",
      "--compare",
      "maglev,ip-hash",
      "--clients",
      "4000",
    ]);
    const [maglev, ipHash] = result.strategies;
    expect(maglev?.hash?.hashOn).toBe("session-key");
    expect(ipHash?.hash?.hashOn).toBe("client-ip");
    expect(ipHash?.hash?.distinctKeys).toBe(4000);
    for (const strategy of [maglev, ipHash]) {
      expect(strategy?.hash?.meanMovedOverIdeal).toBeGreaterThan(0.8);
      expect(strategy?.hash?.meanMovedOverIdeal).toBeLessThan(1.3);
    }
  });

  it("latency-based: every request is served in its region when every region has endpoints", () => {
    for (const [file, service] of [
      [DEMO_PATH, "payments/payments"],
      [DUMP_PATH, "geo/edge"],
    ] as const) {
      const result = report([
        "--file",
        file,
        "--service",
        service,
        "--regions",
        "us-east=70,eu-west=30",
      ]);
      const strategy = result.strategies[0] as StrategyReport;
      expect(strategy.strategy).toBe("latency-based");
      expect(strategy.inRegion).toBe(1);
      // Expected: each region's share over that region's endpoints.
      const usEast = result.endpoints.filter((e) => e.region === "us-east").length;
      result.endpoints.forEach((endpoint, i) => {
        const expected =
          endpoint.region === "us-east" ? 0.7 / usEast : 0.3 / (result.endpoints.length - usEast);
        expect(strategy.endpoints[i]?.expected).toBeCloseTo(expected, 10);
        expect(strategy.endpoints[i]?.share).toBeCloseTo(expected, 1);
      });
    }
  });

  it("latency-based: without --regions the endpoints' regions call equally; random is half in-region", () => {
    const result = report([
      "--file",
      DUMP_PATH,
      "--service",
      "geo/edge",
      "--compare",
      "latency-based,random",
    ]);
    expect(result.regionsFrom).toBe("endpoints");
    expect(result.regions).toEqual([
      { region: "eu-west", share: 0.5 },
      { region: "us-east", share: 0.5 },
    ]);
    const [latency, random] = result.strategies;
    expect(latency?.inRegion).toBe(1);
    expect(random?.inRegion).toBeCloseTo(0.5, 1);
  });

  it("least-connections under connection churn: shares follow the weights", () => {
    // With only a few connections open at once, shares move in steps of whole connections;
    // 600 open at a time leaves room for the 2:1:3 weights.
    const result = report([
      "--file",
      DEMO_PATH,
      "--service",
      "shop/catalog",
      "--strategy",
      "least-connections",
      "--hold",
      "600",
    ]);
    expect(result.hold).toBe(600);
    const strategy = result.strategies[0] as StrategyReport;
    for (const endpoint of strategy.endpoints) {
      expect(endpoint.share).toBeCloseTo(endpoint.expected, 2);
    }
  });

  it("least-connections without held connections (--hold 0) only takes turns", () => {
    const strategy = only([
      "--file",
      DEMO_PATH,
      "--service",
      "shop/catalog",
      "--strategy",
      "least-connections",
      "--hold",
      "0",
      "--requests",
      "3000",
    ]);
    expect(strategy.endpoints.map((e) => e.requests)).toEqual([1000, 1000, 1000]);
  });

  it("reported outcomes: peak-ewma avoids the slow endpoint, outlier detection ejects the failing one", () => {
    const args = [
      "--file",
      "examples/outliers.yaml",
      "--service",
      "shop/search",
      "--compare",
      "round-robin,least-request",
      "--latency",
      "search-2=200",
      "--failures",
      "search-3=30",
      "--requests",
      "60000",
    ];
    const result = report(args);
    expect(result.outcomes).toEqual({
      defaultLatencyMs: 10,
      latencyMs: { "search-2": 200 },
      failurePercent: { "search-3": 30 },
    });
    const [roundRobin, peakEwma] = result.strategies as [StrategyReport, StrategyReport];
    const share = (s: StrategyReport, id: string) =>
      s.endpoints.find((e) => e.identity === id)?.share ?? 0;
    // Round robin ignores latency: a third of the requests wait 200 ms.
    expect(share(roundRobin, "search-2")).toBeGreaterThan(0.3);
    expect(share(peakEwma, "search-2")).toBeLessThan(0.05);
    expect(peakEwma.outcomes?.meanLatencyMs).toBeLessThan(
      (roundRobin.outcomes?.meanLatencyMs ?? 0) / 3,
    );
    // Ejected after 5 failures in a row, for 30 s then 60 s: far below 30% x 1/4 failed.
    for (const strategy of [roundRobin, peakEwma]) {
      expect(strategy.outcomes?.ejections["search-3"]).toBeGreaterThanOrEqual(1);
      expect(Object.keys(strategy.outcomes?.ejections ?? {})).toEqual(["search-3"]);
      expect(strategy.outcomes?.failed).toBeLessThan(0.02);
    }
    const table = formatTable(result);
    expect(table).toContain("outcomes reported, one request per simulated ms: search-2 200 ms");
    expect(table).toMatch(/ejections\s+search-3 \dx\s+search-3 \dx/);
    expect(report(args)).toEqual(result);
  });

  it("without outcomes, reports none; an unknown endpoint in --latency is a usage error", () => {
    expect(only(["--file", DEMO_PATH, "--service", "shop/cart"]).outcomes).toBeNull();
    try {
      report(["--file", DEMO_PATH, "--service", "shop/cart", "--latency", "cart-9=5"]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SimulateError);
      expect((error as SimulateError).exitCode).toBe(2);
      expect((error as Error).message).toContain('--latency: "cart-9" is not allowed');
    }
  });

  it("is deterministic: the same seed gives the same report, another seed another", () => {
    const args = [
      "--file",
      DUMP_PATH,
      "--service",
      "web/front",
      "--compare",
      "random,least-request,ring-hash",
      "--requests",
      "5000",
      "--keys",
      "500",
    ];
    const first = report(args);
    expect(report(args)).toEqual(first);
    expect(report([...args, "--seed", "1"])).toEqual(first);
    const other = report([...args, "--seed", "2"]);
    expect(other.strategies[0]?.endpoints).not.toEqual(first.strategies[0]?.endpoints);
    // A strategy's figures do not depend on what is compared with it.
    const alone = report([
      "--file",
      DUMP_PATH,
      "--service",
      "web/front",
      "--strategy",
      "least-request",
      "--requests",
      "5000",
      "--keys",
      "500",
    ]);
    expect(alone.strategies[0]).toEqual(first.strategies[1]);
  });
});
