// The internal API against the real kube-apiserver: a replica admits on its internal port only
// callers whose token a TokenReview says is the operator's own ServiceAccount, and its public
// port serves none of the internal routes.

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pathOf } from "../../src/http/routes.ts";
import { type ServingCli, serveCli } from "../support/cli.ts";
import {
  type AccountToken,
  clients,
  clusterAvailable,
  createNamespace,
  deleteNamespace,
  serviceAccountToken,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";

const run = promisify(execFile);
const CRD = fileURLToPath(
  new URL("../../crds/lb.konsul.io_loadbalancingpolicies.yaml", import.meta.url),
);

interface ErrorBody {
  error: { code: string; message: string };
}

describe.skipIf(!clusterAvailable())("the internal API's authentication", () => {
  let core: CoreV1Api;
  let namespace: string;
  let scratch: string;
  let own: AccountToken;
  let intruder: AccountToken;
  let replica: ServingCli;

  const status = (authorization?: string) =>
    fetch(`${replica.internalUrl}${pathOf("haStatus")}`, {
      headers: authorization === undefined ? {} : { authorization },
    });

  beforeAll(async () => {
    ({ core } = clients());
    await run("kubectl", [
      "--kubeconfig",
      testKubeconfigPath(),
      "apply",
      "--server-side",
      "-f",
      CRD,
    ]);
    namespace = await createNamespace(core, "ha-internal-");
    scratch = await mkdtemp(join(tmpdir(), "konsul-lb-internal-"));
    own = await serviceAccountToken(core, namespace, "konsul-lb", scratch);
    intruder = await serviceAccountToken(core, namespace, "intruder", scratch);
    replica = await serveCli(
      [
        "--source",
        "kubernetes",
        "--kubeconfig",
        testKubeconfigPath(),
        "--lease-namespace",
        namespace,
        "--internal-addr",
        "127.0.0.1:0",
        "--token-file",
        own.path,
      ],
      { POD_NAME: "replica-auth" },
    );
  });

  afterAll(async () => {
    if (replica) {
      replica.child.kill("SIGTERM");
      await replica.exited;
    }
    if (scratch) await rm(scratch, { recursive: true, force: true });
    if (core && namespace) await deleteNamespace(core, namespace);
  });

  it("admits the operator's own ServiceAccount", async () => {
    expect(replica.internalUrl).not.toBeNull();
    const body = await waitFor("the replica to lead", async () => {
      const response = await status(`Bearer ${own.token}`);
      expect(response.status).toBe(200);
      const ha = (await response.json()) as { leading: boolean; identity: string };
      return ha.leading ? ha : undefined;
    });
    expect(body.identity).toContain("replica-auth");
    expect(replica.output()).toContain(`"serviceAccount":"${namespace}/konsul-lb"`);
  });

  it("refuses a call without a token, or with a token the kube-apiserver refuses: 401", async () => {
    for (const authorization of [undefined, "Basic a29uc3VsOmxi", "Bearer not-a-token"]) {
      const response = await status(authorization);
      expect(response.status, authorization).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe("Bearer");
      expect(((await response.json()) as ErrorBody).error.code).toBe("Unauthenticated");
    }
  });

  it("refuses another ServiceAccount of the same namespace: 403, naming both", async () => {
    const response = await status(`Bearer ${intruder.token}`);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: {
        code: "Forbidden",
        message: `${intruder.user} may not call the internal API; only ${own.user} may`,
      },
    });
    // Not on any internal route: a forged reconcile is refused before its body is read.
    const forged = await fetch(`${replica.internalUrl}${pathOf("reconcileConnections")}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${intruder.token}` },
      body: JSON.stringify({ from: "x", opens: [], closes: ["a"] }),
    });
    expect(forged.status).toBe(403);
  });

  it("serves no internal route on the public port", async () => {
    const response = await fetch(`${replica.url}${pathOf("haStatus")}`, {
      headers: { authorization: `Bearer ${own.token}` },
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as ErrorBody).error.code).toBe("RouteNotFound");
  });
});
