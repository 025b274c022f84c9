// Helm and kubectl for the chart tests: the helm binary built from its Go module
// (test/cluster/harness/binaries.ts), the system kubectl, both pointed at the test cluster's
// admin kubeconfig with --kubeconfig.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";
import { runProcess } from "../../support/process.ts";
import { ensureBinaries } from "../harness/binaries.ts";
import { testKubeconfigPath } from "./kube.ts";

export const CHART_DIR = fileURLToPath(new URL("../../../charts/konsul-lb", import.meta.url));

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; a non-zero exit is returned, not thrown. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<CommandResult> {
  return runProcess(file, args, options);
}

function describeFailure(file: string, args: readonly string[], result: CommandResult): Error {
  return new Error(
    `${file} ${args.join(" ")} exited with ${result.code}:\n${result.stderr}${result.stdout}`,
  );
}

/** kubectl with the test cluster's admin kubeconfig; throws with its output when it fails. */
export async function kubectl(args: readonly string[], input?: string): Promise<CommandResult> {
  const full = ["--kubeconfig", testKubeconfigPath(), ...args];
  const result = await runCommand("kubectl", full, { input });
  if (result.code !== 0) throw describeFailure("kubectl", full, result);
  return result;
}

/** A Kubernetes object as rendered or read back, with the fields the tests look at. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: any;
}

/** The objects of a multi-document YAML stream, empty documents left out. */
export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw document.errors[0];
      return document.toJSON() as KubeObject | null;
    })
    .filter((object): object is KubeObject => object !== null);
}

/** The Helm releases the chart is tested with: Helm 4 and Helm 3. */
export const HELM_BINARIES = ["helm", "helm3"] as const;
export type HelmBinary = (typeof HELM_BINARIES)[number];

/**
 * The helm binary with a home of its own (cache, config and data in a temporary directory), so
 * that a run neither reads nor writes the user's Helm settings.
 */
export class Helm {
  readonly binary: string;
  private readonly home: string;

  private constructor(binary: string, home: string) {
    this.binary = binary;
    this.home = home;
  }

  /**
   * Builds helm from its Go module when the cache has none (minutes, once): `helm` is Helm 4,
   * `helm3` Helm 3 (see BINARIES).
   */
  static async create(log?: (line: string) => void, name: HelmBinary = "helm"): Promise<Helm> {
    const { [name]: binary } = await ensureBinaries([name], { log });
    if (binary === undefined) throw new Error(`ensureBinaries returned no ${name}`);
    return new Helm(binary, await mkdtemp(join(tmpdir(), "konsul-lb-helm-")));
  }

  async dispose(): Promise<void> {
    await rm(this.home, { recursive: true, force: true });
  }

  /** Runs helm; a non-zero exit is returned, not thrown. */
  run(args: readonly string[]): Promise<CommandResult> {
    return runCommand(this.binary, args, {
      env: {
        HELM_CACHE_HOME: join(this.home, "cache"),
        HELM_CONFIG_HOME: join(this.home, "config"),
        HELM_DATA_HOME: join(this.home, "data"),
        // Plain output: error messages are compared as text.
        NO_COLOR: "1",
      },
    });
  }

  /** Runs helm and throws with its output when it fails. */
  async ok(args: readonly string[]): Promise<CommandResult> {
    const result = await this.run(args);
    if (result.code !== 0) throw describeFailure("helm", args, result);
    return result;
  }

  /** Runs helm against the test cluster (--kubeconfig is added). */
  cluster(args: readonly string[]): Promise<CommandResult> {
    return this.run([...args, "--kubeconfig", testKubeconfigPath()]);
  }

  async clusterOk(args: readonly string[]): Promise<CommandResult> {
    const full = [...args, "--kubeconfig", testKubeconfigPath()];
    const result = await this.run(full);
    if (result.code !== 0) throw describeFailure("helm", full, result);
    return result;
  }

  /** Writes values to a file in helm's home and returns its path, for `-f`. */
  async valuesFile(values: object): Promise<string> {
    const path = join(this.home, `values-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(path, stringify(values));
    return path;
  }

  /** `helm template` of the chart with these values; the rendered text. */
  async templateText(
    release: string,
    namespace: string,
    values: object,
    extra: readonly string[] = [],
  ): Promise<string> {
    const file = await this.valuesFile(values);
    const result = await this.ok([
      "template",
      release,
      CHART_DIR,
      "--namespace",
      namespace,
      "--values",
      file,
      ...extra,
    ]);
    return result.stdout;
  }

  async template(
    release: string,
    namespace: string,
    values: object,
    extra: readonly string[] = [],
  ): Promise<KubeObject[]> {
    return parseObjects(await this.templateText(release, namespace, values, extra));
  }
}
