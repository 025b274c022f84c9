/** The answer cache and the remembered readings: faster, and never a different answer. */
import { describe, expect, it } from "vitest";
import { AnswerCache, type AnswerShape } from "../../src/dns/answer-cache.ts";
import {
  answerData,
  ask,
  endpoint,
  endpoints,
  name,
  query,
  service,
  standardServices,
  world,
} from "./fixtures.ts";

function shape(overrides: Partial<AnswerShape> = {}): AnswerShape {
  return {
    version: VERSION,
    header: 256,
    limit: 512,
    edns: "-",
    type: "A",
    klass: "IN",
    endpoints: [A, B],
    ...overrides,
  };
}

const VERSION = {};
const A = {};
const B = {};

describe("AnswerCache", () => {
  it("finds an answer only for the same name and shape, with the ID written in", () => {
    const cache = new AnswerCache();
    const bytes = Buffer.from([0, 1, 2, 3, 4, 5]);
    cache.put("web", shape(), bytes, false);
    bytes[5] = 99; // the cache keeps its own copy
    const hit = cache.take("web", shape(), 0xabcd);
    expect(hit?.bytes).toEqual(Buffer.from([0xab, 0xcd, 2, 3, 4, 5]));
    expect(cache.take("WEB", shape(), 1)).toBeNull();
    for (const different of [
      { version: {} },
      { header: 0 },
      { limit: 1232 },
      { edns: "E" },
      { type: "AAAA" },
      { klass: "ANY" },
      { endpoints: [B, A] },
      { endpoints: [A] },
    ]) {
      expect(cache.take("web", shape(different), 1), JSON.stringify(different)).toBeNull();
    }
  });

  it("stays within its capacity, dropping the names added to least recently", () => {
    const cache = new AnswerCache(3);
    for (const n of ["a", "b", "c", "d"]) cache.put(n, shape(), Buffer.alloc(4), false);
    expect(cache.size).toBe(3);
    expect(cache.take("a", shape(), 1)).toBeNull();
    expect(cache.take("d", shape(), 1)).not.toBeNull();
  });

  it("keeps at most 32 answers per name", () => {
    const cache = new AnswerCache();
    const objects = Array.from({ length: 40 }, () => ({}));
    for (const o of objects) cache.put("web", shape({ endpoints: [o] }), Buffer.alloc(4), false);
    expect(cache.size).toBe(32);
    expect(cache.take("web", shape({ endpoints: [objects[0] as object] }), 1)).toBeNull();
    expect(cache.take("web", shape({ endpoints: [objects[39] as object] }), 1)).not.toBeNull();
  });
});

describe("the responder's remembered work", () => {
  it("answers the same bytes the same way, but for the ID", () => {
    const { responder } = world();
    const source = { address: "192.0.2.1", transport: "udp" as const };
    const sticky = (id: number) =>
      responder.answer(query(`k.hash.${name("sticky")}`, "A", { id }), source) as Buffer;
    const first = sticky(1);
    const second = sticky(2);
    expect(second.readUInt16BE(0)).toBe(2);
    expect(second.subarray(2)).toEqual(first.subarray(2));
  });

  it("reads messages of the same length that differ in one byte as the different questions they are", () => {
    const { responder } = world();
    // "six" and "web" differ in every letter, "web" and "wed" in one; all three are as long.
    const six = query(name("six"), "A", { id: 7 });
    const web = query(name("web"), "A", { id: 7 });
    const wed = query(name("web").replace("web", "wed"), "A", { id: 7 });
    expect(six.length).toBe(web.length);
    expect(wed.length).toBe(web.length);
    for (let round = 0; round < 3; round++) {
      expect(answerData(ask(responder, six))).toEqual(["10.8.0.1"]);
      expect(answerData(ask(responder, web))).toHaveLength(4);
      expect(ask(responder, wed).rcode).toBe("NXDOMAIN");
    }
  });

  it("never serves an answer of an older version of the service", () => {
    const { responder, catalog } = world();
    expect(answerData(ask(responder, query(name("web"), "A"))).sort()).toEqual([
      "10.9.0.1",
      "10.9.0.2",
      "10.9.0.3",
      "10.9.0.4",
    ]);
    catalog.replaceAll([
      ...standardServices().filter((s) => s.name !== "web"),
      service("shop", "web", [endpoint("web-9", "10.99.0.1")]),
    ]);
    for (let i = 0; i < 3; i++) {
      expect(answerData(ask(responder, query(name("web"), "A")))).toEqual(["10.99.0.1"]);
    }
    catalog.replaceAll(standardServices().filter((s) => s.name !== "web"));
    expect(ask(responder, query(name("web"), "A")).rcode).toBe("NXDOMAIN");
  });

  it("keeps a long rotation right once every order has been cached", () => {
    const { responder } = world([service("shop", "ring", endpoints("ring", 12))]);
    const firsts = Array.from(
      { length: 36 },
      () => answerData(ask(responder, query(name("ring"), "A")))[0],
    );
    expect(firsts.slice(12, 24)).toEqual(firsts.slice(0, 12));
    expect(firsts.slice(24)).toEqual(firsts.slice(0, 12));
    expect(new Set(firsts).size).toBe(12);
  });
});
