import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import {
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
