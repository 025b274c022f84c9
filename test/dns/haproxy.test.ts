/**
 * A real DNS client that reads SRV weights: HAProxy (Debian's `haproxy`) with `server-template …
 * resolvers` against the DNS server, balancing requests to three loopback backends of weights
 * 1, 3 and 1. HAProxy reads an SRV weight w as server weight w / 256 + 1, so the spread through
 * it is 1:3:1 only when the SRV weights use the 16-bit range (see src/dns/srv-weight.ts).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, request, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Component, freePorts } from "../cluster/harness/processes.ts";
import { eventually } from "../support/service.ts";
import { systemBinary } from "../support/system-binary.ts";
import { DOMAIN, endpoint, service } from "./fixtures.ts";
import { type DnsTestService, startDnsTestService } from "./support.ts";

/** Requests sent through HAProxy: enough for the spread, few enough for a second or two. */
const REQUESTS = 500;
const WEIGHTS = [1, 3, 1] as const;
/** Distinct loopback addresses: SRV targets are named after the address, one per endpoint. */
const ADDRESSES = ["127.0.0.11", "127.0.0.12", "127.0.0.13"] as const;

/** A backend that answers every request with its own name. */
function backend(host: string, name: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createHttpServer((_req, res) => res.end(name));
    server.once("error", reject);
    server.listen(0, host, () => resolve(server));
  });
}

/** One request on a fresh connection, so HAProxy balances each one; the body it got back. */
function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/", agent: false, timeout: 2000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          res.statusCode === 200
            ? resolve(body)
            : reject(new Error(`HTTP ${res.statusCode}: ${body}`)),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer from HAProxy within 2 s")));
    req.on("error", reject);
    req.end();
  });
}

/** A command on HAProxy's runtime API socket and its whole answer. */
function runtimeApi(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = connect(socket);
    let answer = "";
    connection.setEncoding("utf8");
    connection.setTimeout(2000, () => connection.destroy(new Error(`${command}: no answer`)));
    connection.on("data", (chunk: string) => {
      answer += chunk;
    });
    connection.on("end", () => resolve(answer));
    connection.on("error", reject);
    connection.end(`${command}\n`);
  });
}

interface ServerState {
  readonly address: string;
  readonly port: string;
  readonly weight: number;
}

/** The servers HAProxy has resolved, from `show servers state`. */
async function resolvedServers(socket: string): Promise<ServerState[]> {
  const lines = (await runtimeApi(socket, "show servers state be")).split("\n");
  const header = lines.find((line) => line.startsWith("# be_id"));
  if (header === undefined) throw new Error(`no header in:\n${lines.join("\n")}`);
  const columns = header.slice(2).split(" ");
  return lines
    .filter((line) => /^\d/.test(line) && line.includes(" "))
    .map((line) => Object.fromEntries(line.split(" ").map((v, i) => [columns[i], v])))
    .filter((row) => row.srv_addr !== "0.0.0.0" && row.srv_addr !== "-")
    .map((row) => ({
      address: row.srv_addr as string,
      port: row.srv_port as string,
      weight: Number(row.srv_uweight),
    }));
}

let dns: DnsTestService;
let backends: Server[];
let haproxy: Component;
let runDir: string;
let frontendPort: number;
let socket: string;

beforeAll(async () => {
  const binary = systemBinary("haproxy", "haproxy");
  backends = await Promise.all(ADDRESSES.map((host, i) => backend(host, `ep-${i}`)));
  const ports = backends.map((server) => (server.address() as AddressInfo).port);
  dns = await startDnsTestService([
    service(
      "shop",
      "spread",
      ADDRESSES.map((address, i) =>
        endpoint(`ep-${i}`, address, {
          ports: { http: ports[i] as number },
          weight: WEIGHTS[i] as number,
        }),
      ),
      // One SRV priority for all, so the client draws by weight alone.
      "weighted-random",
    ),
  ]);
  runDir = await mkdtemp(join(tmpdir(), "konsul-lb-haproxy-"));
  socket = join(runDir, "admin.sock");
  [frontendPort] = (await freePorts(1)) as [number];
  const config = join(runDir, "haproxy.cfg");
  await writeFile(
    config,
    [
      "global",
      `  stats socket ${socket} level admin`,
      "defaults",
      "  mode http",
      "  timeout connect 1s",
      "  timeout client 5s",
      "  timeout server 5s",
      "resolvers konsul",
      `  nameserver lb 127.0.0.1:${dns.dnsPort}`,
      "  accepted_payload_size 1232",
      "  timeout resolve 200ms",
      "  timeout retry 200ms",
      "  hold valid 1s",
      "frontend fe",
      `  bind 127.0.0.1:${frontendPort}`,
      "  default_backend be",
      "backend be",
      "  balance roundrobin",
      `  server-template ep ${ADDRESSES.length} _http._tcp.spread.shop.${DOMAIN} resolvers konsul init-addr none`,
      "",
    ].join("\n"),
  );
  haproxy = new Component({ name: "haproxy", binary, args: ["-db", "-f", config] }, runDir);
  await haproxy.start();
}, 30_000);

afterAll(async () => {
  await haproxy?.stop({ graceMs: 2000 });
  await dns?.close();
  await Promise.all((backends ?? []).map((s) => new Promise((resolve) => s.close(resolve))));
  if (runDir) await rm(runDir, { recursive: true, force: true });
});

describe("HAProxy reading SRV records", () => {
  it("resolves every endpoint with weights in the ratio 1:3:1", async () => {
    let servers: ServerState[] = [];
    await haproxy
      .whileRunning(() =>
        eventually(async () => {
          servers = await resolvedServers(socket);
          expect(servers).toHaveLength(ADDRESSES.length);
        }, 10_000),
      )
      .catch(async (error) => {
        throw new Error(`${error}\nHAProxy's log:\n${await haproxy.tail()}`);
      });
    const byAddress = Object.fromEntries(servers.map((s) => [s.address, s]));
    const ports = backends.map((server) => String((server.address() as AddressInfo).port));
    expect(ADDRESSES.map((a) => byAddress[a]?.port)).toEqual(ports);
    // SRV weights 21845, 65535, 21845 read as 21845 / 256 + 1 and 65535 / 256 + 1.
    expect(ADDRESSES.map((a) => byAddress[a]?.weight)).toEqual([86, 256, 86]);
  });

  it(`spreads ${REQUESTS} requests 1:3:1`, async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < REQUESTS; i++) {
      const name = await get(frontendPort);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    const total = WEIGHTS.reduce((a, b) => a + b, 0);
    // Weighted round robin is deterministic: each share within 2 points of its weight's.
    WEIGHTS.forEach((weight, i) => {
      const share = (counts.get(`ep-${i}`) ?? 0) / REQUESTS;
      expect(
        Math.abs(share - weight / total),
        `ep-${i}: ${JSON.stringify(Object.fromEntries(counts))}`,
      ).toBeLessThan(0.02);
    });
  }, 30_000);
});
