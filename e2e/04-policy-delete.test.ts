// A policy deleted: its Service falls back to the server's default strategy on every replica,
// over HTTP and DNS.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { key } from "./support/backends.ts";
import { kubectl, log, waitFor } from "./support/cluster.ts";
import { DOMAIN, dig, pick, type Replica, serviceSummary } from "./support/discovery.ts";
import { SHOP } from "./support/env.ts";
import { target } from "./support/target.ts";

const t = target();
let replicas: Replica[];

beforeAll(async () => {
  replicas = await t.replicas();
});
afterAll(() => t.close());

describe("kubectl delete lbp", () => {
  it("checkout loses its ring-hash policy: round-robin (the default), no session key needed", async () => {
    for (const replica of replicas) {
      expect(await serviceSummary(replica.url, key("checkout"))).toMatchObject({
        strategy: "ring-hash",
        policy: "checkout-sticky",
      });
    }
    await kubectl(["-n", SHOP, "delete", "lbp", "checkout-sticky"]);
    const started = Date.now();
    for (const replica of replicas) {
      await waitFor(`${replica.pod} to drop the policy of checkout`, async () => {
        const summary = await serviceSummary(replica.url, key("checkout"));
        return summary?.policy === null && summary.strategy === "round-robin" ? true : undefined;
      });
    }
    log(`checkout on the default strategy on every replica after ${Date.now() - started} ms`);
    for (const replica of replicas) {
      const seen = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const answer = await pick(replica.url, key("checkout"));
        expect(answer.strategy).toBe("round-robin");
        seen.add(answer.endpoint.identity);
      }
      expect(seen.size).toBe(3);
      // DNS: a rotating strategy now, so TTL 0 (ring-hash answered with the configured TTL).
      const { answers } = await dig(replica.dns, `checkout.${SHOP}.${DOMAIN}`);
      expect(answers).toHaveLength(3);
      expect(answers.every((a) => a.ttl === 0)).toBe(true);
    }
    const left = (await kubectl(["-n", SHOP, "get", "lbp", "-o", "name"])).stdout;
    expect(left).not.toContain("checkout-sticky");
  });
});
