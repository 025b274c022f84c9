/**
 * The DNS server against real clients: dig (BIND's) and Node's resolver (c-ares), on loopback.
 */
import { Resolver } from "node:dns/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOMAIN, endpoints, name, service, standardServices } from "./fixtures.ts";
import { type DnsTestService, dig, digShort, digStatus, startDnsTestService } from "./support.ts";

let server: DnsTestService;
let port: number;

beforeAll(async () => {
  server = await startDnsTestService(
    [
      ...standardServices(),
      service(
        "shop",
        "big",
        endpoints("big", 40, () => ({}), 5),
      ),
    ],
    { dnsMaxAnswers: 40 },
  );
  port = server.dnsPort;
});
afterAll(() => server.close());

function resolver(): Resolver {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  return r;
}

describe("dig", () => {
  it("round-robin: each answer holds every endpoint, the first one rotating", async () => {
    const firsts: string[] = [];
    for (let i = 0; i < 4; i++) {
      const lines = await digShort(port, [name("web")]);
      expect(lines.slice().sort()).toEqual(["10.9.0.1", "10.9.0.2", "10.9.0.3", "10.9.0.4"]);
      firsts.push(lines[0] as string);
    }
    expect(new Set(firsts).size).toBe(4);
  });

  it("weighted round robin: first answers in proportion to weight", async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 14; i++) {
      const first = (await digShort(port, [name("weighted")]))[0] as string;
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ "10.9.0.1": 10, "10.9.0.2": 2, "10.9.0.3": 2 });
  });

  it("ring-hash: a hash label always lands on the same endpoint", async () => {
    const first = (await digShort(port, [`user-42.hash.${name("sticky")}`]))[0];
    for (let i = 0; i < 4; i++) {
      expect((await digShort(port, [`USER-42.hash.${name("sticky")}`]))[0]).toBe(first);
    }
    const others = new Set<string>();
    for (let i = 0; i < 20; i++) {
      others.add((await digShort(port, [`k${i}.hash.${name("sticky")}`]))[0] as string);
    }
    expect(others.size).toBeGreaterThanOrEqual(3);
  });

  it("ip-hash: dig's client subnet decides, and comes back with its scope", async () => {
    const subnetFirst = async (subnet: string) =>
      (await digShort(port, [`+subnet=${subnet}`, name("byip")]))[0] as string;
    const first = await subnetFirst("203.0.113.0/24");
    expect(await subnetFirst("203.0.113.0/24")).toBe(first);
    const spread = new Set<string>();
    for (let i = 0; i < 20; i++) spread.add(await subnetFirst(`198.51.${i}.0/24`));
    expect(spread.size).toBeGreaterThanOrEqual(3);
    const full = await dig(port, ["+subnet=203.0.113.0/24", name("byip")]);
    expect(full).toContain("CLIENT-SUBNET: 203.0.113.0/24/24");
  });

  it("latency-based: the region label sends a client to its region first", async () => {
    const lines = await digShort(port, [`eu-west.region.${name("near")}`]);
    expect(lines.slice(0, 2).sort()).toEqual(["10.9.0.2", "10.9.0.5"]);
  });

  it("SRV with priorities, weights, ports and targets, the targets' addresses alongside", async () => {
    const output = await dig(port, [`_http._tcp.${name("web")}`, "SRV"]);
    const records = [...output.matchAll(/\sIN\s+SRV\s+(\d+) (\d+) (\d+) (\S+)/g)].map((m) =>
      m.slice(1, 5),
    );
    expect(records.map((r) => r[0])).toEqual(["0", "1", "2", "3"]);
    expect(records.every((r) => r[2] === "8080")).toBe(true);
    for (const record of records) {
      const target = record[3] as string;
      expect(output).toMatch(
        new RegExp(`^${target.replaceAll(".", "\\.")}\\s+\\d+\\s+IN\\s+A\\s`, "m"),
      );
    }
  });

  it("NXDOMAIN, REFUSED and NOERROR without records where each belongs", async () => {
    expect(await digStatus(port, [name("nope")])).toBe("NXDOMAIN");
    expect(await digStatus(port, ["example.com"])).toBe("REFUSED");
    const empty = await dig(port, [name("empty")]);
    expect(empty).toContain("status: NOERROR");
    expect(empty).toContain("ANSWER: 0");
    expect(empty).toMatch(
      new RegExp(`AUTHORITY SECTION:\\n${DOMAIN.replaceAll(".", "\\.")}\\.\\s+5\\s+IN\\s+SOA`),
    );
  });

  it("answers over TCP when dig asks so", async () => {
    expect((await digShort(port, ["+tcp", name("web")])).length).toBe(4);
  });

  it("a truncated UDP answer makes dig retry over TCP and get all of it", async () => {
    const output = await dig(port, ["+noedns", name("big")]);
    expect(output).toContain("Truncated, retrying in TCP mode");
    expect(output).toContain("ANSWER: 40");
    expect(output).toMatch(/\(TCP\)/);
  });
});

describe("Node's resolver (c-ares)", () => {
  it("resolves A, AAAA and SRV", async () => {
    const r = resolver();
    expect((await r.resolve4(name("web"))).sort()).toEqual([
      "10.9.0.1",
      "10.9.0.2",
      "10.9.0.3",
      "10.9.0.4",
    ]);
    expect((await r.resolve6(name("six"))).sort()).toEqual(["fd00::1", "fd00::2"]);
    const srv = await r.resolveSrv(`_grpc._tcp.${name("partial")}`);
    expect(srv.map((record) => record.port).sort()).toEqual([9000, 9002]);
  });

  it("rotates round-robin answers across queries", async () => {
    const r = resolver();
    const firsts = new Set<string>();
    for (let i = 0; i < 4; i++) firsts.add((await r.resolve4(name("web")))[0] as string);
    expect(firsts.size).toBe(4);
  });

  it("sees TTL 0 for rotating strategies and the configured TTL for stable ones", async () => {
    const r = resolver();
    expect((await r.resolve4(name("web"), { ttl: true }))[0]?.ttl).toBe(0);
    expect((await r.resolve4(`k.hash.${name("sticky")}`, { ttl: true }))[0]?.ttl).toBe(5);
  });

  it("reports NXDOMAIN, empty answers and refusals as Node's error codes", async () => {
    const r = resolver();
    await expect(r.resolve4(name("nope"))).rejects.toMatchObject({ code: "ENOTFOUND" });
    await expect(r.resolve4(name("empty"))).rejects.toMatchObject({ code: "ENODATA" });
    await expect(r.resolve4("example.com")).rejects.toMatchObject({ code: "EREFUSED" });
  });

  it("falls back to TCP after a truncated answer and gets every record", async () => {
    expect(await resolver().resolve4(name("big"))).toHaveLength(40);
  });
});
