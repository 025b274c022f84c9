import { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  CONNECTIONS_RENEW_MS,
  sharedConnections,
} from "../../src/kubernetes/shared-connections.ts";

function tlsConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:6443", skipTLSVerify: true }],
    users: [{ name: "u", token: "secret-token" }],
    contexts: [{ name: "c", cluster: "c", user: "u" }],
    currentContext: "c",
  });
  return config;
}

async function dispatcherOf(config: KubeConfig): Promise<unknown> {
  const request = new RequestContext("https://127.0.0.1:6443/api/v1/pods", HttpMethod.GET);
  await config.applySecurityAuthentication(request);
  expect(request.getHeaders().Authorization).toBe("Bearer secret-token");
  return request.getDispatcher();
}

describe("sharedConnections", () => {
  it("gives every request the same connection pool, with its own headers", async () => {
    const plain = tlsConfig();
    // The library's own behaviour, which this works around: a pool per request.
    expect(await dispatcherOf(plain)).not.toBe(await dispatcherOf(plain));
    const pooled = sharedConnections(plain);
    const first = await dispatcherOf(pooled);
    expect(first).toBeDefined();
    expect(await dispatcherOf(pooled)).toBe(first);
    expect(pooled.getCurrentCluster()?.server).toBe("https://127.0.0.1:6443");
  });

  it("opens a new pool once the current one has served its time", async () => {
    let clock = 0;
    const pooled = sharedConnections(tlsConfig(), () => clock);
    const first = await dispatcherOf(pooled);
    clock = CONNECTIONS_RENEW_MS - 1;
    expect(await dispatcherOf(pooled)).toBe(first);
    clock = CONNECTIONS_RENEW_MS;
    const second = await dispatcherOf(pooled);
    expect(second).not.toBe(first);
    expect(await dispatcherOf(pooled)).toBe(second);
  });
});
