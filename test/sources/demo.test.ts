import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Catalog } from "../../src/catalog/catalog.ts";
import { FileSource } from "../../src/sources/file-source.ts";
import { parseManifests } from "../../src/sources/manifests.ts";
import {
  TranslationCache,
  translateSnapshot,
  translateSnapshotInSlices,
} from "../../src/sources/translate.ts";
import { countTurns } from "../support/event-loop.ts";

const DEMO = fileURLToPath(new URL("../../examples/demo.yaml", import.meta.url));

describe("examples/demo.yaml", () => {
  const parsed = parseManifests(readFileSync(DEMO, "utf8"), "examples/demo.yaml");

  it("parses without errors and translates without warnings", () => {
    expect(parsed.ok ? [] : parsed.errors).toEqual([]);
    if (!parsed.ok) return;
    expect(translateSnapshot(parsed.snapshot).warnings).toEqual([]);
  });

  it("translates in slices to what it translates at once, letting the event loop run", async () => {
    if (!parsed.ok) throw new Error("demo.yaml does not parse");
    const turns = countTurns();
    const sliced = await translateSnapshotInSlices(parsed.snapshot, new TranslationCache(), 0);
    const turned = turns.stop();
    expect(sliced).toEqual(translateSnapshot(parsed.snapshot));
    // A pause after each Service at the least.
    expect(turned).toBeGreaterThanOrEqual(sliced.entries.length);
  });

  it("shows what the operator is about", () => {
    if (!parsed.ok) throw new Error("demo.yaml does not parse");
    const { entries } = translateSnapshot(parsed.snapshot);
    const endpoints = entries.flatMap((e) => e.endpoints);
    expect(entries.length).toBeGreaterThanOrEqual(3);
    expect(new Set(entries.map((e) => e.namespace)).size).toBeGreaterThanOrEqual(2);
    expect(
      new Set(endpoints.map((e) => e.region).filter((r) => r !== null)).size,
    ).toBeGreaterThanOrEqual(2);
    expect(endpoints.some((e) => !e.ready)).toBe(true);
    expect(endpoints.some((e) => e.weight !== 1)).toBe(true);
    expect(entries.some((e) => e.policy === null)).toBe(true);

    const byName = new Map(entries.map((e) => [`${e.namespace}/${e.name}`, e]));
    expect(byName.get("shop/checkout")?.policy?.strategy).toBe("ring-hash");
    expect(byName.get("shop/checkout")?.policy?.balancer.ringHash?.hashOn).toBe("session-key");
    const catalog = byName.get("shop/catalog");
    expect(catalog?.policy?.strategy).toBe("weighted-round-robin");
    // v2 weighs 3 by policy; one v1 pod 2 by annotation; the other v1 pod the default.
    expect(catalog?.endpoints.map((e) => [e.labels.version, e.weight])).toEqual([
      ["v1", 2],
      ["v1", 1],
      ["v2", 3],
    ]);
    const payments = byName.get("payments/payments");
    expect(payments?.policy?.strategy).toBe("latency-based");
    expect(payments?.policy?.balancer.latency?.map?.["us-east"]?.["eu-west"]).toBe(80);
    expect(payments?.endpoints.map((e) => e.region)).toEqual(["us-east", "eu-west"]);
    for (const endpoint of endpoints) {
      expect(endpoint.address).toMatch(/^10\./);
      expect(endpoint.port).not.toBeNull();
    }
  });

  it("loads through the file source", async () => {
    const catalog = new Catalog();
    const source = new FileSource({ path: DEMO, catalog });
    try {
      await source.start();
      expect(catalog.synced).toBe(true);
      expect(catalog.list().length).toBeGreaterThanOrEqual(3);
    } finally {
      await source.stop();
    }
  });
});
