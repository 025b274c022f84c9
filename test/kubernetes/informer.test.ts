import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  DEFAULT_INFORMER_TIMING,
  type ListPage,
  ResilientInformer,
  type ResourceKind,
  type Trimmed,
} from "../../src/kubernetes/informer.ts";

interface Item extends Trimmed {
  readonly value: string;
}

/** A cluster nothing listens on: every watch fails at once, and the informer lists again. */
function unreachableConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: "none", server: "http://127.0.0.1:1", skipTLSVerify: true }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "none", cluster: "none", user: "nobody" }],
    currentContext: "none",
  });
  return config;
}

const timing = {
  watchTimeoutSeconds: 25,
  backoffInitialMs: 5,
  backoffMaxMs: 10,
};

let informer: ResilientInformer<Item> | undefined;
afterEach(() => informer?.stop());

describe("ResilientInformer relist", () => {
  it("keeps the object it holds when a relist finds the same resourceVersion, and trims the changed one", async () => {
    let versionOfB = "1";
    let lists = 0;
    let trims = 0;
    const kind: ResourceKind<Item> = {
      name: "items",
      path: "/items",
      list: async (): Promise<ListPage> => {
        lists++;
        return {
          items: [
            { metadata: { name: "a", namespace: "ns", resourceVersion: "1" }, value: "a" },
            { metadata: { name: "b", namespace: "ns", resourceVersion: versionOfB }, value: "b" },
          ],
          resourceVersion: "10",
          continueToken: undefined,
        };
      },
      trim: (object) => {
        trims++;
        const raw = object as Item;
        return {
          metadata: {
            name: raw.metadata.name,
            namespace: raw.metadata.namespace,
            resourceVersion: raw.metadata.resourceVersion,
          },
          value: `${raw.value}@${raw.metadata.resourceVersion}`,
        };
      },
    };
    const changes: string[] = [];
    informer = new ResilientInformer(
      unreachableConfig(),
      kind,
      (key) => changes.push(key),
      {},
      timing,
    );
    informer.start();
    await informer.whenSynced();
    const firstA = informer.get("ns/a");
    const firstB = informer.get("ns/b");
    expect(changes.sort()).toEqual(["ns/a", "ns/b"]);
    expect(trims).toBe(2);

    versionOfB = "2";
    changes.length = 0;
    const listsBefore = lists;
    // The failing watch makes the informer list again, with backoff.
    for (let i = 0; i < 200 && lists < listsBefore + 2; i++)
      await new Promise((done) => setTimeout(done, 10));
    expect(lists).toBeGreaterThanOrEqual(listsBefore + 2);

    expect(informer.get("ns/a")).toBe(firstA);
    expect(informer.get("ns/b")).not.toBe(firstB);
    expect(informer.get("ns/b")?.value).toBe("b@2");
    expect(changes).toEqual(["ns/b"]);
    // a is never trimmed again; b once, at its new version.
    expect(trims).toBe(3);
  });
});

/** A server whose watches stay open and quiet, as a healthy watch of an idle cluster does. */
async function quietWatchServer(): Promise<{ config: KubeConfig; close: () => void }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.flushHeaders();
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: "quiet", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "nobody" }],
    contexts: [{ name: "quiet", cluster: "quiet", user: "nobody" }],
    currentContext: "quiet",
  });
  return {
    config,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe("ResilientInformer lists", () => {
  it("only at start while its watch is healthy, however long it runs, in pages of at most 100", async () => {
    const { config, close } = await quietWatchServer();
    const limits: number[] = [];
    const kind: ResourceKind<Item> = {
      name: "items",
      path: "/items",
      list: async (limit): Promise<ListPage> => {
        limits.push(limit);
        return {
          items: [{ metadata: { name: "a", namespace: "ns", resourceVersion: "1" }, value: "a" }],
          resourceVersion: "10",
          continueToken: undefined,
        };
      },
      trim: (object) => object as Item,
    };
    // Interval timers only: the watch and its backoff run on real time.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      informer = new ResilientInformer(config, kind, () => {}, {}, DEFAULT_INFORMER_TIMING);
      informer.start();
      await informer.whenSynced();
      // An hour: a periodic relist of any period up to that would have listed again.
      vi.advanceTimersByTime(60 * 60_000);
      await new Promise((done) => setTimeout(done, 100));
      expect(limits).toEqual([100]);
    } finally {
      vi.useRealTimers();
      informer?.stop();
      close();
    }
  });
});
