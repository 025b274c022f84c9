/**
 * The hash strategies' picks (ring-hash, maglev, ip-hash) against the bare hash loop of the
 * engine benchmark, and optionally against another build of the engine, in one run:
 *
 *   node bench/hash-picks.ts [--before=PATH]
 *
 * PATH is another checkout's src/balancer/index.ts. Its pickers must decide exactly as this
 * build's (the script checks every request before timing). Each case is timed in many short
 * batches, the cases interleaved, by the thread's CPU time rather than the wall clock: on a
 * machine shared with other work a batch's wall time also counts the time the thread waited for
 * a core. Prints a markdown table of medians and ratios to the bare loop.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as current from "../src/balancer/index.ts";
import { LoadTracker } from "../src/balancer/loads.ts";
import {
  BARE_TABLE_SIZE,
  bareHashPick,
  makeEndpoints,
  makeRequests,
  type Weights,
} from "./engine.ts";
import { formatNs, markdownTable } from "./report.ts";

type Engine = typeof current;

const ENDPOINTS = 1_000;
const STRATEGIES = ["ring-hash", "maglev", "ip-hash"] as const;
const ROUNDS = 25;
const BATCH = 200_000;

const beforeArg = process.argv.find((arg) => arg.startsWith("--before="));
const beforePath = beforeArg === undefined ? null : resolve(beforeArg.slice("--before=".length));
if (beforePath !== null && (!beforePath.endsWith("index.ts") || !existsSync(beforePath))) {
  throw new Error(
    `--before ${JSON.stringify(beforePath)} is not allowed; expected an existing src/balancer/index.ts`,
  );
}
const builds: { label: string; engine: Engine }[] = [{ label: "this build", engine: current }];
if (beforePath !== null) {
  builds.unshift({
    label: "before",
    engine: (await import(pathToFileURL(beforePath).href)) as Engine,
  });
}

const requests = makeRequests(4096);
const mask = requests.length - 1;

function pickerOf(engine: Engine, strategy: string, weights: Weights): current.Picker {
  const definition = engine.BUILT_IN_STRATEGIES.find((s) => s.name === strategy);
  if (definition === undefined) throw new Error(`no strategy ${strategy}`);
  const policy = engine.resolvePolicy({});
  return definition.build({
    endpoints: makeEndpoints(ENDPOINTS, weights),
    policy,
    carried: undefined,
    loads: new LoadTracker(),
    random: engine.seededRandom(1),
    latency: engine.latencyFromMap(policy.latency.map),
  });
}

interface Case {
  readonly label: string;
  readonly run: () => unknown;
  readonly batches: number[];
}

/** A loop of its own per case (see loopOf in engine.ts): each keeps its own type feedback. */
function loopOver(label: string, target: unknown, call: string): () => unknown {
  return new Function(
    "target",
    "requests",
    `"use strict"; // ${label}
let i = 0;
return function loop() {
  i = (i + 1) & ${mask};
  return ${call};
};`,
  )(target, requests) as () => unknown;
}

const cases: Case[] = [
  {
    label: "bare loop: FNV-1a of the session key, index a table",
    run: loopOver(
      "bare",
      bareHashPick(Uint32Array.from({ length: BARE_TABLE_SIZE }, (_, i) => i % ENDPOINTS)),
      "target(requests[i].sessionKey)",
    ),
    batches: [],
  },
];
for (const strategy of STRATEGIES) {
  for (const weights of ["mixed", "uniform"] as const) {
    if (strategy !== "ring-hash" && weights === "uniform") continue;
    const pickers = builds.map(({ engine }) => pickerOf(engine, strategy, weights));
    for (const request of requests) {
      const chosen = pickers.map((p) => p.pick(request).identity);
      if (chosen.some((identity) => identity !== chosen[0])) {
        throw new Error(`${strategy}: the builds pick differently for ${JSON.stringify(request)}`);
      }
    }
    builds.forEach(({ label }, b) => {
      const name = `${strategy}, ${weights === "mixed" ? "weights 1..10" : "weight 1"}, ${label}`;
      cases.push({
        label: name,
        run: loopOver(name, pickers[b], "target.pick(requests[i])"),
        batches: [],
      });
    });
  }
}

for (const c of cases) for (let i = 0; i < 50_000; i++) c.run();
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) {
    const started = process.threadCpuUsage();
    for (let i = 0; i < BATCH; i++) c.run();
    const used = process.threadCpuUsage(started);
    c.batches.push(((used.user + used.system) * 1000) / BATCH);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0;
const bare = median((cases[0] as Case).batches);
console.log(
  markdownTable(
    [
      "Case (1,000 endpoints, 36-character session keys)",
      "Median",
      "Quartiles",
      "Over the bare loop",
    ],
    cases.map((c) => {
      const sorted = [...c.batches].sort((a, b) => a - b);
      const quartile = (q: number) => sorted[Math.floor(q * (sorted.length - 1))] as number;
      return [
        c.label,
        formatNs(median(c.batches)),
        `${formatNs(quartile(0.25))} – ${formatNs(quartile(0.75))}`,
        `${(median(c.batches) / bare).toFixed(2)}x`,
      ];
    }),
    ["left", "right", "right", "right"],
  ),
);
