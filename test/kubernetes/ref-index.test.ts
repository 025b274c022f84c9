import { describe, expect, it } from "vitest";
import { RefIndex } from "../../src/kubernetes/ref-index.ts";

describe("RefIndex", () => {
  it("counts each reference, so a target stays until its last reference goes", () => {
    const index = new RefIndex();
    index.add("pod", "svc");
    index.add("pod", "svc"); // the same Pod in an IPv4 and an IPv6 slice
    expect(index.targets("pod")).toEqual(["svc"]);
    index.remove("pod", "svc");
    expect(index.targets("pod")).toEqual(["svc"]);
    index.remove("pod", "svc");
    expect(index.targets("pod")).toEqual([]);
  });

  it("holds several targets of one key and gives each back until it is removed", () => {
    const index = new RefIndex();
    index.add("pod", "a");
    index.add("pod", "b");
    index.add("pod", "b");
    expect(index.targets("pod").sort()).toEqual(["a", "b"]);
    index.remove("pod", "b");
    expect(index.targets("pod").sort()).toEqual(["a", "b"]);
    index.remove("pod", "a");
    expect(index.targets("pod")).toEqual(["b"]);
    index.remove("pod", "b");
    expect(index.targets("pod")).toEqual([]);
    // Back to one target after two: counting starts over correctly.
    index.add("pod", "c");
    index.add("pod", "c");
    index.remove("pod", "c");
    expect(index.targets("pod")).toEqual(["c"]);
  });

  it("ignores removals of references it does not hold", () => {
    const index = new RefIndex();
    index.remove("pod", "a");
    index.add("pod", "a");
    index.remove("pod", "b");
    index.remove("other", "a");
    expect(index.targets("pod")).toEqual(["a"]);
  });
});
