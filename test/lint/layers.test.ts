// The layer rules of biome.json fire: a file that breaks one, placed where the rule applies,
// fails lint with the rule's message; the same file with the allowed import passes.

import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const biome = join(root, "node_modules", ".bin", "biome");

/** Lints one file written at `folder` (relative to the repository) and removes it. */
async function lint(folder: string, source: string): Promise<{ ok: boolean; output: string }> {
  const path = join(root, folder, `layer-fixture-${randomUUID().slice(0, 8)}.ts`);
  await writeFile(path, source);
  try {
    await promisify(execFile)(biome, ["lint", path], { cwd: root });
    return { ok: true, output: "" };
  } catch (error) {
    const { stdout, stderr } = error as { stdout: string; stderr: string };
    return { ok: false, output: `${stdout}${stderr}` };
  } finally {
    await rm(path, { force: true });
  }
}

describe("layer rules", () => {
  it.each([
    [
      "an interface importing the Kubernetes layer",
      "src/http",
      'import { KubernetesSource } from "../kubernetes/source.ts";\nexport const x = KubernetesSource;\n',
      "never import the Kubernetes layer",
    ],
    [
      "another layer importing an engine internal",
      "src/dns",
      'import { PickerCache } from "../balancer/picker-cache.ts";\nexport const x = PickerCache;\n',
      "through src/balancer/index.ts",
    ],
    [
      "the engine importing another layer",
      "src/balancer",
      'import { ApiError } from "../http/errors.ts";\nexport const x = ApiError;\n',
      "imports nothing from other layers",
    ],
    [
      "observability importing the Kubernetes layer",
      "src/observability",
      'import { WorkQueue } from "../kubernetes/workqueue.ts";\nexport const x = WorkQueue;\n',
      "never the reverse",
    ],
  ])("refuses %s", async (_what, folder, source, message) => {
    const result = await lint(folder, source);
    expect(result.ok, result.output).toBe(false);
    expect(result.output).toContain("noRestrictedImports");
    expect(result.output).toContain(message);
  });

  it("accepts the engine through its index", async () => {
    const result = await lint(
      "src/dns",
      'import { BalancerManager } from "../balancer/index.ts";\nexport const x = BalancerManager;\n',
    );
    expect(result.output).toBe("");
    expect(result.ok).toBe(true);
  });
});
