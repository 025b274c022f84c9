import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Catalog, type ServiceEntry } from "../../src/catalog/catalog.ts";
import { Prober } from "../../src/health/prober.ts";
import { probeService, withProbeResults } from "../../src/kubernetes/controller.ts";
import { validatePolicy } from "../../src/policy/validate.ts";
import { endpoint } from "../catalog/fixtures.ts";
import { eventually } from "../support/service.ts";

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

async function listener(): Promise<number> {
  const server = createServer((socket) => socket.destroy());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

function entryWith(port: number, identities: string[]): ServiceEntry {
  const validation = validatePolicy(
    { name: "web-lb", namespace: "shop" },
    {
      targetRef: { name: "web" },
      healthCheck: {
        tcp: { port: "probe" },
        interval: "1s",
        timeout: "500ms",
        unhealthyThreshold: 1,
        healthyThreshold: 1,
      },
    },
  );
  if (!validation.ok) throw new Error(validation.errors.join("; "));
  return {
    namespace: "shop",
    name: "web",
    policy: validation.policy,
    endpoints: identities.map((identity, i) =>
      endpoint(identity, {
        address: "127.0.0.1",
        // The first endpoint's probe port listens; the others' point at a closed port.
        ports: { probe: i === 0 ? port : 1 },
        zone: null,
        region: null,
        node: null,
        labels: {},
      }),
    ),
  };
}

describe("active probes in the controller's reconcile", () => {
  it("an endpoint is healthy only when ready and its policy's probe passes", async () => {
    const port = await listener();
    const catalog = new Catalog();
    const translated = entryWith(port, ["web-0", "web-1"]);
    // What the controller does: decorate on every reconcile, re-reconcile on every verdict change.
    const reconcile = () => catalog.upsert(withProbeResults(prober, translated));
    const prober = new Prober({ onChange: () => reconcile() });
    try {
      reconcile();
      probeService(prober, "shop/web", catalog);
      await eventually(() => {
        const endpoints = catalog.get("shop", "web")?.endpoints ?? [];
        expect(endpoints.map((e) => [e.identity, e.probeHealthy])).toEqual([
          ["web-0", true],
          ["web-1", false],
        ]);
      }, 10_000);
      // A policy without a probe stops probing: verdicts go back to unknown.
      catalog.upsert({
        ...translated,
        policy: {
          ...(translated.policy as NonNullable<ServiceEntry["policy"]>),
          healthCheck: null,
        },
      });
      probeService(prober, "shop/web", catalog);
      expect(prober.healthOf("shop/web", "web-0")).toBeNull();
    } finally {
      await prober.stop();
    }
  });
});
