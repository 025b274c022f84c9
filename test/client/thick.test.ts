import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, MissingSessionKey, ServiceNotFound } from "../../src/client/index.ts";
import { WATCH_BACKOFF_CAP_MS, watchBackoffMs } from "../../src/client/thick.ts";
import { repoRoot } from "../support/cli.ts";
import { eventually, startTestService, type TestService } from "../support/service.ts";

const KEYS = 10_000;
/** Requests in flight at once when comparing with the server. */
const CONCURRENCY = 32;

let demo: string;
let server: TestService;

beforeAll(async () => {
  demo = await readFile(join(repoRoot, "examples/demo.yaml"), "utf8");
  server = await startTestService(demo);
});
afterAll(async () => {
  await server?.close();
});

/** Runs `task` for every item, CONCURRENCY at a time. */
async function inBatches<T, R>(items: readonly T[], task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += CONCURRENCY) {
    results.push(...(await Promise.all(items.slice(i, i + CONCURRENCY).map(task))));
  }
  return results;
}

describe("thick mode", () => {
  it(`decides hash strategies locally as the server does, on ${KEYS} keys each`, async () => {
    const thick = createClient({ url: server.url, thick: true });
    const thin = createClient({ url: server.url });
    try {
      const keys = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
      const ips = Array.from(
        { length: KEYS },
        (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${i % 7}`,
      );
      const cases = [
        { service: "checkout", lb: undefined, option: (i: number) => ({ sessionKey: keys[i] }) },
        {
          service: "checkout",
          lb: "maglev" as const,
          option: (i: number) => ({ sessionKey: keys[i] }),
        },
        {
          service: "catalog",
          lb: "ip-hash" as const,
          option: (i: number) => ({ clientIp: ips[i] }),
        },
      ];
      for (const { service, lb, option } of cases) {
        const local = thick.service("shop", service);
        const remote = thin.service("shop", service);
        const indexes = Array.from({ length: KEYS }, (_, i) => i);
        const started = performance.now();
        const mine = await Promise.all(
          indexes.map((i) => local.pick({ ...option(i), lb }).then((a) => a.endpoint.identity)),
        );
        const localMs = performance.now() - started;
        const theirs = await inBatches(indexes, (i) =>
          remote.pick({ ...option(i), lb }).then((a) => a.endpoint.identity),
        );
        const differ = indexes.filter((i) => mine[i] !== theirs[i]);
        expect(differ, `${service} ${lb ?? "(policy)"}`).toEqual([]);
        // several endpoints are used, so the comparison means something
        expect(new Set(mine).size).toBeGreaterThan(1);
        console.info(
          `${service} ${lb ?? "ring-hash"}: ${KEYS} local picks in ${localMs.toFixed(0)} ms, all equal to /pick`,
        );
      }
      // the same lists, and the same errors
      const list = await thick.service("shop", "checkout").endpoints({ sessionKey: "user-7" });
      expect(list).toEqual(
        await thin.service("shop", "checkout").endpoints({ sessionKey: "user-7" }),
      );
      await expect(thick.service("shop", "checkout").pick()).rejects.toBeInstanceOf(
        MissingSessionKey,
      );
      await expect(thick.service("shop", "nope").pick()).rejects.toBeInstanceOf(ServiceNotFound);
    } finally {
      thick.close();
    }
  });

  it("follows a change of the manifest through its blocking query", async () => {
    const thick = createClient({ url: server.url, thick: true });
    try {
      const checkout = thick.service("shop", "checkout");
      const before = await checkout.endpoints({ healthFilter: false });
      await server.write(demo.replaceAll("checkout-sticky", "checkout-pinned"));
      await eventually(async () => {
        const after: any = await fetch(`${server.url}/v1/services/shop/checkout`).then((r) =>
          r.json(),
        );
        expect(after.policy).toBe("checkout-pinned");
        const local = await checkout.pick({ sessionKey: "user-1" });
        expect(local.version).toBe(after.version);
        expect(local.version).toBeGreaterThan(before.version);
      }, 5_000);
    } finally {
      thick.close();
      await server.write(demo);
    }
  });

  it("resumes after the server restarts, from the new server's state", {
    timeout: 90_000,
  }, async () => {
    const port = await freePort();
    let first: TestService | null = await startTestService(demo, { httpPort: port });
    let second: TestService | null = null;
    const thick = createClient({ url: `http://127.0.0.1:${port}`, thick: true, timeoutMs: 1_000 });
    try {
      const cart = thick.service("shop", "cart");
      expect((await cart.endpoints()).endpoints).toHaveLength(2);
      await first.close();
      first = null;
      // the restarted server has a third cart endpoint
      const grown = demo.replace(
        "    targetRef: { kind: Pod, name: cart-84d6c-w9k5h, namespace: shop }\n    nodeName: node-euw1-a\n    zone: eu-west-1a\n",
        '    targetRef: { kind: Pod, name: cart-84d6c-w9k5h, namespace: shop }\n    nodeName: node-euw1-a\n    zone: eu-west-1a\n  - addresses: ["10.44.1.13"]\n    conditions: { ready: true }\n    nodeName: node-euw1-a\n    zone: eu-west-1a\n',
      );
      expect(grown).not.toBe(demo);
      second = await startTestService(grown, { httpPort: port });
      // The watch retries after a backoff that doubles per failure, up to WATCH_BACKOFF_CAP_MS:
      // a slow restart may have grown it to the cap, so the bound is the cap and a margin.
      await eventually(async () => {
        expect((await cart.endpoints()).endpoints).toHaveLength(3);
      }, WATCH_BACKOFF_CAP_MS + 5_000);
    } finally {
      thick.close();
      await first?.close();
      await second?.close();
    }
  });

  it("watches one loop per service, at most maxServices; the rest are asked remotely", async () => {
    const thick = createClient({ url: server.url, thick: { maxServices: 1 } });
    try {
      const a = thick.service("shop", "checkout");
      const again = thick.service("shop", "checkout");
      const b = thick.service("shop", "cart");
      expect(a.constructor.name).toBe("ThickService");
      expect(again.constructor.name).toBe("ThickService");
      expect(b.constructor.name).toBe("RemoteService");
      expect((await b.pick()).service.name).toBe("cart");
    } finally {
      thick.close();
    }
    expect(() => createClient({ url: server.url, thick: { maxServices: 0 } })).toThrow(
      /thick.maxServices: 0 is not allowed/,
    );
  });

  it("backs off with jitter, growing to a cap", () => {
    expect(watchBackoffMs(1, () => 1)).toBe(200);
    expect(watchBackoffMs(30, () => 1)).toBe(30_000);
    expect(watchBackoffMs(3, () => 0)).toBe(10);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
