import { describe, expect, it } from "vitest";
import { type OperatorFigures, renderScale, type ScaleResults } from "../../bench/scale.ts";

const MiB = 1024 * 1024;
const memory = (rssMiB: number) => ({ rssBytes: rssMiB * MiB, heapBytes: 60 * MiB });
const spread = (ms: number) => ({ p50: ms, p99: ms, max: ms });

function operator(relistMaxMs: number): OperatorFigures {
  return {
    label: "this checkout",
    baseline: memory(168),
    syncSeconds: 3,
    synced: memory(240),
    cpuMsPerFlip: 10,
    serviceReconcilesPerFlip: 1,
    statusReconcilesPerFlip: 0.3,
    latency: spread(500),
    operatorLatency: spread(40),
    latencyMissed: 0,
    answeredUnseen: 0,
    afterChurn: memory(245),
    relist: {
      quiet: spread(5),
      during: { p50: 5, p99: 10, max: relistMaxMs },
      quietLoopDelayMaxMs: 10,
      duringLoopDelayMaxMs: relistMaxMs,
      stalls: relistMaxMs > 50 ? 1 : 0,
      slowest: { ms: relistMaxMs, runningMs: 4, waitingMs: relistMaxMs - 6 },
      answers: 2500,
      restarts: { error: 5 },
      apiDownSeconds: 15,
    },
  };
}

function results(churnRssMiB: readonly number[], relistMaxMs: number): ScaleResults {
  return {
    date: "2026-12-05T16:00:00Z",
    node: "24.21.0",
    cpu: "test",
    cores: 2,
    revision: null,
    settings: {
      sizes: [10_000],
      operators: [],
      cpuFlips: 40,
      cpuFlipsPerSecond: 5,
      latencySeconds: 20,
      latencyFlipsPerSecond: 10,
      churnMinutes: churnRssMiB.length - 1,
    },
    sizes: [
      {
        pods: 10_000,
        services: 501,
        nodes: 500,
        bigServicePods: 5000,
        setupSeconds: 150,
        operators: [operator(relistMaxMs)],
        churn: {
          minutes: churnRssMiB.length - 1,
          flips: 100,
          samples: churnRssMiB.map((rss, minute) => ({ minute, memory: memory(rss) })),
          rssSlope: 0,
          heapSlope: 0,
        },
        heap: undefined,
      },
    ],
  };
}

/** The row of the targets table that starts with `target`. */
function targetRow(markdown: string, target: string): string | undefined {
  const targets = markdown.slice(markdown.indexOf("### Targets at 10,000 Pods"));
  return targets.split("\n").find((line) => line.startsWith(`| ${target}`));
}

describe("scale report targets", () => {
  it("checks RSS at its highest churn sample, not only after sync", () => {
    const row = targetRow(renderScale(results([240, 250, 300, 250], 20)), "RSS under churn");
    expect(row).toContain("300.0 MiB");
    expect(row).toContain("✗");
    expect(targetRow(renderScale(results([240, 250, 251], 20)), "RSS under churn")).toContain("✓");
  });

  it("checks the longest answer during a relist against 50 ms", () => {
    expect(targetRow(renderScale(results([240], 391)), "no answer over 50 ms")).toContain("✗");
    expect(targetRow(renderScale(results([240], 30)), "no answer over 50 ms")).toContain("✓");
  });
});
