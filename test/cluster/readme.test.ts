import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/cli.ts";
import { deleteNamespace, deleteNode, loadKubeConfig, testKubeconfigPath } from "./support/kube.ts";

const run = promisify(execFile);

afterAll(async () => {
  const core = loadKubeConfig().makeApiClient(CoreV1Api);
  await deleteNamespace(core, "shop");
  for (const node of ["node-us-east-1a", "node-eu-west-1a"]) await deleteNode(core, node);
});

describe("README: Try it on a cluster", () => {
  it("every command of the section works against the local control plane", async () => {
    const readme = await readFile(join(repoRoot, "README.md"), "utf8");
    const section =
      readme.split(/^## /m).find((part) => part.startsWith("Try it on a cluster")) ?? "";
    const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(blocks).toHaveLength(2);
    // The second block is what a reader types once cluster:up runs; the test's cluster stands in.
    const script = (blocks[1] as string)
      .split("\n")
      .filter((line) => !line.startsWith("export KUBECONFIG="))
      .join("\n")
      .replace("127.0.0.1:8080", "127.0.0.1:18931")
      .replaceAll("localhost:8080", "127.0.0.1:18931")
      .replace(
        "sleep 3",
        "for i in $(seq 60); do curl -sf localhost:18931/readyz >/dev/null && break; sleep 0.5; done",
      );
    const { stdout } = await run("bash", ["-euc", `${script}\nkill %1`], {
      cwd: repoRoot,
      env: { ...process.env, KUBECONFIG: testKubeconfigPath() },
      timeout: 90_000,
    });
    expect(stdout).toContain('"strategy":"ring-hash"');
    expect(stdout).toMatch(/"identity":"web-\d"/);
    expect(stdout).toMatch(/web-sticky\s+web\s+ring-hash\s+3\/3\s+True/);
  });
});
