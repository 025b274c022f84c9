/**
 * The flip part of `npm run bench -- --only=flip`: the CPU one readiness flip of a big Service
 * costs the server, from the catalog write to the answers it wakes. The server (flip-server.ts,
 * `konsul-lb serve`'s composition root in a process of its own, with every listener it attaches
 * to the catalog) serves one Service of 1,000, then 5,000 endpoints with a ring-hash policy
 * (hashing the session key, gold pods weighted 2, like the scale benchmark's big Service). Before
 * the flips a round-robin pick puts one picker slot in use, so every flip rebuilds it, and
 * blocking queries wait on the Service (its full state, as the scale benchmark's latency
 * follower reads it, and its round-robin endpoint list), each asked again when answered.
 *
 * The server measures its own CPU (user + system, all threads) over an idle stretch and over as
 * long a stretch of flips; CPU per flip is their difference over the flips. Builds are compared
 * in the same run (`--build=LABEL=PATH`, as for the isolation part), alternating within each
 * size and round. Flips are spaced so that every blocking query is answered once per flip in
 * every build (the answers per flip are reported): a faster build then does the same work.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { waitForLine } from "./child-process.ts";
import { median } from "./engine.ts";
import { type Build, buildsFrom, stopServer } from "./isolation.ts";
import { type Environment, formatMs, formatNumber, markdownTable } from "./report.ts";

const SERVER = fileURLToPath(new URL("./flip-server.ts", import.meta.url));
const SLICE_SIZE = 100;
/** Blocking queries on GET /v1/services/bench/big (every endpoint, by identity). */
const STATE_WAITERS = 2;
/**
 * Blocking queries on GET /v1/services/bench/big/endpoints?lb=round-robin: a list in the order
 * of the slot in use. (Through the policy's ring-hash it would put a 5,000-endpoint table in use,
 * whose rebuild at every flip would outweigh everything else measured here.)
 */
const LIST_WAITERS = 1;

export interface FlipSettings {
  readonly sizes: readonly number[];
  readonly flips: number;
  readonly intervalMs: number;
  readonly rounds: number;
  readonly builds: readonly Build[];
}

export function flipSettings(quick: boolean, args: readonly string[]): FlipSettings {
  return quick
    ? { sizes: [1_000, 5_000], flips: 10, intervalMs: 200, rounds: 1, builds: buildsFrom(args) }
    : { sizes: [1_000, 5_000], flips: 50, intervalMs: 200, rounds: 2, builds: buildsFrom(args) };
}

export interface FlipCase {
  readonly build: string;
  readonly endpoints: number;
  /** CPU per flip over the whole stretch, idle CPU taken off, in ms; one per round. */
  readonly totalMs: number[];
  /** CPU of the catalog write alone per flip, in ms; one per round. */
  readonly writeMs: number[];
  /** Blocking answers received per flip, over all rounds. */
  readonly answersPerFlip: number;
}

export interface FlipResults extends Environment {
  readonly settings: FlipSettings;
  readonly cases: readonly FlipCase[];
  readonly seconds: number;
}

export function manifest(endpoints: number): string {
  const objects: object[] = [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "bench", name: "big" },
      spec: { selector: { app: "big" }, ports: [{ name: "http", port: 80 }] },
    },
    {
      apiVersion: "lb.konsul.io/v1alpha1",
      kind: "LoadBalancingPolicy",
      metadata: { namespace: "bench", name: "big-sticky" },
      spec: {
        targetRef: { kind: "Service", name: "big" },
        strategy: "ring-hash",
        ringHash: { hashOn: "session-key" },
        weights: [{ selector: { matchLabels: { tier: "gold" } }, weight: 2 }],
      },
    },
  ];
  for (let i = 0; i < endpoints; i++) {
    objects.push({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        namespace: "bench",
        name: `big-${i}`,
        labels: { app: "big", tier: i % 3 === 0 ? "gold" : "silver" },
      },
      spec: { nodeName: `node-${i % 50}` },
    });
  }
  for (let first = 0; first < endpoints; first += SLICE_SIZE) {
    const count = Math.min(SLICE_SIZE, endpoints - first);
    objects.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        namespace: "bench",
        name: `big-${first / SLICE_SIZE}`,
        labels: { "kubernetes.io/service-name": "big" },
      },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: Array.from({ length: count }, (_, k) => {
        const i = first + k;
        return {
          addresses: [`10.2.${i >> 8}.${i & 255}`],
          conditions: { ready: true },
          nodeName: `node-${i % 50}`,
          zone: `zone-${i % 3}`,
          targetRef: { kind: "Pod", namespace: "bench", name: `big-${i}` },
        };
      }),
    });
  }
  return objects.map((object) => stringify(object)).join("---\n");
}

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
}

async function startServer(build: Build, file: string): Promise<Server> {
  const child = spawn(process.execPath, [SERVER, build.root, file], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const match = await waitForLine(child, /ready (http:\/\/\S+)/);
  return { child, url: match[1] as string };
}

/** One GET, its body drained unread; resolves with the answer's X-Konsul-Index. */
function indexOf(url: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent }, (response) => {
      response.resume();
      response.once("end", () => {
        if (response.statusCode !== 200) {
          reject(new Error(`${url} answered ${response.statusCode}`));
          return;
        }
        resolve(Number(response.headers["x-konsul-index"]));
      });
    });
    request.once("error", reject);
  });
}

/** A client that asks `url` again with the last index as soon as it is answered, until stopped. */
function follow(url: string): { answers: () => number; stop: () => Promise<number> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let running = true;
  let answers = 0;
  const loop = (async () => {
    let index = await indexOf(url, agent);
    while (running) {
      // Longer than any stretch: a wait that runs out would be an answer of the idle stretch.
      index = await indexOf(`${url}${url.includes("?") ? "&" : "?"}index=${index}&wait=5m`, agent);
      answers++;
    }
  })();
  return {
    answers: () => answers,
    stop: async () => {
      running = false;
      const counted = answers;
      // The request waiting now is cut off: it fails, which ends the loop.
      agent.destroy();
      await loop.catch(() => {});
      return counted;
    },
  };
}

interface Measured {
  readonly totalMs: number;
  readonly writeMs: number;
  readonly answers: number;
}

async function measureOnce(build: Build, file: string, settings: FlipSettings): Promise<Measured> {
  const server = await startServer(build, file);
  try {
    const big = `${server.url}/v1/services/bench/big`;
    // One picker slot in use, so that each flip rebuilds it as a catalog change does.
    const picked = await fetch(`${big}/pick?lb=round-robin`);
    if (!picked.ok) throw new Error(`the big service's /pick answered ${picked.status}`);
    await picked.arrayBuffer();
    const followers = [
      ...Array.from({ length: STATE_WAITERS }, () => follow(big)),
      ...Array.from({ length: LIST_WAITERS }, () => follow(`${big}/endpoints?lb=round-robin`)),
    ];
    const answered = () => followers.reduce((sum, f) => sum + f.answers(), 0);
    const warmed = waitForLine(server.child, /warmed/);
    const measured = waitForLine(server.child, /measured (\d+) (\d+) (\d+) (\d+)/);
    server.child.stdin?.write(`measure ${settings.flips} ${settings.intervalMs}\n`);
    await warmed;
    // The warm-up flips' answers are not counted.
    const before = answered();
    const match = await measured;
    const answers = answered() - before;
    await Promise.all(followers.map((f) => f.stop()));
    const [flips, idle, total, writes] = match.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
    ];
    return {
      totalMs: (total - idle) / flips / 1000,
      writeMs: writes / flips / 1000,
      answers,
    };
  } finally {
    await stopServer(server);
  }
}

export async function runFlip(
  settings: FlipSettings,
  environment: Environment,
): Promise<FlipResults> {
  const started = performance.now();
  const folder = await mkdtemp(join(tmpdir(), "konsul-lb-flip-"));
  const cases: FlipCase[] = [];
  try {
    for (const endpoints of settings.sizes) {
      const file = join(folder, `big-${endpoints}.yaml`);
      await writeFile(file, manifest(endpoints));
      const bySize = settings.builds.map((build) => ({
        build: build.label,
        endpoints,
        totalMs: [] as number[],
        writeMs: [] as number[],
        answers: 0,
      }));
      // Builds alternate within each round, so a change in the machine's load falls on both.
      for (let round = 0; round < settings.rounds; round++) {
        for (const [i, build] of settings.builds.entries()) {
          const measured = await measureOnce(build, file, settings);
          const c = bySize[i] as (typeof bySize)[number];
          c.totalMs.push(measured.totalMs);
          c.writeMs.push(measured.writeMs);
          c.answers += measured.answers;
          console.log(
            `  ${formatNumber(endpoints)} endpoints, ${build.label}: ${formatMs(measured.totalMs)} per flip, of which the catalog write ${formatMs(measured.writeMs)}; ${measured.answers} blocking answers`,
          );
        }
      }
      for (const c of bySize) {
        cases.push({
          build: c.build,
          endpoints,
          totalMs: c.totalMs,
          writeMs: c.writeMs,
          answersPerFlip: c.answers / (settings.flips * settings.rounds),
        });
      }
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return {
    ...environment,
    settings,
    cases,
    seconds: Math.round((performance.now() - started) / 1000),
  };
}

export function renderFlip(results: FlipResults): string {
  const { settings } = results;
  const own = settings.builds.at(-1)?.label;
  const rows = results.cases.map((c) => {
    const reference = results.cases.find(
      (other) => other.endpoints === c.endpoints && other.build === settings.builds[0]?.label,
    );
    const ratio = (of: (c: FlipCase) => number[]) =>
      reference === undefined ? "–" : `${(median(of(c)) / median(of(reference))).toFixed(2)}×`;
    return [
      formatNumber(c.endpoints),
      c.build,
      formatMs(median(c.totalMs)),
      ratio((x) => x.totalMs),
      formatMs(median(c.writeMs)),
      ratio((x) => x.writeMs),
      c.totalMs.map((ms) => formatMs(ms)).join(", "),
      c.answersPerFlip.toFixed(1),
    ];
  });
  return [
    "## Work per flip",
    "",
    `Measured ${results.date} on Node ${results.node}, ${results.cpu} (${results.cores} cores, shared with other work)${results.revision ? `, commit ${results.revision}` : ""}, by \`npm run bench -- --only=flip\` (bench/flip.ts); the run took ${results.seconds} s.`,
    `One Service of ${settings.sizes.map((n) => formatNumber(n)).join(", then ")} endpoints with a ring-hash policy (session key, gold pods weighted 2), served by \`konsul-lb serve\`'s composition root with every listener it attaches to the catalog;`,
    `a round-robin picker slot in use; ${STATE_WAITERS} blocking queries on the Service's state and ${LIST_WAITERS} on its round-robin endpoint list, each asked again when answered.`,
    `${settings.flips} readiness flips at one per ${settings.intervalMs} ms, each written into the catalog as a source writes a Service; ${settings.rounds} round(s), builds alternating.`,
    `CPU per flip: the server's CPU (all threads) over the flips less its CPU over as long an idle stretch, per flip (the median of the rounds); "catalog write" is the write alone (the catalog and its listeners, synchronous).`,
    own === undefined ? "" : `The ratio is against ${settings.builds[0]?.label}.`,
    "",
    markdownTable(
      [
        "Endpoints",
        "Build",
        "CPU per flip",
        "Ratio",
        "Catalog write",
        "Ratio",
        "CPU per flip by round",
        "Answers per flip",
      ],
      rows,
      ["right", "left", "right", "right", "right", "right", "left", "right"],
    ),
  ].join("\n");
}
