import { describe, expect, it } from "vitest";
import { NameParser } from "../../src/dns/names.ts";
import { answerData, ask, DOMAIN, endpoints, name, query, service, world } from "./fixtures.ts";

const subsets = [
  { name: "stable", selector: { matchLabels: { version: "v1" } } },
  { name: "next", selector: { matchLabels: { version: "v2" } } },
  { name: "nobody", selector: { matchLabels: { version: "v9" } } },
];

function subsetWorld() {
  return world([
    service(
      "shop",
      "web",
      endpoints("web", 5, (i) => ({ labels: { version: i < 3 ? "v1" : "v2" } })),
      "round-robin",
      { subsets },
    ),
    service(
      "shop",
      "sticky",
      endpoints("sticky", 6, (i) => ({ labels: { version: i < 3 ? "v1" : "v2" } })),
      "ring-hash",
      { subsets, defaultSubset: "stable" },
    ),
  ]);
}

describe("DNS names of subsets", () => {
  it("<subset>.subset.<service>.<namespace>.<domain> parses, alone and with other qualifiers", () => {
    const parser = new NameParser(DOMAIN);
    expect(parser.parse(`next.subset.web.shop.${DOMAIN}`)).toMatchObject({
      kind: "service",
      service: "web",
      subset: "next",
    });
    expect(parser.parse(`_http._tcp.user-1.hash.next.subset.web.shop.${DOMAIN}`)).toMatchObject({
      kind: "service",
      subset: "next",
      sessionKey: "user-1",
      srv: { port: "http", protocol: "tcp" },
    });
    expect(parser.parse(`subset.web.shop.${DOMAIN}`)).toMatchObject({ kind: "empty" });
    expect(parser.parse(`a.subset.b.subset.web.shop.${DOMAIN}`)).toEqual({ kind: "nonexistent" });
  });

  it("A answers hold the subset's endpoints alone", () => {
    const { responder } = subsetWorld();
    const stable = ask(responder, query(`stable.subset.${name("web")}`, "A"));
    expect(stable.rcode).toBe("NOERROR");
    expect(answerData(stable).sort()).toEqual(["10.9.0.1", "10.9.0.2", "10.9.0.3"]);
    const next = ask(responder, query(`next.subset.${name("web")}`, "A"));
    expect(answerData(next).sort()).toEqual(["10.9.0.4", "10.9.0.5"]);
    expect(answerData(ask(responder, query(name("web"), "A")))).toHaveLength(5);
  });

  it("a hash key stays within the subset, and defaultSubset applies to the plain name", () => {
    const { responder } = subsetWorld();
    for (let k = 0; k < 20; k++) {
      const first = answerData(
        ask(responder, query(`user-${k}.hash.next.subset.${name("sticky")}`, "A")),
      )[0];
      expect(["10.9.0.4", "10.9.0.5", "10.9.0.6"]).toContain(first);
    }
    const plain = answerData(ask(responder, query(name("sticky"), "A")));
    expect(plain.sort()).toEqual(["10.9.0.1", "10.9.0.2", "10.9.0.3"]);
  });

  it("an unknown subset is NXDOMAIN; a subset without endpoints has no data", () => {
    const { responder } = subsetWorld();
    expect(ask(responder, query(`beta.subset.${name("web")}`, "A")).rcode).toBe("NXDOMAIN");
    const empty = ask(responder, query(`nobody.subset.${name("web")}`, "A"));
    expect(empty.rcode).toBe("NOERROR");
    expect(empty.answers ?? []).toEqual([]);
  });
});
