/**
 * least-request's pick with cost in-flight against cost peak-ewma, side by side in one run:
 * `node bench/peak-ewma.ts` prints the table of docs/performance.md#least-request-peak-ewma.
 * Endpoints carry weights 1..10, about 2 open connections each and a latency estimate each
 * (peak-ewma reads two estimates, two exponentials, per pick).
 */
import { measure } from "mitata";
import {
  type Endpoint,
  latencyFromMap,
  type Picker,
  resolvePolicy,
  seededRandom,
} from "../src/balancer/index.ts";
import { LoadTracker } from "../src/balancer/loads.ts";
import { leastRequest } from "../src/balancer/strategies/least-request/index.ts";
import { LatencyTracker } from "../src/balancer/strategies/least-request/peak-ewma.ts";
import { formatNs, formatRate, markdownTable } from "./report.ts";

const SIZES = [10, 1_000, 10_000];
const ROUNDS = 3;

function endpoints(n: number): Endpoint[] {
  const width = String(n).length;
  return Array.from({ length: n }, (_, i) => ({
    identity: `ep-${String(i).padStart(width, "0")}`,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 8080,
    ports: { http: 8080 },
    weight: 1 + (i % 10),
    zone: null,
    region: null,
    node: null,
    ready: true,
    serving: true,
    terminating: false,
    probeHealthy: null,
  }));
}

function picker(n: number, cost: "in-flight" | "peak-ewma"): Picker {
  const list = endpoints(n);
  const random = seededRandom(7);
  const loads = new LoadTracker();
  const latencies = new LatencyTracker(Date.now);
  for (const endpoint of list) {
    for (let c = 0; c < 2; c++) loads.increment(endpoint.identity);
    latencies.observe(endpoint.identity, 5 + random.next() * 50, 10_000);
  }
  const policy = resolvePolicy({ leastRequest: { cost } });
  return leastRequest.build({
    endpoints: list,
    policy,
    carried: undefined,
    loads,
    random,
    latency: latencyFromMap(policy.latency.map),
    latencies,
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;

const cases = SIZES.flatMap((n) =>
  (["in-flight", "peak-ewma"] as const).map((cost) => {
    const built = picker(n, cost);
    return { n, cost, pick: () => built.pick({}), medians: [] as number[] };
  }),
);
for (const c of cases) for (let i = 0; i < 20_000; i++) c.pick();
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) {
    const stats = await measure(c.pick, { min_cpu_time: 200e6, min_samples: 24 });
    c.medians.push(stats.p50);
  }
}
const rows = SIZES.map((n) => {
  const [inFlight, peak] = cases.filter((c) => c.n === n).map((c) => median(c.medians)) as [
    number,
    number,
  ];
  return [
    n.toLocaleString("en-US"),
    `${formatNs(inFlight)} · ${formatRate(1e9 / inFlight)}`,
    `${formatNs(peak)} · ${formatRate(1e9 / peak)}`,
    `${(peak / inFlight).toFixed(2)}x`,
  ];
});
console.log(
  markdownTable(["Endpoints", "cost in-flight", "cost peak-ewma", "peak-ewma / in-flight"], rows, [
    "right",
    "right",
    "right",
    "right",
  ]),
);
