import { describe, expect, it } from "vitest";
import { ReleasedIds } from "../../src/ha/released-ids.ts";

describe("ReleasedIds", () => {
  it("keeps an id the minimum time, or until its connection would have expired", () => {
    let now = 1_000;
    const released = new ReleasedIds(500, () => now);
    released.add("short", "shop/web");
    released.add("long", "shop/web", 5_000);
    released.add("unknown", null);
    expect(released.ofService("shop/web")).toEqual(["short", "long"]);
    now = 1_500;
    released.sweep();
    expect(released.has("short")).toBe(false);
    expect(released.has("unknown")).toBe(false);
    expect(released.ofService("shop/web")).toEqual(["long"]);
    now = 5_000;
    released.sweep();
    expect(released.size).toBe(0);
    expect(released.ofService("shop/web")).toEqual([]);
  });

  it("learns the service of an id released unknown, and never shortens its time", () => {
    let now = 0;
    const released = new ReleasedIds(100, () => now);
    released.add("x", null, 1_000);
    released.add("x", "shop/web");
    expect(released.ofService("shop/web")).toEqual(["x"]);
    now = 999;
    released.sweep();
    expect(released.has("x")).toBe(true);
  });
});
