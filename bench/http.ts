/**
 * The HTTP part of `npm run bench`: /pick requests per second and latency through the real
 * server (a child process running `konsul-lb serve`), side by side in the same run with a bare
 * node:http server answering a fixed body of the same size — the cost of everything between the
 * socket and the answer, as a ratio. The load comes from autocannon in this process.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { stringify } from "yaml";
import { waitForLine } from "./child-process.ts";
import { type Environment, formatNumber, mark, markdownTable } from "./report.ts";

const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const ENDPOINTS = 1000;
/** The issue's load, then a light one whose latency shows the server rather than the queue. */
const CONNECTION_COUNTS = [100, 10] as const;

export interface HttpSettings {
  readonly seconds: number;
  readonly warmupSeconds: number;
}

export function httpSettings(quick: boolean): HttpSettings {
  return quick ? { seconds: 2, warmupSeconds: 1 } : { seconds: 10, warmupSeconds: 3 };
}

interface LoadResult {
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly non2xx: number;
}

/** One service of ENDPOINTS ready endpoints spread over two nodes, as a manifest file. */
function manifest(): string {
  const objects: object[] = [
    {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "node-a", labels: { "topology.kubernetes.io/region": "us-east" } },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "bench", name: "web" },
      spec: { ports: [{ name: "http", port: 80 }] },
    },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        namespace: "bench",
        name: "web-1",
        labels: { "kubernetes.io/service-name": "web" },
      },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: Array.from({ length: ENDPOINTS }, (_, i) => ({
        addresses: [`10.2.${i >> 8}.${i & 255}`],
        conditions: { ready: true },
        nodeName: "node-a",
        zone: "us-east-1a",
      })),
    },
  ];
  return objects.map((object) => stringify(object)).join("---\n");
}

/** A bare node:http server in its own process answering `body` to every request. */
async function startBareServer(body: string): Promise<{ url: string; child: ChildProcess }> {
  const script = `
    const http = require("node:http");
    const body = Buffer.from(${JSON.stringify(body)});
    const server = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": body.length });
      res.end(body);
    });
    server.listen(0, "127.0.0.1", () => console.log("listening " + server.address().port));`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const match = await waitForLine(child, /listening (\d+)/);
  return { url: `http://127.0.0.1:${match[1]}`, child };
}

async function startKonsul(file: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [CLI, "serve", "--file", file, "--http-addr", "127.0.0.1:0", "--log-level", "info"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const match = await waitForLine(child, /serving on (http:\/\/[^;\s]+)/);
  return { url: match[1] as string, child };
}

function load(url: string, connections: number, seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections, duration: seconds, pipelining: 1 }, (error, result) => {
      if (error) reject(error);
      else
        resolve({
          requestsPerSecond: result.requests.average,
          p50: result.latency.p50,
          p99: result.latency.p99,
          errors: result.errors,
          non2xx: result.non2xx,
        });
    });
  });
}

async function measure(
  url: string,
  connections: number,
  settings: HttpSettings,
): Promise<LoadResult> {
  await load(url, connections, settings.warmupSeconds);
  return load(url, connections, settings.seconds);
}

interface Comparison {
  readonly connections: number;
  readonly bare: LoadResult;
  readonly konsul: LoadResult;
}

export interface HttpResults extends Environment {
  readonly bodyBytes: number;
  readonly comparisons: readonly Comparison[];
  readonly seconds: number;
}

export async function runHttp(
  settings: HttpSettings,
  environment: Environment,
): Promise<HttpResults> {
  const folder = await mkdtemp(join(tmpdir(), "konsul-lb-bench-"));
  const file = join(folder, "services.yaml");
  await writeFile(file, manifest());
  const konsul = await startKonsul(file);
  let bare: Awaited<ReturnType<typeof startBareServer>> | undefined;
  try {
    const pickUrl = `${konsul.url}/v1/services/bench/web/pick`;
    const sample = await (await fetch(pickUrl)).text();
    bare = await startBareServer(sample);
    const comparisons: Comparison[] = [];
    for (const connections of CONNECTION_COUNTS) {
      console.log(`bare node:http, ${connections} connections, ${settings.seconds} s`);
      const bareResult = await measure(bare.url, connections, settings);
      console.log(
        `konsul-lb /pick (round-robin, ${ENDPOINTS} endpoints), ${connections} connections`,
      );
      const konsulResult = await measure(pickUrl, connections, settings);
      comparisons.push({ connections, bare: bareResult, konsul: konsulResult });
    }
    return {
      ...environment,
      bodyBytes: Buffer.byteLength(sample),
      comparisons,
      seconds: settings.seconds,
    };
  } finally {
    konsul.child.kill("SIGTERM");
    bare?.child.kill("SIGTERM");
    await rm(folder, { recursive: true, force: true });
  }
}

export function renderHttp(results: HttpResults): string {
  const rows = results.comparisons.flatMap((c) =>
    [
      ["bare node:http", c.bare],
      ["konsul-lb /pick", c.konsul],
    ].map(([name, r]) => {
      const result = r as LoadResult;
      return [
        String(c.connections),
        name as string,
        formatNumber(result.requestsPerSecond),
        `${result.p50} ms`,
        `${result.p99} ms`,
        String(result.errors + result.non2xx),
      ];
    }),
  );
  const heavy = results.comparisons[0] as Comparison;
  const light = results.comparisons[1] as Comparison;
  const ratio = heavy.konsul.requestsPerSecond / heavy.bare.requestsPerSecond;
  return [
    "## HTTP discovery API",
    "",
    `Measured ${results.date} on Node ${results.node}, ${results.cpu} (${results.cores} cores)${results.revision ? `, commit ${results.revision}` : ""}.`,
    `autocannon in the benchmark process, ${results.seconds} s per row after a warm-up, against each server in its own process on loopback:`,
    `\`GET /v1/services/bench/web/pick\` on a round-robin service of ${ENDPOINTS} endpoints, and a bare node:http server answering a fixed ${results.bodyBytes}-byte body of the same shape.`,
    "Both servers and the load generator share the machine's cores.",
    "",
    markdownTable(["Connections", "Server", "Requests/s", "p50", "p99", "Errors"], rows, [
      "right",
      "left",
      "right",
      "right",
      "right",
      "right",
    ]),
    "",
    markdownTable(
      ["Target", "Measured", "Met"],
      [
        [
          `≥ 0.5× the bare server's requests/s (${heavy.connections} connections)`,
          `${ratio.toFixed(2)}×`,
          mark(ratio >= 0.5),
        ],
        [
          `p99 < 5 ms (${heavy.connections} connections)`,
          `${heavy.konsul.p99} ms (bare: ${heavy.bare.p99} ms)`,
          mark(heavy.konsul.p99 < 5),
        ],
        [
          `p99 < 5 ms (${light.connections} connections)`,
          `${light.konsul.p99} ms (bare: ${light.bare.p99} ms)`,
          mark(light.konsul.p99 < 5),
        ],
        [
          "≥ 10,000 selections/s (the plan)",
          formatNumber(heavy.konsul.requestsPerSecond),
          mark(heavy.konsul.requestsPerSecond >= 10_000),
        ],
      ],
      ["left", "right", "left"],
    ),
  ].join("\n");
}
