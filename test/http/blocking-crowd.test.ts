/**
 * 5,000 blocking queries waiting at once: what they cost the server, and how fast one change
 * answers them all. The clients run in a process of their own (blocking-clients.ts).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpoint, service } from "../catalog/fixtures.ts";
import { manifestYaml } from "../support/manifests.ts";
import { eventually, startTestService, type TestService } from "../support/service.ts";
import { startCrowd } from "./blocking-crowd-process.ts";

const WAITERS = 5000;

let server: TestService;
beforeAll(async () => {
  server = await startTestService(manifestYaml([]));
  server.catalog.replaceAll([service("shop", "web", [endpoint("web-0"), endpoint("web-1")])]);
});
afterAll(() => server.close());

async function waitingCount(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^konsul_lb_blocking_waiters (\d+)/m.exec(text)?.[1]);
}

describe(`${WAITERS} blocking queries`, () => {
  it("cost little memory while they wait, and one change answers them all", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const version = server.catalog.get("shop", "web")?.version as number;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;

    const crowd = startCrowd(
      `${server.url}/v1/services/shop/web/endpoints?index=${version}&wait=2m`,
      WAITERS,
    );
    await eventually(async () => expect(await waitingCount()).toBe(WAITERS), 60_000);

    gc();
    const perWaiter = (process.memoryUsage().heapUsed - heapBefore) / WAITERS;
    // Each waiting request holds its socket, parser, request and response; the waiter itself
    // is a few hundred bytes of that (see change-waiters.test.ts).
    expect(perWaiter).toBeLessThan(16 * 1024);

    const changedAt = performance.timeOrigin + performance.now();
    server.catalog.upsert(service("shop", "web", [endpoint("web-0")]));
    expect(await crowd.exited, crowd.output()).toBe(0);
    const summary = crowd.summary();
    expect(summary.count).toBe(WAITERS);
    expect(summary.statuses).toEqual([200]);
    expect(summary.indexes).toEqual([server.catalog.get("shop", "web")?.version]);
    // Answered by the change, not by the two-minute wait. How fast is the benchmark's business
    // (npm run bench, blocking): a bound in milliseconds here only measures the machine's load.
    expect(summary.first - changedAt).toBeLessThan(5_000);
    expect(await waitingCount()).toBe(0);
    console.info(
      `${WAITERS} waiters: ${(perWaiter / 1024).toFixed(1)} KiB of server heap each; ` +
        `after a change the first answer came in ${(summary.first - changedAt).toFixed(1)} ms, ` +
        `the median in ${(summary.median - changedAt).toFixed(1)} ms, ` +
        `the last in ${(summary.last - changedAt).toFixed(1)} ms`,
    );
  });
});
