import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/cli.ts";
import { deleteNamespace, deleteNode, loadKubeConfig, testKubeconfigPath } from "./support/kube.ts";

const SCRIPT_TIMEOUT_MS = 90_000;

/**
 * Runs a README script in a process group of its own and, once the script has ended, stops what
 * it left running in the background (the operator it started with `&`), as closing the terminal
 * or Ctrl-C would: `kill %1` in a shell without job control reaches npm alone, and the server
 * under npm's `sh -c` would outlive it. Resolves with its output; rejects on a failure.
 */
async function runScript(script: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn("bash", ["-euc", script], { cwd: repoRoot, env, detached: true });
  const closed = new Promise((resolve) => child.stdout.once("close", resolve));
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk;
  });
  const stopGroup = () => {
    try {
      process.kill(-(child.pid as number), "SIGTERM");
    } catch {
      // Everything in the group has ended already.
    }
  };
  const timer = setTimeout(stopGroup, SCRIPT_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  clearTimeout(timer);
  stopGroup();
  await closed;
  if (code !== 0) throw new Error(`the script exited with ${code}:\n${stdout}\n${stderr}`);
  return stdout;
}

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
    const stdout = await runScript(script, { ...process.env, KUBECONFIG: testKubeconfigPath() });
    expect(stdout).toContain('"strategy":"ring-hash"');
    expect(stdout).toMatch(/"identity":"web-\d"/);
    expect(stdout).toMatch(/web-sticky\s+web\s+ring-hash\s+3\/3\s+True/);
  });
});
