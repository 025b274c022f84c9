import dnsPacket, { type OptAnswer, type SoaAnswer, type SrvAnswer } from "dns-packet";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  answerData,
  ask,
  DOMAIN,
  decode,
  endpoints,
  name,
  query,
  type Response,
  service,
  world,
} from "./fixtures.ts";

function firstAnswer(response: Response, type = "A"): string {
  return answerData(response, type)[0] ?? "(none)";
}

function ttlOf(response: Response): number | undefined {
  return (response.answers?.[0] as { ttl?: number } | undefined)?.ttl;
}

function soaOf(response: Response): SoaAnswer | undefined {
  return (response.authorities ?? []).find((record) => record.type === "SOA") as
    | SoaAnswer
    | undefined;
}

function optOf(response: Response): OptAnswer | undefined {
  return (response.additionals ?? []).find((record) => record.type === "OPT") as
    | OptAnswer
    | undefined;
}

function srvOf(response: Response): SrvAnswer[] {
  return (response.answers ?? []).filter((record) => record.type === "SRV") as SrvAnswer[];
}

function clientSubnet(ip: string, sourcePrefixLength: number) {
  return {
    code: 8 as const,
    family: ip.includes(":") ? 2 : 1,
    sourcePrefixLength,
    scopePrefixLength: 0,
    ip,
  };
}

describe("A answers follow the service's strategy", () => {
  it("round-robin rotates the first answer from query to query, every endpoint in each answer, TTL 0", () => {
    const { responder } = world();
    const firsts: string[] = [];
    for (let i = 0; i < 8; i++) {
      const response = ask(responder, query(name("web"), "A"));
      expect(response.rcode).toBe("NOERROR");
      expect(new Set(answerData(response)).size).toBe(4);
      expect(response.answers?.every((record) => (record as { ttl: number }).ttl === 0)).toBe(true);
      firsts.push(firstAnswer(response));
    }
    expect(firsts.slice(0, 4).sort()).toEqual(["10.9.0.1", "10.9.0.2", "10.9.0.3", "10.9.0.4"]);
    expect(firsts.slice(4)).toEqual(firsts.slice(0, 4));
  });

  it("weighted round robin gives first answers in proportion to weight (5, 1, 1)", () => {
    const { responder } = world();
    const counts = new Map<string, number>();
    for (let i = 0; i < 70; i++) {
      const first = firstAnswer(ask(responder, query(name("weighted"), "A")));
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ "10.9.0.1": 50, "10.9.0.2": 10, "10.9.0.3": 10 });
  });

  it("ring-hash: the hash label sticks to one endpoint, whatever the case, with the TTL set", () => {
    const { responder } = world();
    const answer = (key: string, from = "192.0.2.10") =>
      ask(responder, query(`${key}.hash.${name("sticky")}`, "A"), from);
    const first = firstAnswer(answer("user-42"));
    for (let i = 0; i < 10; i++) {
      expect(firstAnswer(answer("user-42", `192.0.2.${i + 20}`))).toBe(first);
    }
    expect(firstAnswer(answer("USER-42"))).toBe(first);
    expect(ttlOf(answer("user-42"))).toBe(5);
    const spread = new Set(Array.from({ length: 60 }, (_, i) => firstAnswer(answer(`u${i}`))));
    expect(spread.size).toBeGreaterThanOrEqual(4);
  });

  it("ring-hash without a hash label hashes the client address: sticky per client, never an error", () => {
    const { responder } = world();
    const from = (address: string) =>
      firstAnswer(ask(responder, query(name("sticky"), "A"), address));
    expect(from("192.0.2.77")).toBe(from("192.0.2.77"));
    const spread = new Set(Array.from({ length: 60 }, (_, i) => from(`198.51.100.${i + 1}`)));
    expect(spread.size).toBeGreaterThanOrEqual(4);
  });

  it("ip-hash balances on the client subnet when the query carries one, else on the sender", () => {
    const { responder } = world();
    const viaSubnet = (subnet: string, sender: string) =>
      ask(
        responder,
        query(name("byip"), "A", { edns: 1232, options: [clientSubnet(subnet, 24)] }),
        sender,
      );
    const a = firstAnswer(viaSubnet("203.0.113.0", "127.0.0.1"));
    expect(firstAnswer(viaSubnet("203.0.113.0", "127.0.0.2"))).toBe(a);
    const spread = new Set(
      Array.from({ length: 40 }, (_, i) => firstAnswer(viaSubnet(`203.0.${i}.0`, "127.0.0.1"))),
    );
    expect(spread.size).toBeGreaterThanOrEqual(4);
    // Without the option, the sender decides.
    const senders = new Set(
      Array.from({ length: 40 }, (_, i) =>
        firstAnswer(ask(responder, query(name("byip"), "A"), `198.51.100.${i + 1}`)),
      ),
    );
    expect(senders.size).toBeGreaterThanOrEqual(4);
  });

  it("echoes the client subnet with the scope the answer holds for", () => {
    const { responder } = world();
    const scope = (service: string, label = "") => {
      const response = ask(
        responder,
        query(`${label}${name(service)}`, "A", {
          edns: 1232,
          options: [clientSubnet("203.0.113.0", 24)],
        }),
      );
      const option = optOf(response)?.options.find((o) => o.code === 8) as
        | { sourcePrefixLength: number; scopePrefixLength: number; ip: string }
        | undefined;
      expect(option?.ip).toBe("203.0.113.0");
      expect(option?.sourcePrefixLength).toBe(24);
      return option?.scopePrefixLength;
    };
    expect(scope("byip")).toBe(24);
    expect(scope("sticky")).toBe(24);
    expect(scope("sticky", "k.hash.")).toBe(0);
    expect(scope("web")).toBe(0);
  });

  it("latency-based: the region label puts that region's endpoints first, in any case", () => {
    const { responder } = world();
    for (const region of ["eu-west", "EU-West"]) {
      const response = ask(responder, query(`${region}.region.${name("near")}`, "A"));
      // near-1 and near-4 are in eu-west (10.9.0.2, 10.9.0.5); us-east next, ap-south last.
      expect(answerData(response).slice(0, 2).sort()).toEqual(["10.9.0.2", "10.9.0.5"]);
      expect(answerData(response).slice(2, 4).sort()).toEqual(["10.9.0.1", "10.9.0.4"]);
      expect(ttlOf(response)).toBe(5);
    }
    expect(answerData(ask(responder, query(name("near"), "A")))).toHaveLength(6);
  });

  it("leaves out unhealthy and terminating endpoints", () => {
    const { responder } = world();
    expect(answerData(ask(responder, query(name("sick"), "A")))).toEqual(["10.6.0.1"]);
  });

  it("cuts the answer to the configured maximum", () => {
    expect(answerData(ask(world().responder, query(name("many"), "A")))).toHaveLength(8);
    const three = world(undefined, { maxAnswers: 3 });
    expect(answerData(ask(three.responder, query(name("many"), "A")))).toHaveLength(3);
  });

  it("answers AAAA for IPv6 endpoints, A for IPv4 ones, both for ANY", () => {
    const { responder } = world();
    expect(answerData(ask(responder, query(name("six"), "AAAA")), "AAAA").sort()).toEqual([
      "fd00::1",
      "fd00::2",
    ]);
    expect(answerData(ask(responder, query(name("six"), "A")))).toEqual(["10.8.0.1"]);
    const any = ask(responder, query(name("six"), "ANY"));
    expect(any.answers).toHaveLength(3);
  });

  it("AAAA for an IPv4-only service is NOERROR without records, and does not move the rotation", () => {
    const { responder } = world();
    const firsts: string[] = [];
    for (let i = 0; i < 4; i++) {
      firsts.push(firstAnswer(ask(responder, query(name("web"), "A"))));
      const aaaa = ask(responder, query(name("web"), "AAAA"));
      expect(aaaa.rcode).toBe("NOERROR");
      expect(aaaa.answers).toEqual([]);
      expect(soaOf(aaaa)?.name).toBe(DOMAIN);
    }
    expect(new Set(firsts).size).toBe(4);
  });

  it("repeats the question's id, spelling and RD flag, and answers with authority", () => {
    const { responder } = world();
    const response = ask(responder, query("WeB.ShOp.lb.konsul.local", "A", { id: 999 }));
    expect(response.id).toBe(999);
    expect(response.questions?.[0]?.name).toBe("WeB.ShOp.lb.konsul.local");
    expect(response.answers?.[0]?.name).toBe("WeB.ShOp.lb.konsul.local");
    expect(response.flag_aa).toBe(true);
    expect(response.flag_rd).toBe(true);
    expect(response.flag_ra).toBe(false);
    const noRd = ask(responder, query(name("web"), "A", { flags: 0 }));
    expect(noRd.flag_rd).toBe(false);
  });
});

describe("SRV answers", () => {
  it("ranks endpoints by the strategy's order, with the targets' addresses as additional records", () => {
    const { responder } = world();
    const response = ask(responder, query(`_http._tcp.${name("web")}`, "SRV", { edns: 1232 }));
    const records = srvOf(response);
    expect(records.map((r) => r.data.priority)).toEqual([0, 1, 2, 3]);
    // Round robin ignores weights: all equal, at the top of the SRV range.
    expect(records.every((r) => r.data.port === 8080 && r.data.weight === 65535)).toBe(true);
    const additional = new Map(
      (response.additionals ?? [])
        .filter((r) => r.type === "A")
        .map((r) => [r.name, (r as { data: string }).data]),
    );
    for (const record of records) {
      const address = additional.get(record.data.target);
      expect(address, record.data.target).toBeDefined();
      // The target resolves on its own too.
      expect(answerData(ask(responder, query(record.data.target, "A")))).toEqual([address]);
    }
  });

  it("uses the named port and only the endpoints that have it", () => {
    const { responder } = world();
    const records = srvOf(ask(responder, query(`_grpc._tcp.${name("partial")}`, "SRV")));
    expect(records.map((r) => r.data.port).sort()).toEqual([9000, 9002]);
    const metrics = srvOf(ask(responder, query(`_metrics._tcp.${name("web")}`, "SRV")));
    expect(metrics.every((r) => r.data.port === 9090)).toBe(true);
  });

  it("gives latency tiers as priorities and endpoint weights, scaled to the SRV range, as weights", () => {
    const { responder } = world();
    const records = srvOf(
      ask(responder, query(`_http._tcp.eu-west.region.${name("near")}`, "SRV", { edns: 1232 })),
    );
    const byTarget = Object.fromEntries(
      records.map((r) => [r.data.target.split(".")[0], [r.data.priority, r.data.weight]]),
    );
    // near-i: region ["us-east", "eu-west", "ap-south"][i % 3], weight i + 1, at 10.9.0.(i+1);
    // SRV weight: round(weight × 65535 / 6).
    expect(byTarget).toEqual({
      "10-9-0-2": [0, 21845],
      "10-9-0-5": [0, 54613],
      "10-9-0-1": [1, 10923],
      "10-9-0-4": [1, 43690],
      "10-9-0-3": [2, 32768],
      "10-9-0-6": [2, 65535],
    });
    const noRegion = srvOf(
      ask(responder, query(`_http._tcp.${name("near")}`, "SRV", { edns: 1232 })),
    );
    expect(noRegion).toHaveLength(6);
    expect(noRegion.every((r) => r.data.priority === 0)).toBe(true);
  });

  it("lets random strategies' clients draw: one priority, weights as the strategy uses them", () => {
    const { responder } = world();
    const records = srvOf(ask(responder, query(`_http._tcp.${name("random")}`, "SRV")));
    expect(records.map((r) => [r.data.priority, r.data.weight])).toEqual([
      [0, 65535],
      [0, 65535],
      [0, 65535],
      [0, 65535],
    ]);
  });

  it("puts the hashed endpoint first for a hash label", () => {
    const { responder } = world();
    const a = firstAnswer(ask(responder, query(`user-7.hash.${name("sticky")}`, "A")));
    const records = srvOf(ask(responder, query(`_http._tcp.user-7.hash.${name("sticky")}`, "SRV")));
    const first = records.find((r) => r.data.priority === 0);
    expect(first?.data.target).toBe(`${a.replaceAll(".", "-")}.ep.sticky.shop.${DOMAIN}`);
  });

  it("NXDOMAIN for an unknown port or protocol, NODATA for other types", () => {
    const { responder } = world();
    expect(ask(responder, query(`_nope._tcp.${name("web")}`, "SRV")).rcode).toBe("NXDOMAIN");
    expect(ask(responder, query(`_http._quic.${name("web")}`, "SRV")).rcode).toBe("NXDOMAIN");
    expect(srvOf(ask(responder, query(`_http._udp.${name("web")}`, "SRV")))).toHaveLength(4);
    const a = ask(responder, query(`_http._tcp.${name("web")}`, "A"));
    expect([a.rcode, a.answers?.length]).toEqual(["NOERROR", 0]);
  });

  it("drops the additional records, not the answer, when only they do not fit", () => {
    const { responder } = world();
    const response = ask(responder, query(`_http._tcp.${name("web")}`, "SRV"));
    expect(response.additionals).toEqual([]);
    const plain = ask(responder, query(`_http._tcp.${name("web")}`, "SRV", { edns: 512 }));
    expect(dnsPacket.encodingLength(response)).toBeLessThanOrEqual(512);
    expect(response.flag_tc).toBe(false);
    expect(srvOf(response)).toHaveLength(4);
    expect(srvOf(plain)).toHaveLength(4);
    const overTcp = ask(responder, query(`_http._tcp.${name("web")}`, "SRV"), undefined, "tcp");
    expect(overTcp.additionals?.filter((r) => r.type === "A")).toHaveLength(4);
  });
});

describe("response codes", () => {
  it("NXDOMAIN with the SOA for unknown services, namespaces and endpoints", () => {
    const { responder } = world();
    for (const unknown of [
      name("nope"),
      name("web", "nowhere"),
      `nowhere.${DOMAIN}`,
      `10-1-1-1.ep.${name("web")}`,
      `x.${name("web")}`,
    ]) {
      const response = ask(responder, query(unknown, "A"));
      expect(response.rcode, unknown).toBe("NXDOMAIN");
      expect(response.flag_aa).toBe(true);
      expect(soaOf(response)?.data.minimum).toBe(5);
    }
  });

  it("NOERROR without records (and the SOA) for names that exist without such records", () => {
    const { responder } = world();
    for (const [exists, type] of [
      [name("empty"), "A"],
      [name("web"), "TXT"],
      [`shop.${DOMAIN}`, "A"],
      [`hash.${name("sticky")}`, "A"],
      [`_tcp.${name("web")}`, "SRV"],
      [DOMAIN, "A"],
    ] as const) {
      const response = ask(responder, query(exists, type));
      expect(response.rcode, exists).toBe("NOERROR");
      expect(response.answers, exists).toEqual([]);
      expect(soaOf(response), exists).toBeDefined();
    }
  });

  it("answers the SOA at the apex, its serial the catalog index", () => {
    const { responder, catalog } = world();
    const response = ask(responder, query(DOMAIN, "SOA"));
    const soa = response.answers?.[0] as SoaAnswer;
    expect(soa.type).toBe("SOA");
    expect(soa.data.serial).toBe(catalog.index);
  });

  it("REFUSED, without authority, outside the domain; REFUSED for zone transfers and other classes", () => {
    const { responder } = world();
    for (const outside of ["example.com", ".", "konsul.local", "lb.konsul.local.evil.com"]) {
      const response = ask(responder, query(outside, "A"));
      expect(response.rcode, outside).toBe("REFUSED");
      expect(response.flag_aa).toBe(false);
    }
    expect(ask(responder, query(DOMAIN, "AXFR")).rcode).toBe("REFUSED");
    expect(ask(responder, query(name("web"), "A", { class: "CH" })).rcode).toBe("REFUSED");
    expect(ask(responder, query(name("web"), "A", { class: "ANY" })).rcode).toBe("NOERROR");
  });

  it("NOTIMP for opcodes other than QUERY", () => {
    const message = query(name("web"), "A");
    message[2] = ((message[2] as number) & 0x87) | (2 << 3); // opcode 2: STATUS
    expect(ask(world().responder, message).rcode).toBe("NOTIMP");
  });

  it("FORMERR for zero or two questions, a bad client subnet, an undecodable body", () => {
    const { responder } = world();
    const none = dnsPacket.encode({ type: "query", id: 7, questions: [] });
    expect(ask(responder, none).rcode).toBe("FORMERR");
    const two = dnsPacket.encode({
      type: "query",
      id: 7,
      questions: [
        { name: name("web"), type: "A" },
        { name: name("web"), type: "AAAA" },
      ],
    });
    expect(ask(responder, two).rcode).toBe("FORMERR");
    // A /20 with three address bytes is malformed (RFC 7871 section 6).
    const badSubnet = query(name("byip"), "A", {
      edns: 1232,
      options: [{ code: 8, data: Buffer.from([0, 1, 20, 0, 203, 0, 113]) } as never],
    });
    expect(ask(responder, badSubnet).rcode).toBe("FORMERR");
    const garbage = Buffer.concat([query(name("web"), "A").subarray(0, 20), Buffer.from([0xff])]);
    const formerr = ask(responder, garbage);
    expect([formerr.rcode, formerr.id]).toEqual(["FORMERR", 4242]);
  });

  it("BADVERS for EDNS versions other than 0", () => {
    const response = ask(
      world().responder,
      query(name("web"), "A", { edns: 1232, ednsVersion: 1 }),
    );
    expect(response.rcode).toBe("NOERROR"); // the lower four bits of 16
    expect(optOf(response)?.extendedRcode).toBe(1);
  });

  it("SERVFAIL only for the server's own fault: a policy naming a strategy it does not offer", () => {
    const { responder } = world(undefined, { enabledStrategies: ["round-robin", "ring-hash"] });
    expect(ask(responder, query(name("byip"), "A")).rcode).toBe("SERVFAIL");
    expect(ask(responder, query(name("web"), "A")).rcode).toBe("NOERROR");
  });

  it("never repeats a question it cannot write back as it came: errors go without it, look-ups are dropped", () => {
    const { responder } = world();
    // Found by the UDP fuzz: a label holding a dot byte (0x2e), with a malformed client subnet
    // (FORMERR) or an EDNS version of 46 (BADVERS). Repeating the question split that label, the
    // empty label ended the name early, and the rest of the answer could not be decoded.
    const fuzzed = [
      "2e9201000001000000000001016b0468617368062e7469636b790473686f70026c62066b2e6e73756c056c6f63616c002e010001000029100000000000000b00080007002e1800cb0071",
      "109201000001000000000001016b046861732e06737469636b790473686f70026c62066b6f6e73756c056c6f63616c000001000100002910000000002e000b00080007002e1800cb0071",
      "109201000001000000000001016b046861736806737469636b790473686f70026c2e066b6f6e73756c056c6f63616c002e0100010000291000002e0000000b0008000700012e00cb0071",
    ];
    const rcodes = fuzzed.map((hex) => {
      const bytes = responder.answer(Buffer.from(hex, "hex"), {
        address: "127.0.0.1",
        transport: "udp",
      });
      const response = decode(bytes as Buffer);
      expect(response.questions, hex).toEqual([]);
      return [response.rcode, optOf(response)?.extendedRcode ?? 0];
    });
    expect(rcodes).toEqual([
      ["FORMERR", 0],
      ["FORMERR", 0],
      ["NOERROR", 1], // BADVERS: 16, its upper bits in the OPT record
    ]);
    // "web.shop" in one label is not the name web.shop.<domain>: the look-up is dropped.
    const asked = query(name("web"), "A");
    expect(ask(responder, asked).rcode).toBe("NOERROR");
    const oneLabel = Buffer.from(asked);
    const web = oneLabel.indexOf(Buffer.from([3, ...Buffer.from("web"), 4]));
    oneLabel[web] = "web.shop".length;
    oneLabel[web + 4] = ".".charCodeAt(0);
    expect(responder.answer(oneLabel, { address: "127.0.0.1", transport: "udp" })).toBeNull();
  });

  it("drops responses and messages shorter than a header", () => {
    const { responder } = world();
    const response = query(name("web"), "A");
    response[2] = (response[2] as number) | 0x80;
    expect(responder.answer(response, { address: "127.0.0.1", transport: "udp" })).toBeNull();
    expect(
      responder.answer(Buffer.alloc(5), { address: "127.0.0.1", transport: "udp" }),
    ).toBeNull();
  });

  it("never FORMERR or SERVFAIL for a well-formed query, whatever the name and type", () => {
    const { responder } = world();
    const label = fc.oneof(
      fc.constantFrom("hash", "region", "ep", "_http", "_tcp", "_grpc", "10-9-0-1"),
      fc.constantFrom("web", "sticky", "near", "empty", "six", "shop", "billing", "eu-west"),
      fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
    );
    const type = fc.constantFrom("A", "AAAA", "SRV", "ANY", "TXT", "SOA", "NS", "PTR", "MX");
    fc.assert(
      fc.property(fc.array(label, { maxLength: 6 }), type, fc.boolean(), (labels, qtype, edns) => {
        const qname = [...labels, DOMAIN].join(".");
        const response = ask(
          responder,
          query(qname, qtype, edns ? { edns: 1232 } : {}),
          "198.51.100.9",
        );
        expect(["NOERROR", "NXDOMAIN"], `${qtype} ${qname}`).toContain(response.rcode);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("truncation", () => {
  it("sets TC over UDP without EDNS past 512 bytes; EDNS raises the limit; TCP carries it all", () => {
    const { responder } = world(
      [
        service(
          "shop",
          "big",
          endpoints("big", 40, () => ({}), 5),
        ),
      ],
      { maxAnswers: 40 },
    );
    const udp = responder.answer(query(name("big"), "A"), {
      address: "127.0.0.1",
      transport: "udp",
    }) as Buffer;
    expect(udp.length).toBeLessThanOrEqual(512);
    expect(decode(udp).flag_tc).toBe(true);
    const edns = responder.answer(query(name("big"), "A", { edns: 4096 }), {
      address: "127.0.0.1",
      transport: "udp",
    }) as Buffer;
    expect(edns.length).toBeGreaterThan(512);
    expect(edns.length).toBeLessThanOrEqual(1232);
    expect(optOf(decode(edns))).toBeDefined();
    const tcp = ask(responder, query(name("big"), "A"), "127.0.0.1", "tcp");
    expect(tcp.flag_tc).toBe(false);
    expect(answerData(tcp)).toHaveLength(40);
  });
});

describe("metrics", () => {
  it("counts queries by type, rcode and transport, and the decisions as HTTP does", async () => {
    const { responder, metrics } = world();
    ask(responder, query(name("web"), "A"));
    ask(responder, query(name("nope"), "AAAA"), undefined, "tcp");
    ask(responder, query("example.com", "TXT"));
    responder.answer(Buffer.alloc(3), { address: "127.0.0.1", transport: "udp" });
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'konsul_lb_dns_queries_total{type="A",rcode="NOERROR",transport="udp"} 1',
    );
    expect(text).toContain(
      'konsul_lb_dns_queries_total{type="AAAA",rcode="NXDOMAIN",transport="tcp"} 1',
    );
    expect(text).toContain(
      'konsul_lb_dns_queries_total{type="TXT",rcode="REFUSED",transport="udp"} 1',
    );
    expect(text).toContain('konsul_lb_dns_dropped_total{reason="short"} 1');
    expect(text).toContain(
      'konsul_lb_selections_total{service="shop/web",strategy="round-robin",result="ok"} 1',
    );
  });
});

describe("locality over DNS", () => {
  const zoneOf = (i: number) => (i < 2 ? "eu-1a" : "eu-1b");
  const services = () => [
    service(
      "shop",
      "cart",
      endpoints("cart", 4, (i) => ({ zone: zoneOf(i), region: "eu" })),
      "round-robin",
      { locality: { mode: "PreferSameZone" } },
    ),
    // The callers: one pod in each zone.
    service(
      "shop",
      "web",
      endpoints("web", 2, (i) => ({ zone: zoneOf(i * 2), region: "eu" }), 8),
    ),
  ];

  it("places the caller by its client subnet, else by the sender, and scopes the answer", () => {
    const { responder } = world(services());
    const viaSubnet = ask(
      responder,
      query(name("cart"), "A", { edns: 1232, options: [clientSubnet("10.8.0.1", 32)] }),
      "127.0.0.1",
    );
    expect(answerData(viaSubnet).sort()).toEqual(["10.9.0.1", "10.9.0.2"]);
    const subnet = optOf(viaSubnet)?.options?.[0] as { scopePrefixLength?: number } | undefined;
    expect(subnet?.scopePrefixLength).toBe(32);
    const fromSender = ask(responder, query(name("cart"), "A"), "10.8.0.2");
    expect(answerData(fromSender).sort()).toEqual(["10.9.0.3", "10.9.0.4"]);
    // A sender that backs no service: every endpoint.
    expect(answerData(ask(responder, query(name("cart"), "A"), "192.0.2.1")).length).toBe(4);
  });
});
