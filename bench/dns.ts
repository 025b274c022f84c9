/**
 * The DNS part of `npm run bench`: queries per second and latency through the real server (a
 * child process running `konsul-lb serve --dns-addr`, on the demo catalog), measured with
 * dnsperf, side by side in the same run with a minimal Node UDP responder (dns-baseline.ts)
 * answering a fixed packet of the same size. The ratio of the two is the cost of decoding,
 * deciding and encoding, net of what any Node UDP server pays for its sockets.
 *
 *   npm run bench -- --only=dns [--dns-server=LABEL=PATH ...]
 *
 * --dns-server adds another build of the server to every round (PATH is its src/cli/main.ts,
 * e.g. a checkout of an earlier commit), so before and after are measured in one run.
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import dnsPacket from "dns-packet";
import { waitForLine } from "./child-process.ts";
import {
  type Environment,
  formatMs,
  formatNumber,
  formatRate,
  mark,
  markdownTable,
} from "./report.ts";

const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const BASELINE = fileURLToPath(new URL("./dns-baseline.ts", import.meta.url));
const DEMO = fileURLToPath(new URL("../examples/demo.yaml", import.meta.url));
const DOMAIN = "lb.konsul.local";
/** The target: at least 0.8 times the queries per second of the minimal responder. */
export const TARGET_RATIO = 0.8;

/** A build of the server: this checkout's, or another named by --dns-server. */
export interface DnsServer {
  readonly label: string;
  /** Its src/cli/main.ts. */
  readonly entry: string;
}

export interface DnsSettings {
  /** Seconds of each saturating dnsperf run. */
  readonly seconds: number;
  /** Rounds over all cases; each figure is the median of its rounds. */
  readonly rounds: number;
  /** The fixed rate of the latency runs, and their length. */
  readonly latencyQps: number;
  readonly latencySeconds: number;
  /** This checkout's server first, then any other builds measured alongside it. */
  readonly servers: readonly DnsServer[];
}

export function dnsSettings(quick: boolean, args: readonly string[] = []): DnsSettings {
  const servers: DnsServer[] = [{ label: "konsul-lb", entry: CLI }];
  for (const arg of args) {
    if (!arg.startsWith("--dns-server=")) continue;
    const value = arg.slice("--dns-server=".length);
    const [label = "", entry = ""] = value.split(/=(.*)/s);
    if (label === "" || !entry.endsWith("main.ts") || !existsSync(entry)) {
      throw new Error(
        `--dns-server ${JSON.stringify(value)} is not allowed; expected LABEL=PATH, PATH an existing src/cli/main.ts`,
      );
    }
    servers.push({ label, entry: resolve(entry) });
  }
  return quick
    ? { seconds: 2, rounds: 2, latencyQps: 2000, latencySeconds: 1, servers }
    : { seconds: 3, rounds: 5, latencyQps: 2000, latencySeconds: 4, servers };
}

interface Case {
  readonly name: string;
  readonly description: string;
  /** dnsperf's data file: "name type" lines, sent in turn. */
  readonly queries: readonly string[];
  /** Sent with EDNS (dnsperf -e), as resolvers do. */
  readonly edns: boolean;
}

const CASES: readonly Case[] = [
  {
    name: "round-robin A",
    description: "`cart.shop` (2 endpoints): the rotation moves on every query",
    queries: [`cart.shop.${DOMAIN} A`],
    edns: false,
  },
  {
    name: "ring-hash A, 1,000 keys",
    description: "`user-<n>.hash.checkout.shop`, n = 1..1,000: a hash per query",
    queries: Array.from({ length: 1000 }, (_, i) => `user-${i + 1}.hash.checkout.shop.${DOMAIN} A`),
    edns: false,
  },
  {
    name: "weighted round robin SRV",
    description: "`_http._tcp.catalog.shop` with EDNS: 3 SRV records and their addresses",
    queries: [`_http._tcp.catalog.shop.${DOMAIN} SRV`],
    edns: true,
  },
  {
    name: "mixed",
    description:
      "A, AAAA (no records), region label, SRV, NXDOMAIN and a name outside the domain, in turn",
    queries: [
      `cart.shop.${DOMAIN} A`,
      `cart.shop.${DOMAIN} AAAA`,
      `eu-west.region.payments.payments.${DOMAIN} A`,
      `_http._tcp.checkout.shop.${DOMAIN} SRV`,
      `nope.shop.${DOMAIN} A`,
      "example.com A",
    ],
    edns: false,
  },
];

interface Run {
  readonly qps: number;
  readonly completed: number;
  readonly lost: number;
  /** Seconds. */
  readonly averageLatency: number;
  /** Server CPU time (user + system) per completed query, in microseconds; null off Linux. */
  readonly cpuMicros: number | null;
}

interface LatencyRun {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface CaseResult {
  /** The server build's label. */
  readonly server: string;
  readonly name: string;
  readonly description: string;
  readonly qps: number;
  /** Queries per second over the minimal responder's, median over the rounds. */
  readonly ratio: number;
  /** The lowest and highest ratio of a round. */
  readonly ratioLow: number;
  readonly ratioHigh: number;
  /** CPU per query over the minimal responder's, median over the rounds; null off Linux. */
  readonly cpuRatio: number | null;
  readonly averageLatencyMs: number;
  readonly cpuMicros: number | null;
  readonly lost: number;
  readonly latency: LatencyRun;
}

export interface DnsResults extends Environment {
  readonly settings: DnsSettings;
  readonly dnsperf: string;
  readonly answerBytes: number;
  readonly baseline: {
    readonly qps: number;
    /** The slowest and fastest of its runs. */
    readonly qpsLow: number;
    readonly qpsHigh: number;
    readonly averageLatencyMs: number;
    readonly cpuMicros: number | null;
    readonly latency: LatencyRun;
  };
  readonly cases: readonly CaseResult[];
  readonly seconds: number;
}

async function startKonsul(entry: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [entry, "serve", "--file", DEMO, "--http-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const match = await waitForLine(child, /DNS on 127\.0\.0\.1:(\d+)/);
  return { port: Number(match[1]), child };
}

async function startBaseline(answer: Buffer): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [BASELINE, answer.toString("hex")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const match = await waitForLine(child, /listening (\d+)/);
  return { port: Number(match[1]), child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** The server's answer to one query, for the baseline to send back verbatim. */
async function fetchAnswer(port: number, name: string): Promise<Buffer> {
  const { createSocket } = await import("node:dgram");
  const socket = createSocket("udp4");
  const query = dnsPacket.encode({
    type: "query",
    id: 1,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: "A" }],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer from the DNS server")), 2000);
    socket.once("message", (message) => {
      clearTimeout(timer);
      socket.close();
      resolve(message);
    });
    socket.send(query, port, "127.0.0.1");
  });
}

/** User + system CPU time of a process in microseconds, from /proc (Linux). */
function cpuMicros(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    // USER_HZ is 100 on every Linux that Node supports.
    return Number.isFinite(ticks) ? ticks * 10_000 : null;
  } catch {
    return null;
  }
}

function dnsperf(args: readonly string[]): string {
  return execFileSync("dnsperf", args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
}

function statistic(output: string, label: string): number {
  const match = new RegExp(`${label}:\\s+([0-9.]+)`).exec(output);
  if (!match) throw new Error(`dnsperf printed no "${label}":\n${output}`);
  return Number(match[1]);
}

/** As many queries as the server answers: dnsperf keeps 100 outstanding. */
function saturate(
  server: { port: number; child: ChildProcess },
  file: string,
  edns: boolean,
  seconds: number,
): Run {
  const before = cpuMicros(server.child.pid);
  const output = dnsperf([
    "-s",
    "127.0.0.1",
    "-p",
    String(server.port),
    "-d",
    file,
    "-l",
    String(seconds),
    ...(edns ? ["-e"] : []),
  ]);
  const after = cpuMicros(server.child.pid);
  const completed = statistic(output, "Queries completed");
  return {
    qps: statistic(output, "Queries per second"),
    completed,
    lost: statistic(output, "Queries lost"),
    averageLatency: statistic(output, "Average Latency \\(s\\)"),
    cpuMicros: before === null || after === null ? null : (after - before) / completed,
  };
}

/** Latency at a fixed, moderate rate: the time a query takes, not the time it queues. */
function latencyAt(
  server: { port: number },
  file: string,
  edns: boolean,
  settings: DnsSettings,
): LatencyRun {
  const output = dnsperf([
    "-s",
    "127.0.0.1",
    "-p",
    String(server.port),
    "-d",
    file,
    "-l",
    String(settings.latencySeconds),
    "-Q",
    String(settings.latencyQps),
    "-v",
    ...(edns ? ["-e"] : []),
  ]);
  const seconds = [...output.matchAll(/^> \S+ .* ([0-9.]+)$/gm)]
    .map((match) => Number(match[1]))
    .sort((a, b) => a - b);
  if (seconds.length === 0) throw new Error(`dnsperf -v reported no queries:\n${output}`);
  const at = (q: number) =>
    (seconds[Math.min(seconds.length - 1, Math.floor(q * seconds.length))] as number) * 1000;
  return { p50: at(0.5), p99: at(0.99), max: (seconds[seconds.length - 1] as number) * 1000 };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  return values.some((value) => value === null) ? null : median(values as number[]);
}

function dnsperfVersion(): string {
  try {
    const output = execFileSync("dnsperf", ["-h"], { encoding: "utf8", stdio: "pipe" });
    return /Version (\S+)/.exec(output)?.[1] ?? "unknown";
  } catch (error) {
    const output = String((error as { stdout?: unknown }).stdout ?? "");
    const version = /Version (\S+)/.exec(output)?.[1];
    if (version) return version;
    throw new Error(
      "dnsperf is not installed; install it (Debian: apt-get install dnsperf) to run the DNS benchmark",
    );
  }
}

type Server = { port: number; child: ChildProcess };

export async function runDns(settings: DnsSettings, environment: Environment): Promise<DnsResults> {
  const started = performance.now();
  const version = dnsperfVersion();
  const folder = await mkdtemp(join(tmpdir(), "konsul-lb-dns-bench-"));
  const servers: Server[] = [];
  let baseline: Server | null = null;
  try {
    for (const { entry } of settings.servers) servers.push(await startKonsul(entry));
    const answer = await fetchAnswer((servers[0] as Server).port, `cart.shop.${DOMAIN}`);
    baseline = await startBaseline(answer);
    const files = CASES.map((c, i) => {
      const file = join(folder, `case-${i}.txt`);
      writeFileSync(file, `${c.queries.join("\n")}\n`);
      return file;
    });
    const baselineFile = files[0] as string;
    // Warm everything up (JIT, caches) before anything counts.
    saturate(baseline, baselineFile, false, 1);
    for (const server of servers) {
      for (const [i, c] of CASES.entries()) saturate(server, files[i] as string, c.edns, 1);
    }

    // The responder runs before and after every server run, and each run's ratio is to the mean
    // of those two: on a machine shared with other work the responder alone has swung between
    // 33,000 and 90,000 queries per second from one run to the next, so a ratio is only as good
    // as the baseline next to it.
    const baselineRuns: Run[] = [];
    const runs: { run: Run; ratio: number; cpuRatio: number | null }[][][] = servers.map(() =>
      CASES.map(() => []),
    );
    for (let round = 0; round < settings.rounds; round++) {
      let before = saturate(baseline, baselineFile, false, settings.seconds);
      baselineRuns.push(before);
      for (const [i, c] of CASES.entries()) {
        for (const [s, server] of servers.entries()) {
          const run = saturate(server, files[i] as string, c.edns, settings.seconds);
          const after = saturate(baseline, baselineFile, false, settings.seconds);
          baselineRuns.push(after);
          const ratio = run.qps / ((before.qps + after.qps) / 2);
          const cpuRatio =
            run.cpuMicros === null || before.cpuMicros === null || after.cpuMicros === null
              ? null
              : run.cpuMicros / ((before.cpuMicros + after.cpuMicros) / 2);
          runs[s]?.[i]?.push({ run, ratio, cpuRatio });
          console.log(
            `  round ${round + 1}: ${settings.servers[s]?.label}: ${c.name}: ${formatNumber(run.qps)} qps, ` +
              `${formatNumber(ratio, 2)}x the responder (${formatNumber(before.qps)} before, ${formatNumber(after.qps)} after)`,
          );
          before = after;
        }
      }
    }
    const baselineLatency = latencyAt(baseline, baselineFile, false, settings);
    const cases: CaseResult[] = [];
    for (const [s, server] of servers.entries()) {
      for (const [i, c] of CASES.entries()) {
        const measured = runs[s]?.[i] ?? [];
        const ratios = measured.map((m) => m.ratio);
        cases.push({
          server: settings.servers[s]?.label ?? "",
          name: c.name,
          description: c.description,
          qps: median(measured.map((m) => m.run.qps)),
          ratio: median(ratios),
          ratioLow: Math.min(...ratios),
          ratioHigh: Math.max(...ratios),
          cpuRatio: medianOrNull(measured.map((m) => m.cpuRatio)),
          averageLatencyMs: median(measured.map((m) => m.run.averageLatency)) * 1000,
          cpuMicros: medianOrNull(measured.map((m) => m.run.cpuMicros)),
          lost: measured.reduce((sum, m) => sum + m.run.lost, 0),
          latency: latencyAt(server, files[i] as string, c.edns, settings),
        });
      }
    }
    return {
      ...environment,
      settings,
      dnsperf: version,
      answerBytes: answer.length,
      baseline: {
        qps: median(baselineRuns.map((r) => r.qps)),
        qpsLow: Math.min(...baselineRuns.map((r) => r.qps)),
        qpsHigh: Math.max(...baselineRuns.map((r) => r.qps)),
        averageLatencyMs: median(baselineRuns.map((r) => r.averageLatency)) * 1000,
        cpuMicros: medianOrNull(baselineRuns.map((r) => r.cpuMicros)),
        latency: baselineLatency,
      },
      cases,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    if (baseline !== null) await stop(baseline.child);
    for (const server of servers) await stop(server.child);
    await rm(folder, { recursive: true, force: true });
  }
}

const us = (micros: number | null) => (micros === null ? "–" : `${formatNumber(micros, 1)} µs`);

const ratio = (value: number) => `${formatNumber(value, 2)}x`;

export function renderDns(results: DnsResults): string {
  const { settings, baseline } = results;
  const headline = results.cases[0] as CaseResult;
  const met = headline.ratio >= TARGET_RATIO;
  const several = settings.servers.length > 1;
  const serverOf = (c: CaseResult) => (several ? `${c.server}: ${c.name}` : `konsul-lb: ${c.name}`);
  const builds = several
    ? ` Server builds, each in every round: ${settings.servers.map((s) => s.label).join(", ")}.`
    : "";
  const lines = [
    "## DNS",
    "",
    `Measured ${results.date} on Node ${results.node}, ${results.cpu} (${results.cores} cores), ` +
      `with dnsperf ${results.dnsperf}; the run took ${formatNumber(results.seconds)} s.${builds}`,
    "",
    "### Target",
    "",
    markdownTable(
      ["Target", "Median over the rounds", "Lowest – highest", "Met"],
      [
        [
          `${serverOf(headline)}: queries per second ≥ ${TARGET_RATIO}x the minimal responder's`,
          ratio(headline.ratio),
          `${ratio(headline.ratioLow)} – ${ratio(headline.ratioHigh)}`,
          mark(met),
        ],
      ],
      ["left", "right", "right", "left"],
    ),
    "",
    "### Throughput",
    "",
    `dnsperf keeps 100 queries outstanding over UDP for ${settings.seconds} s per run, in ` +
      `${settings.rounds} rounds. The minimal responder runs before and after every server ` +
      "run (responder, server, responder, server, ...), and each run's ratio is its queries " +
      "per second over the mean of the responder's two runs beside it; the table gives the " +
      "median ratio over the rounds and the lowest and highest, and the same for CPU per query. " +
      "The minimal responder is a Node UDP socket that sends back one fixed " +
      `answer of ${results.answerBytes} bytes — konsul-lb's own answer to \`cart.shop\` A — ` +
      "with the query's ID written in: what any Node DNS server pays before it decides " +
      "anything. CPU per query is the server process's user and system time over the run " +
      "divided by the queries answered. dnsperf runs on the same machine and competes with the " +
      "server for its cores, so figures depend on the machine and on what else it is doing; " +
      `compare them within one run. The responder's own runs ranged from ` +
      `${formatNumber(baseline.qpsLow)} to ${formatNumber(baseline.qpsHigh)} queries per second.`,
    "",
    markdownTable(
      [
        "Server and queries",
        "Queries per second",
        "Ratio",
        "Lowest – highest",
        "Mean latency",
        "CPU per query",
        "CPU ratio",
        "Lost",
      ],
      [
        [
          "minimal responder (fixed answer)",
          formatRate(baseline.qps),
          "1.00x",
          "",
          formatMs(baseline.averageLatencyMs),
          us(baseline.cpuMicros),
          "1.00x",
          "",
        ],
        ...results.cases.map((c) => [
          serverOf(c),
          formatRate(c.qps),
          ratio(c.ratio),
          `${ratio(c.ratioLow)} – ${ratio(c.ratioHigh)}`,
          formatMs(c.averageLatencyMs),
          us(c.cpuMicros),
          c.cpuRatio === null ? "–" : ratio(c.cpuRatio),
          formatNumber(c.lost),
        ]),
      ],
      ["left", "right", "right", "right", "right", "right", "right", "right"],
    ),
    "",
    "The cases:",
    "",
    ...results.cases
      .filter((c) => c.server === headline.server)
      .map((c) => `- **${c.name}**: ${c.description}.`),
    "",
    "### Latency",
    "",
    `At a fixed ${formatNumber(settings.latencyQps)} queries per second for ` +
      `${settings.latencySeconds} s, well below saturation, so the figures show the time a ` +
      "query takes rather than the time it waits in a queue; from dnsperf's per-query report " +
      "(`-v`).",
    "",
    markdownTable(
      ["Server and queries", "p50", "p99", "max"],
      [
        [
          "minimal responder (fixed answer)",
          formatMs(baseline.latency.p50),
          formatMs(baseline.latency.p99),
          formatMs(baseline.latency.max),
        ],
        ...results.cases.map((c) => [
          serverOf(c),
          formatMs(c.latency.p50),
          formatMs(c.latency.p99),
          formatMs(c.latency.max),
        ]),
      ],
      ["left", "right", "right", "right"],
    ),
  ];
  return lines.join("\n");
}
