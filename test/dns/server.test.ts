/**
 * The sockets: UDP and TCP on one port, framing, pipelining, shutdown, and a fuzz of random,
 * truncated and mutated messages after which the server still answers.
 */
import { connect, type Socket } from "node:net";
import dnsPacket from "dns-packet";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDns } from "../../src/dns/start.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import { answerData, decode, name, query, type Response, world } from "./fixtures.ts";
import { type DnsTestService, digShort, startDnsTestService, udpExchange } from "./support.ts";

let server: DnsTestService;

beforeAll(async () => {
  server = await startDnsTestService();
});
afterAll(() => server.close());

function frame(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

/** Reads length-prefixed messages from a TCP connection. */
function tcpReader(socket: Socket): { next(timeoutMs?: number): Promise<Response | null> } {
  let buffered = Buffer.alloc(0);
  const waiting: ((message: Buffer | null) => void)[] = [];
  const messages: Buffer[] = [];
  const deliver = () => {
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const length = buffered.readUInt16BE(0);
      const message = buffered.subarray(2, 2 + length);
      buffered = buffered.subarray(2 + length);
      const waiter = waiting.shift();
      if (waiter) waiter(message);
      else messages.push(message);
    }
  };
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    deliver();
  });
  socket.on("close", () => {
    for (const waiter of waiting.splice(0)) waiter(null);
  });
  return {
    next(timeoutMs = 2000) {
      const ready = messages.shift();
      if (ready) return Promise.resolve(decode(ready));
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), timeoutMs);
        waiting.push((message) => {
          clearTimeout(timer);
          resolve(message === null ? null : decode(message));
        });
      });
    },
  };
}

function tcpConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.once("error", reject);
  });
}

async function stillAnswers(port: number): Promise<void> {
  const response = await udpExchange(port, query(name("web"), "A", { id: 77 }), 2000);
  expect(response?.id).toBe(77);
  expect(answerData(response as Response)).toHaveLength(4);
}

const validQueries = [
  query(name("web"), "A"),
  query(`_http._tcp.${name("web")}`, "SRV", { edns: 1232 }),
  query(`k.hash.${name("sticky")}`, "A", {
    edns: 4096,
    options: [
      { code: 8, family: 1, sourcePrefixLength: 24, scopePrefixLength: 0, ip: "203.0.113.0" },
    ],
  }),
  query("example.com", "TXT"),
];

describe("UDP fuzz", () => {
  it("answers or drops random, truncated and mutated datagrams, and keeps answering", async () => {
    const port = server.dnsPort;
    const inputs: Buffer[] = [];
    for (const valid of validQueries) {
      for (let cut = 0; cut < valid.length; cut++) inputs.push(valid.subarray(0, cut));
    }
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc
            .tuple(
              fc.constantFrom(...validQueries),
              fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
              fc.nat(255),
            )
            .map(([valid, positions, value]) => {
              const mutated = Buffer.from(valid);
              for (const p of positions) mutated[p % mutated.length] = value;
              return mutated;
            }),
        ),
        (bytes) => {
          inputs.push(Buffer.from(bytes));
        },
      ),
      { numRuns: 1500 },
    );
    let answered = 0;
    for (let i = 0; i < inputs.length; i += 200) {
      const batch = inputs.slice(i, i + 200);
      const responses = await Promise.all(batch.map((bytes) => udpExchange(port, bytes, 250)));
      for (const response of responses) {
        if (response === null) continue;
        answered++;
        expect(response.type).toBe("response");
        expect(["NOERROR", "NXDOMAIN", "REFUSED", "FORMERR", "NOTIMP", "SERVFAIL"]).toContain(
          response.rcode,
        );
      }
      await stillAnswers(port);
    }
    expect(answered).toBeGreaterThan(inputs.length / 10);
  });
});

describe("TCP", () => {
  it("answers pipelined queries in order on one connection", async () => {
    const socket = await tcpConnect(server.dnsPort);
    const reader = tcpReader(socket);
    socket.write(
      Buffer.concat([
        frame(query(name("web"), "A", { id: 1 })),
        frame(query(name("nope"), "A", { id: 2 })),
        frame(query(name("six"), "AAAA", { id: 3 })),
      ]),
    );
    const answers = [await reader.next(), await reader.next(), await reader.next()];
    expect(answers.map((a) => [a?.id, a?.rcode])).toEqual([
      [1, "NOERROR"],
      [2, "NXDOMAIN"],
      [3, "NOERROR"],
    ]);
    socket.destroy();
  });

  it("reads a message split across writes, byte by byte", async () => {
    const socket = await tcpConnect(server.dnsPort);
    const reader = tcpReader(socket);
    const bytes = frame(query(name("web"), "A", { id: 9 }));
    for (const byte of bytes) {
      socket.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await reader.next())?.id).toBe(9);
    socket.destroy();
  });

  it("survives random frames and random bytes, and still answers new connections", async () => {
    const port = server.dnsPort;
    const socket = await tcpConnect(port);
    const reader = tcpReader(socket);
    const samples = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 300 }), 300);
    for (const sample of samples) socket.write(frame(Buffer.from(sample)));
    socket.write(frame(query(name("web"), "A", { id: 4321 })));
    // Answers to the random frames come first (those not dropped); the real query's answer last.
    let last: Response | null = null;
    for (;;) {
      const response = await reader.next(1000);
      if (response === null) break;
      expect(response.type).toBe("response");
      last = response;
      if (response.id === 4321 && answerData(response).length === 4) break;
    }
    expect(last?.id).toBe(4321);
    socket.destroy();

    for (const sample of fc.sample(fc.uint8Array({ minLength: 1, maxLength: 200 }), 30)) {
      const raw = await tcpConnect(port);
      raw.on("data", () => {});
      raw.on("error", () => {});
      raw.end(Buffer.from(sample));
    }
    const fresh = await tcpConnect(port);
    const freshReader = tcpReader(fresh);
    fresh.write(frame(query(name("web"), "A", { id: 5 })));
    expect((await freshReader.next())?.id).toBe(5);
    fresh.destroy();
    await stillAnswers(port);
  });
});

describe("lifecycle", () => {
  it("stops with an idle TCP connection open, and frees the port", async () => {
    const own = await startDnsTestService();
    const socket = await tcpConnect(own.dnsPort);
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.on("error", () => {});
    const started = Date.now();
    await own.close();
    await closed;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await udpExchange(own.dnsPort, query(name("web"), "A"), 300)).toBeNull();
  });

  it("says which setting to change when the port is taken", async () => {
    const { discovery, catalog } = world();
    const metrics = new Metrics(catalog, discovery.manager);
    const settings = {
      host: "127.0.0.1",
      port: server.dnsPort,
      domain: "lb.konsul.local",
      ttl: 5,
      maxAnswers: 8,
    };
    await expect(startDns(settings, discovery, metrics, createLogger("silent"))).rejects.toThrow(
      /cannot listen on 127\.0\.0\.1:\d+ .*--dns-addr \(KONSUL_LB_DNS_ADDR\)/,
    );
  });

  it("serves on IPv6 loopback", async () => {
    const { discovery, catalog } = world();
    const metrics = new Metrics(catalog, discovery.manager);
    const settings = { host: "::1", port: 0, domain: "lb.konsul.local", ttl: 5, maxAnswers: 8 };
    const listening = await startDns(settings, discovery, metrics, createLogger("silent"));
    try {
      expect(listening.host).toBe("::1");
      const response = await udpExchange(listening.port, query(name("web"), "A"), 1000, "::1");
      expect(answerData(response as Response)).toHaveLength(4);
      const viaDig = await digShort(listening.port, ["-6", `@::1`, name("web")]);
      expect(viaDig.length).toBeGreaterThanOrEqual(4);
    } finally {
      await listening.close();
    }
  });
});

describe("messages dns-packet writes", () => {
  it("are well-formed for every kind of answer", () => {
    const { responder } = world();
    for (const message of validQueries) {
      const bytes = responder.answer(message, { address: "127.0.0.1", transport: "udp" });
      expect(bytes).not.toBeNull();
      expect(() => dnsPacket.decode(bytes as Buffer)).not.toThrow();
    }
  });
});
