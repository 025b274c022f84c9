import { describe, expect, it } from "vitest";
import { Lifecycle } from "../../src/cli/lifecycle.ts";

function recorder() {
  const events: string[] = [];
  const warnings: string[] = [];
  const lifecycle = new Lifecycle({
    warn: (fields: object) => warnings.push((fields as { component: string }).component),
  });
  const component = (name: string, failStop = false) =>
    lifecycle.start(
      name,
      () => {
        events.push(`start ${name}`);
        return name;
      },
      (value) => {
        events.push(`stop ${value}`);
        if (failStop) throw new Error(`${name} would not stop`);
      },
    );
  return { lifecycle, events, warnings, component };
}

describe("Lifecycle", () => {
  it("starts in order, stops in reverse order, once", async () => {
    const { lifecycle, events, component } = recorder();
    expect(await component("a")).toBe("a");
    await component("b");
    await component("c");
    await Promise.all([lifecycle.stop(), lifecycle.stop()]);
    await lifecycle.stop();
    expect(events).toEqual(["start a", "start b", "start c", "stop c", "stop b", "stop a"]);
  });

  it("stops what started when a component fails to start, and passes the failure on", async () => {
    const { lifecycle, events, component } = recorder();
    await component("a");
    await component("b");
    await expect(
      lifecycle.start(
        "c",
        () => {
          throw new Error("port in use");
        },
        () => {},
      ),
    ).rejects.toThrow("port in use");
    expect(events).toEqual(["start a", "start b", "stop b", "stop a"]);
    await lifecycle.stop();
    expect(events).toHaveLength(4);
  });

  it("a component that fails to stop is logged and the others still stop", async () => {
    const { lifecycle, events, warnings, component } = recorder();
    await component("a");
    await component("b", true);
    await component("c");
    await lifecycle.stop();
    expect(events).toEqual(["start a", "start b", "start c", "stop c", "stop b", "stop a"]);
    expect(warnings).toEqual(["b"]);
  });
});
