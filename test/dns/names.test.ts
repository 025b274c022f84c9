import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addressLabel, asciiLower, NameParser } from "../../src/dns/names.ts";

const parser = new NameParser("lb.konsul.local");

describe("NameParser", () => {
  it("reads a service name, with or without the trailing dot, in any case", () => {
    const expected = {
      kind: "service",
      namespace: "shop",
      service: "checkout",
      sessionKey: undefined,
      clientRegion: undefined,
      srv: undefined,
    };
    expect(parser.parse("checkout.shop.lb.konsul.local")).toEqual(expected);
    expect(parser.parse("checkout.shop.lb.konsul.local.")).toEqual(expected);
    expect(parser.parse("ChecKout.SHOP.lb.Konsul.LOCAL")).toEqual(expected);
  });

  it("reads the hash and region qualifiers, alone and together, keys lowercased", () => {
    expect(parser.parse("User-42.hash.checkout.shop.lb.konsul.local")).toMatchObject({
      kind: "service",
      sessionKey: "user-42",
      clientRegion: undefined,
    });
    expect(parser.parse("eu-west.region.payments.payments.lb.konsul.local")).toMatchObject({
      kind: "service",
      service: "payments",
      clientRegion: "eu-west",
    });
    expect(parser.parse("k.hash.eu.region.web.shop.lb.konsul.local")).toMatchObject({
      sessionKey: "k",
      clientRegion: "eu",
    });
    expect(parser.parse("eu.region.k.hash.web.shop.lb.konsul.local")).toMatchObject({
      sessionKey: "k",
      clientRegion: "eu",
    });
  });

  it("reads the SRV form, with qualifiers between the port and the service", () => {
    expect(parser.parse("_http._tcp.web.shop.lb.konsul.local")).toMatchObject({
      kind: "service",
      service: "web",
      srv: { port: "http", protocol: "tcp" },
    });
    expect(parser.parse("_grpc._udp.u1.hash.web.shop.lb.konsul.local")).toMatchObject({
      sessionKey: "u1",
      srv: { port: "grpc", protocol: "udp" },
    });
  });

  it("reads endpoint names", () => {
    expect(parser.parse("10-9-0-1.ep.web.shop.lb.konsul.local")).toEqual({
      kind: "endpoint",
      namespace: "shop",
      service: "web",
      label: "10-9-0-1",
    });
    expect(parser.parse("x.hash.10-9-0-1.ep.web.shop.lb.konsul.local").kind).toBe("nonexistent");
  });

  it("tells the apex, namespaces, empty non-terminals and names outside the domain apart", () => {
    expect(parser.parse("lb.konsul.local").kind).toBe("apex");
    expect(parser.parse("LB.konsul.local.").kind).toBe("apex");
    expect(parser.parse("shop.lb.konsul.local")).toEqual({ kind: "namespace", namespace: "shop" });
    for (const ent of [
      "hash",
      "region",
      "ep",
      "_tcp",
      "_udp",
      "_sctp",
      "hash.k.hash",
      "ep.k.hash",
    ]) {
      const parsed = parser.parse(`${ent}.web.shop.lb.konsul.local`);
      if (ent.includes(".k.")) expect(parsed.kind, ent).toBe("nonexistent");
      else expect(parsed, ent).toEqual({ kind: "empty", namespace: "shop", service: "web" });
    }
    for (const outside of ["konsul.local", "example.com", ".", "xlb.konsul.local", "local"]) {
      expect(parser.parse(outside).kind, outside).toBe("outside");
    }
  });

  it("answers NXDOMAIN for what the grammar does not produce", () => {
    for (const prefix of [
      "x",
      "a.b",
      "_http",
      "_http._quic",
      "http._tcp",
      "_._tcp",
      "a._http._tcp",
      "k.hash.k2.hash",
      "a.b.c.d",
    ]) {
      expect(parser.parse(`${prefix}.web.shop.lb.konsul.local`).kind, prefix).toBe("nonexistent");
    }
  });

  it("never throws and always answers in the grammar's terms", () => {
    const label = fc.oneof(
      fc.constantFrom("hash", "region", "ep", "_http", "_tcp", "web", "shop", "lb", "konsul"),
      fc.stringMatching(/^[A-Za-z0-9_-]{0,8}$/),
    );
    fc.assert(
      fc.property(fc.array(label, { maxLength: 8 }), fc.boolean(), (labels, inDomain) => {
        const text = [...labels, ...(inDomain ? ["lb", "konsul", "local"] : [])].join(".");
        const parsed = parser.parse(text);
        expect([
          "outside",
          "apex",
          "namespace",
          "nonexistent",
          "empty",
          "service",
          "endpoint",
        ]).toContain(parsed.kind);
      }),
    );
  });
});

describe("addressLabel", () => {
  it("writes IPv4 and IPv6 addresses as one label", () => {
    expect(addressLabel("10.42.1.17")).toBe("10-42-1-17");
    expect(addressLabel("fd00::1")).toBe("fd00--1");
    expect(addressLabel("FD00::A")).toBe("fd00--a");
  });
});

describe("asciiLower", () => {
  it("lowercases ASCII letters only", () => {
    expect(asciiLower("AbC-İ")).toBe("abc-İ");
    const same = "already-lower";
    expect(asciiLower(same)).toBe(same);
  });
});
