/**
 * The docs' examples that need a cluster, against the local control plane: every cluster-only
 * block of docs/ in one bash session per document, in document order (the first sets up
 * examples/cluster/shop.yaml and starts the operator in the background, as a reader would), each
 * output compared with the one shown, as test/docs/examples.test.ts does for the demo; and every
 * LoadBalancingPolicy shown anywhere in docs/ through `kubectl apply --dry-run=server`, so the
 * real API server's schema and CEL rules accept it.
 */

import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  ClusterSession,
  compareOutput,
  DOCS,
  type Example,
  exampleTitle,
  loadExamples,
} from "../docs/examples.ts";
import { fencedBlocks, readRepoFile } from "../support/markdown.ts";
import { ensureBinaries } from "./harness/binaries.ts";
import { runCommand } from "./support/helm.ts";
import {
  clients,
  deleteNamespace,
  deleteNode,
  deletePod,
  isNotFound,
  testKubeconfigPath,
  waitFor,
} from "./support/kube.ts";

const { core } = clients();
// What examples/cluster/shop.yaml and the docs' examples create.
const SHOP = "shop";
const NODES = ["node-us-east-1a", "node-eu-west-1a"];
const RELEASE_NAMESPACE = "konsul-lb";

/** Removes a namespace whose pods no kubelet will ever confirm gone, and waits until it is. */
async function removeNamespace(name: string): Promise<void> {
  try {
    const pods = await core.listNamespacedPod({ namespace: name });
    for (const pod of pods.items) await deletePod(core, name, pod.metadata?.name ?? "");
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  await deleteNamespace(core, name);
  await waitFor(
    `namespace ${name} to be gone`,
    async () => {
      try {
        await core.readNamespace({ name });
        return undefined;
      } catch (error) {
        if (isNotFound(error)) return true;
        throw error;
      }
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}

async function kubectl(args: readonly string[], input?: string) {
  return runCommand("kubectl", ["--kubeconfig", testKubeconfigPath(), ...args], { input });
}

let helmDir = "";

/** Removes what the examples create: the release, the README's objects. */
async function cleanUp(): Promise<void> {
  // Not there is fine: nothing to uninstall.
  await runCommand(`${helmDir}/helm`, [
    "uninstall",
    "konsul-lb",
    "--namespace",
    RELEASE_NAMESPACE,
    "--kubeconfig",
    testKubeconfigPath(),
  ]);
  await removeNamespace(RELEASE_NAMESPACE);
  await removeNamespace(SHOP);
  for (const node of NODES) await deleteNode(core, node);
}

beforeAll(async () => {
  const { helm } = await ensureBinaries(["helm"], {
    log: (line) => console.log(`[helm build] ${line}`),
  });
  helmDir = dirname(helm as string);
  // A file before this one may have left the README's objects behind (deleting a namespace
  // takes the namespace controller a while); the examples start from none.
  await cleanUp();
});

afterAll(cleanUp);

describe("docs: the cluster-only examples", () => {
  for (const doc of DOCS) {
    const examples: Example[] = loadExamples(doc).filter((example) => example.kind === "cluster");
    if (examples.length === 0) continue;

    it(`${doc}: every cluster-only example prints what the doc shows`, async () => {
      const session = await ClusterSession.start({
        KUBECONFIG: testKubeconfigPath(),
        PATH: `${helmDir}:${process.env.PATH ?? ""}`,
      });
      try {
        const results = await session.runAll(examples);
        for (const example of examples) {
          const result = results.get(example);
          expect(result, exampleTitle(example)).toBeDefined();
          if (!result || example.output === null) continue;
          const { shown, actual } = compareOutput(example.output, result.stdout, example.varies);
          expect(actual, `${exampleTitle(example)}: the output shown is stale`).toEqual(shown);
        }
      } finally {
        await session.stop();
      }
    }, 300_000);
  }
});

describe("docs: every LoadBalancingPolicy shown", () => {
  it("passes kubectl apply --dry-run=server against the real API server", async () => {
    const crd = await kubectl(["apply", "--server-side", "-f", "crds/"]);
    expect(crd.code, crd.stderr).toBe(0);
    const policies: { where: string; text: string; namespace: string }[] = [];
    for (const doc of DOCS) {
      for (const block of fencedBlocks(await readRepoFile(doc))) {
        if (block.lang !== "yaml" || !/kind: LoadBalancingPolicy/.test(block.code)) continue;
        const object = parseYaml(block.code);
        policies.push({
          where: `${doc}:${block.line}`,
          text: block.code,
          namespace: object.metadata.namespace,
        });
      }
    }
    expect(policies.length).toBeGreaterThanOrEqual(11);
    // Dry runs of namespaced objects need the namespace; those made here go afterwards.
    const made: string[] = [];
    try {
      for (const namespace of new Set(policies.map((p) => p.namespace))) {
        const created = await kubectl(["create", "namespace", namespace]);
        if (created.code === 0) made.push(namespace);
      }
      for (const policy of policies) {
        const result = await kubectl(["apply", "--dry-run=server", "-f", "-"], policy.text);
        expect(`${result.code} ${result.stderr}`, policy.where).toBe("0 ");
        expect(result.stdout, policy.where).toMatch(/created \(server dry run\)/);
      }
    } finally {
      await Promise.all(made.map(removeNamespace));
    }
  });
});
