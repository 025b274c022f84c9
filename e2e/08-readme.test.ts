// The README's "Install on a cluster", command by command, as a user runs it on a cluster where
// the release is not installed yet (07 uninstalled it): each shell block runs verbatim in bash
// and prints what the README shows after it. Only the port-forward differs locally, where no
// kubelet forwards ports: the replica's own address stands in for localhost:8080. Values that
// change from run to run (dates, pod names and addresses, versions) are named in the README's
// `<!-- docs: varies ... -->` comment or below, and only those are left out of the comparison.

import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FencedBlock, fencedBlocks, section } from "../test/support/markdown.ts";
import {
  clients,
  isNotFound,
  kubeconfigPath,
  kubectl,
  log,
  run,
  waitFor,
} from "./support/cluster.ts";
import { ENV, REPO_ROOT, required, SHOP } from "./support/env.ts";
import { target } from "./support/target.ts";

const t = target();
afterAll(() => t.close());

const SECTION = "Install on a cluster";
/** helm prints the time of the install. */
const TEXT_VARIES = [/^LAST DEPLOYED: .*$/m];

interface Step {
  readonly command: FencedBlock;
  readonly output: FencedBlock;
}

async function steps(): Promise<Step[]> {
  const text = section(await readFile(join(REPO_ROOT, "README.md"), "utf8"), SECTION);
  if (text === undefined) throw new Error(`README.md has no section "${SECTION}"`);
  const blocks = fencedBlocks(text);
  const out: Step[] = [];
  for (const [i, block] of blocks.entries()) {
    if (block.lang !== "sh") continue;
    const output = blocks[i + 1];
    if (!output || (output.lang !== "text" && output.lang !== "json")) {
      throw new Error(`README "${SECTION}": the sh block at line ${block.line} shows no output`);
    }
    out.push({ command: block, output });
  }
  return out;
}

/** Runs one README block in bash, with helm and the cluster of the suite. */
async function runBlock(code: string): Promise<string> {
  const helm = required(ENV.helm);
  const { stdout } = await run("bash", ["-euo", "pipefail", "-c", code], {
    env: {
      PATH: `${dirname(helm)}:${process.env.PATH}`,
      KUBECONFIG: kubeconfigPath(),
    },
    timeoutMs: 240_000,
  });
  return stdout;
}

function normalisedText(text: string): string {
  let out = text.trimEnd();
  for (const pattern of TEXT_VARIES) out = out.replace(pattern, (line) => line.split(":")[0] ?? "");
  return out;
}

/** Removes the `varies` paths from a JSON value, checking the actual one has each. */
function withoutVarying(value: unknown, paths: readonly string[], check: boolean): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  for (const path of paths) {
    const keys = path.split(".");
    let at: Record<string, unknown> | undefined = copy;
    for (const key of keys.slice(0, -1)) at = at?.[key] as Record<string, unknown> | undefined;
    const last = keys.at(-1) as string;
    if (check) expect(at && last in at, `the answer has ${path}`).toBe(true);
    if (at) delete at[last];
  }
  return copy;
}

describe("README: Install on a cluster", () => {
  beforeAll(async () => {
    // A first install: the backends' namespace, left by the earlier files, goes first so that
    // kubectl apply creates what the README says it creates.
    await kubectl(["delete", "namespace", SHOP, "--ignore-not-found", "--wait=false"]);
    await waitFor(
      `namespace ${SHOP} to be gone`,
      async () => {
        try {
          await clients().core.readNamespace({ name: SHOP });
          return undefined;
        } catch (error) {
          if (isNotFound(error)) return true;
          throw error;
        }
      },
      { timeoutMs: 180_000, intervalMs: 1_000 },
    );
  });

  it("every command prints what the README shows", async () => {
    const all = await steps();
    expect(all.map((s) => s.command.code.split(" ")[0])).toEqual(["helm", "kubectl", "kubectl"]);
    for (const [i, { command, output }] of all.entries()) {
      let code = command.code;
      if (/port-forward/.test(code) && t.mode === "local") {
        // No kubelet forwards ports here: call a replica of the release directly.
        const [replica] = await t.replicas();
        if (!replica) throw new Error("no replica serves");
        code = code
          .split("\n")
          .filter((line) => !line.includes("port-forward") && !line.startsWith("sleep"))
          .join("\n")
          .replaceAll("localhost:8080", replica.url.replace("http://", ""));
      }
      log(`README line ${command.line}: ${command.code.trim().split("\n").join(" / ")}`);
      const actual = await runBlock(code);
      log(`printed:\n${actual.trimEnd()}`);
      if (output.lang === "json") {
        const varies = command.directives
          .filter((d) => d.startsWith("varies "))
          .flatMap((d) => d.slice("varies ".length).split(/\s+/));
        expect(withoutVarying(JSON.parse(actual), varies, true)).toEqual(
          withoutVarying(JSON.parse(output.code), varies, false),
        );
      } else {
        expect(normalisedText(actual)).toBe(normalisedText(output.code));
      }
      // The chart is installed: its replicas start (locally, as processes of the runner).
      if (i === 0) await t.installed();
    }
  });
});
