// Outlier ejection across three `konsul-lb serve --source kubernetes` replicas, with the policy
// applied by kubectl: failures reported to a follower reach the leader, which ejects the
// endpoint; every replica then leaves it out of its answers, the policy's status counts it,
// an Event says so, and at the end of its ejection time it is back on all three.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ServingCli, serveCli } from "../support/cli.ts";
import { runCommand } from "./support/helm.ts";
import {
  type AccountToken,
  clients,
  clusterAvailable,
  createNamespace,
  createNode,
  createPod,
  createService,
  deleteNamespace,
  deleteNode,
  serviceAccountToken,
  setPodStatus,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";
import { installPolicyCrd } from "./support/policies.ts";
import { haStatus } from "./support/replica-api.ts";

const PODS = 4;
const EJECTION = "4s";

describe.skipIf(!clusterAvailable())("outlier ejection across three replicas", () => {
  let core: CoreV1Api;
  let namespace: string;
  let scratch: string;
  let account: AccountToken;
  const node = `outliers-node-${Date.now().toString(36)}`;
  const replicas: { name: string; cli: ServingCli }[] = [];

  /** kubectl as a user runs it; a refusal is returned (with its output), not thrown. */
  const kubectl = (args: readonly string[], input?: string) =>
    runCommand("kubectl", ["--kubeconfig", testKubeconfigPath(), ...args], { input });

  const policyYaml = (outlierDetection: string) => `apiVersion: lb.konsul.io/v1alpha1
kind: LoadBalancingPolicy
metadata: { name: web, namespace: ${namespace} }
spec:
  targetRef: { kind: Service, name: web }
  strategy: round-robin
  outlierDetection: ${outlierDetection}
`;

  const status = (cli: ServingCli) => haStatus({ ...cli, token: account.token });

  /** The identities a replica answers with, and those it marks unhealthy. */
  async function answers(cli: ServingCli): Promise<{ listed: string[]; unhealthy: string[] }> {
    const list = await fetch(`${cli.url}/v1/services/${namespace}/web/endpoints`);
    const listed = ((await list.json()) as { endpoints: { identity: string }[] }).endpoints
      .map((e) => e.identity)
      .sort();
    const all = await fetch(`${cli.url}/v1/services/${namespace}/web`);
    const unhealthy = (
      (await all.json()) as { endpoints: { identity: string; healthy: boolean }[] }
    ).endpoints
      .filter((e) => !e.healthy)
      .map((e) => e.identity);
    return { listed, unhealthy };
  }

  beforeAll(async () => {
    ({ core } = clients());
    await installPolicyCrd();
    namespace = await createNamespace(core, "outliers-");
    scratch = await mkdtemp(join(tmpdir(), "konsul-lb-outliers-"));
    account = await serviceAccountToken(core, namespace, "konsul-lb", scratch);
    await createNode(core, node, { region: "r", zone: "r-a" });
    await createService(core, namespace, "web", { app: "web" }, [{ name: "http", port: 80 }]);
    for (let i = 0; i < PODS; i++) {
      await createPod(core, namespace, {
        name: `web-${i}`,
        nodeName: node,
        labels: { app: "web" },
      });
      await setPodStatus(core, namespace, `web-${i}`, { ip: `10.45.0.${10 + i}`, ready: true });
    }
    const applied = await kubectl(
      ["apply", "-f", "-"],
      policyYaml(
        `{ consecutiveFailures: 3, interval: 200ms, baseEjectionTime: ${EJECTION}, maxEjectionPercent: 50 }`,
      ),
    );
    expect(applied.stderr).toBe("");
    for (const name of ["replica-a", "replica-b", "replica-c"]) {
      const cli = await serveCli(
        [
          "--source",
          "kubernetes",
          "--kubeconfig",
          testKubeconfigPath(),
          "--lease-namespace",
          namespace,
          "--lease-duration",
          "3s",
          "--renew-deadline",
          "2s",
          "--retry-period",
          "500ms",
          "--state-interval",
          "250ms",
          "--internal-addr",
          "127.0.0.1:0",
          "--token-file",
          account.path,
        ],
        { POD_NAME: name },
      );
      replicas.push({ name, cli });
    }
    for (const { name, cli } of replicas) {
      await waitFor(`${name} to serve web with its policy and know the leader`, async () => {
        const { listed } = await answers(cli);
        if (listed.length !== PODS) return undefined;
        const ready = await fetch(`${cli.url}/readyz`);
        await ready.body?.cancel();
        return ready.status === 200 ? true : undefined;
      });
    }
  });

  afterEach(({ task }) => {
    if (task.result?.state !== "fail") return;
    for (const { name, cli } of replicas) console.error(`----- ${name} -----\n${cli.output()}`);
  });

  afterAll(async () => {
    for (const { cli } of replicas) {
      cli.child.kill("SIGTERM");
      await cli.exited;
    }
    if (scratch) await rm(scratch, { recursive: true, force: true });
    if (core) {
      await deleteNamespace(core, namespace);
      await deleteNode(core, node);
    }
  });

  it("the API server rejects a bad outlierDetection, naming the field", async () => {
    const zero = await kubectl(
      ["apply", "--dry-run=server", "-f", "-"],
      policyYaml("{ successRate: { stdevFactor: 0 } }"),
    );
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toContain("spec.outlierDetection.successRate.stdevFactor");
    expect(zero.stderr).toContain("stdevFactor must be greater than 0");
    const interval = await kubectl(
      ["apply", "--dry-run=server", "-f", "-"],
      policyYaml("{ interval: 10ms }"),
    );
    expect(interval.code).not.toBe(0);
    expect(interval.stderr).toContain("spec.outlierDetection.interval");
  });

  it("failures reported to a follower eject the endpoint on every replica, then it returns", async () => {
    const leading = await waitFor("one leader every replica names", async () => {
      const all = await Promise.all(replicas.map(async (r) => [r, await status(r.cli)] as const));
      const leaders = all.filter(([, s]) => s.leading);
      if (leaders.length !== 1) return undefined;
      const [leader, own] = leaders[0] as (typeof all)[number];
      return all.every(([, s]) => s.leader?.identity === own.identity) ? leader : undefined;
    });
    const follower = replicas.find((r) => r !== leading) as (typeof replicas)[number];
    const failures = Array.from({ length: 3 }, () => ({
      endpoint: "10.45.0.11:80",
      result: "failure",
      latencyMs: 900,
    }));
    const answer = await fetch(
      `${follower.cli.url}/v1/services/${namespace}/web/outcomes?reporter=cluster-test`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(failures),
      },
    );
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ accepted: 3, unknown: 0 });

    const ejectedAt = Date.now();
    for (const { name, cli } of replicas) {
      await waitFor(`${name} to leave web-1 out`, async () => {
        const { listed, unhealthy } = await answers(cli);
        return !listed.includes("web-1") && unhealthy.includes("web-1") ? true : undefined;
      });
    }
    const propagated = Date.now() - ejectedAt;
    // Within the state interval and a watch's delivery, far below the ejection time.
    expect(propagated).toBeLessThan(3_000);

    await waitFor("the policy's status to count the ejection", async () => {
      const { stdout } = await kubectl([
        "get",
        "lbp",
        "web",
        "-n",
        namespace,
        "-o",
        "jsonpath={.status.endpoints.ejected}",
      ]);
      return stdout === "1" ? true : undefined;
    });
    await waitFor("an EndpointEjected event on the policy", async () => {
      const { stdout } = await kubectl([
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "reason=EndpointEjected,involvedObject.name=web",
        "-o",
        "jsonpath={.items[*].message}",
      ]);
      return stdout.includes("web-1 ejected (consecutive-failures, ejection 1)") ? true : undefined;
    });
    const metrics = await (await fetch(`${leading.cli.url}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(
        `konsul_lb_outlier_ejections_total\\{service="${namespace}/web",reason="consecutive-failures"\\} 1`,
      ),
    );

    for (const { name, cli } of replicas) {
      await waitFor(
        `${name} to take web-1 back`,
        async () => ((await answers(cli)).listed.includes("web-1") ? true : undefined),
        { timeoutMs: 20_000 },
      );
    }
    // Not before its ejection time.
    expect(Date.now() - ejectedAt).toBeGreaterThanOrEqual(4_000 - 1_000);
    await waitFor("the policy's status to count none", async () => {
      const { stdout } = await kubectl([
        "get",
        "lbp",
        "web",
        "-n",
        namespace,
        "-o",
        "jsonpath={.status.endpoints.ejected}",
      ]);
      return stdout === "0" ? true : undefined;
    });
  });
});
