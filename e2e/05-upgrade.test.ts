// helm upgrade with a changed value: the config checksum rolls the pods, and the new replicas
// serve with the new default strategy; policies keep theirs.

import type { V1ConfigMap } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { key } from "./support/backends.ts";
import { helm, kubectl, kubectlJson, log, waitFor } from "./support/cluster.ts";
import { pick, type Replica, serviceSummary, services } from "./support/discovery.ts";
import { CHART, FULLNAME, NAMESPACE, RELEASE, SHOP } from "./support/env.ts";
import { currentLeader } from "./support/release.ts";
import { target } from "./support/target.ts";

const t = target();
let before: Replica[];

beforeAll(async () => {
  before = await t.replicas();
});
afterAll(() => t.close());

describe("helm upgrade", () => {
  it("operator.defaultStrategy=random: new pods, and services without a policy answer at random", async () => {
    const started = Date.now();
    await helm([
      "upgrade",
      RELEASE,
      CHART,
      "--namespace",
      NAMESPACE,
      "--reuse-values",
      "--set",
      "operator.defaultStrategy=random",
      "--wait",
      "--timeout",
      "5m",
    ]);
    await t.rollout();
    log(`upgraded and rolled in ${Date.now() - started} ms`);

    const history = JSON.parse(
      (await helm(["history", RELEASE, "-n", NAMESPACE, "-o", "json"])).stdout,
    ) as { status: string }[];
    expect(history.map((h) => h.status)).toEqual(["superseded", "deployed"]);
    const config = await kubectlJson<V1ConfigMap>([
      "-n",
      NAMESPACE,
      "get",
      "configmap",
      `${FULLNAME}-config`,
    ]);
    expect(parseYaml(config.data?.["config.yaml"] ?? "").defaultStrategy).toBe("random");

    const after = await t.replicas();
    expect(after).toHaveLength(before.length);
    // The checksum/config annotation changed the pod template: every pod is new.
    for (const replica of after) expect(before.map((r) => r.pod)).not.toContain(replica.pod);

    for (const replica of after) {
      const list = await services(replica.url);
      // checkout lost its policy in the previous file; web keeps its round-robin policy.
      expect(list.find((s) => `${s.namespace}/${s.name}` === key("checkout"))).toMatchObject({
        strategy: "random",
        policy: null,
      });
      expect(await serviceSummary(replica.url, key("web"))).toMatchObject({
        strategy: "round-robin",
        policy: "web-round-robin",
      });
      expect((await pick(replica.url, key("checkout"))).strategy).toBe("random");
    }
    // A leader among the new pods writes policy status again.
    const leader = await currentLeader(t);
    expect(after.map((r) => r.pod)).toContain(leader.replica.pod);
    await waitFor("every policy Ready under the new leader", async () => {
      const table = (await kubectl(["-n", SHOP, "get", "lbp", "--no-headers"])).stdout.trim();
      const rows = table.split("\n").map((line) => line.split(/\s+/));
      return rows.length === 6 && rows.every((row) => row[4] === "True") ? true : undefined;
    });
  });
});
