import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCli, serveCli } from "../support/cli.ts";

const listLoaded = fileURLToPath(new URL("../support/list-loaded-packages.ts", import.meta.url));
const env = { NODE_OPTIONS: `--import=${listLoaded}` };
const KUBERNETES_CLIENT = "/node_modules/@kubernetes/client-node/";

describe("modules loaded by serve", () => {
  it("a file source serves without loading the Kubernetes client", async () => {
    const server = await serveCli(["--source", "file", "--file", "examples/demo.yaml"], env);
    try {
      const output = server.output();
      // The hook works: the HTTP layer's packages are listed.
      expect(output).toContain("/node_modules/express/");
      expect(output).not.toContain(KUBERNETES_CLIENT);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });

  it("a cluster source loads it", async () => {
    const { stderr } = await runCli(
      ["serve", "--source", "kubernetes", "--kubeconfig", "does-not-exist.kubeconfig"],
      env,
    );
    expect(stderr).toContain(KUBERNETES_CLIENT);
  });
});
