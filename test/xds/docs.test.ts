/**
 * docs/xds.md against the code: the strategy table lists, for every strategy, the policy list
 * the server sends, and the bootstrap shown is one a client can use.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import type { XdsService } from "../../src/xds/engine-view.ts";
import { type PolicyChoice, policyShortName, xdsBalancing } from "../../src/xds/lb-policies.ts";
import { repoRoot } from "../support/cli.ts";
import { fencedBlocks } from "../support/markdown.ts";

const doc = readFileSync(join(repoRoot, "docs/xds.md"), "utf8");

const SERVICE: XdsService = {
  namespace: "shop",
  name: "web",
  version: 1,
  strategy: "round-robin",
  endpoints: [],
  ringHash: { virtualNodes: 150, hashOn: "session-key", minRingSize: 1024, maxRingSize: 8388608 },
  maglev: { tableSize: 65537, hashOn: "session-key" },
  latencyMap: {},
};

function shown(choice: PolicyChoice): string {
  const name = policyShortName(choice);
  if (choice.child !== undefined) return `${name}(${policyShortName(choice.child)})`;
  if (name === "least_request") return "least_request(2)";
  if (name === "maglev") return "maglev(tableSize)";
  return name;
}

describe("docs/xds.md", () => {
  it("the strategy table shows every strategy's policy list as the server sends it", () => {
    const rows = new Map(
      doc
        .split("\n")
        .filter((line) => /^\| `[a-z-]+` +\|/.test(line))
        .map((line) => line.split("|").map((cell) => cell.trim()))
        .map((cells) => [cells[1]?.replaceAll("`", ""), cells[2]]),
    );
    for (const strategy of STRATEGY_NAMES) {
      const policies = xdsBalancing(strategy, SERVICE).policies.map(shown).join(", ");
      expect(rows.get(strategy), strategy).toBe(policies);
    }
  });

  it("the gRPC bootstrap has what grpc-js requires: a server, its credentials, node id and locality", () => {
    const block = fencedBlocks(doc).find(
      (b) => b.lang === "json" && b.code.includes("xds_servers"),
    );
    const config = JSON.parse(block?.code ?? "{}");
    expect(config.xds_servers[0].server_uri).toMatch(/:18000$/);
    expect(config.xds_servers[0].channel_creds).toEqual([{ type: "insecure" }]);
    expect(config.node.id).toEqual(expect.any(String));
    expect(config.node.locality).toEqual(expect.any(Object));
  });
});
