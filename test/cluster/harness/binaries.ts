// Builds the control-plane binaries from Go sources and caches them outside the repository.
//
// Nothing is downloaded as a ready-made binary: each component is compiled from its Go module
// through a throwaway "wrapper" module, because `go install module@version` refuses modules
// whose go.mod carries replace directives (both k8s.io/kubernetes and etcd's server do).

import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { acquireLock } from "./lock.ts";
import { binaryCacheDir, controlPlaneCacheRoot } from "./paths.ts";

const execFileAsync = promisify(execFile);

/**
 * Newest Kubernetes release whose go.mod (`go 1.26.0`) the local Go 1.26 toolchain accepts.
 * Override with KONSUL_LB_KUBE_VERSION to try another release; the staging pins follow it.
 */
export const KUBERNETES_VERSION = process.env.KONSUL_LB_KUBE_VERSION ?? "v1.37.2";
/** k8s 1.37 is built against etcd client 3.7; the newest 3.7 patch release serves it. */
export const ETCD_VERSION = process.env.KONSUL_LB_ETCD_VERSION ?? "v3.7.3";
/** Helm 4, whose go.mod has no replace directives; installs and tests the chart. */
export const HELM_VERSION = process.env.KONSUL_LB_HELM_VERSION ?? "v4.3.1";
/** Helm 3, the newest v3 release, which many users still run; the chart tests run with both. */
export const HELM3_VERSION = process.env.KONSUL_LB_HELM3_VERSION ?? "v3.22.0";
/** kwok plays the kubelets of fake Nodes in the end-to-end suite (pods get IPs and turn Ready). */
export const KWOK_VERSION = process.env.KONSUL_LB_KWOK_VERSION ?? "v0.8.0";

/** How the wrapper module has to treat the source module. */
export type WrapperKind =
  /** k8s.io/kubernetes: pin every staging repo (required at v0.0.0) to its published tag. */
  | "kubernetes"
  /** Any module whose own replace directives only matter inside its repository. */
  | "plain";

export interface BinarySpec {
  /** File name of the executable in the cache directory. */
  readonly name: string;
  /** Go module that provides the main package. */
  readonly module: string;
  readonly version: string;
  /** Import path of the main package. */
  readonly pkg: string;
  readonly kind: WrapperKind;
  /** `-X importpath.name=value` settings, so the binary reports the version it was built from. */
  readonly versionVars: (info: ModuleInfo) => readonly string[];
  /** Built by `cluster:build` without naming it; the cluster needs these. */
  readonly needed: boolean;
}

export interface ModuleInfo {
  readonly version: string;
  /** Release time from the module proxy; used as build date so rebuilds are reproducible. */
  readonly time: string | undefined;
  /** Commit of the release, when the proxy reports the module's origin. */
  readonly commit: string | undefined;
  /** The versions its go.mod requires, by module path. */
  readonly requires: ReadonlyMap<string, string>;
}

/**
 * What Helm 3's Makefile sets from the k8s.io/client-go it is built with (v0.37.0 → 1.37): the
 * Kubernetes version `helm template` and `helm lint` assume without a cluster. Unset, they
 * assume 1.20, older than any chart's kubeVersion here.
 */
function helm3KubernetesVars(info: ModuleInfo): string[] {
  const clientGo = info.requires.get("k8s.io/client-go");
  const match = clientGo === undefined ? null : /^v(\d+)\.(\d+)\./.exec(clientGo);
  if (match === null) throw new Error(`helm ${info.version}: no k8s.io/client-go in its go.mod`);
  const major = String(Number(match[1]) + 1);
  const minor = match[2] as string;
  return ["pkg/lint/rules", "pkg/chartutil"].flatMap((pkg) => [
    `helm.sh/helm/v3/${pkg}.k8sVersionMajor=${major}`,
    `helm.sh/helm/v3/${pkg}.k8sVersionMinor=${minor}`,
  ]);
}

function kubernetesVersionVars(info: ModuleInfo): string[] {
  const match = /^v(\d+)\.(\d+)\./.exec(info.version);
  const major = match?.[1] ?? "";
  const minor = match?.[2] ?? "";
  // The same variables hack/lib/version.sh sets. "archive" is what an official build from a
  // source tarball reports: there is no git checkout, so no commit to name.
  const vars: Record<string, string> = {
    gitVersion: info.version,
    gitMajor: major,
    gitMinor: minor,
    gitTreeState: "archive",
    // Unset, the source's "$Format:%H$" placeholder would be reported as the commit.
    gitCommit: info.commit ?? "",
  };
  if (info.time !== undefined) vars.buildDate = info.time.replace(/\.\d+Z$/, "Z");
  const out: string[] = [];
  for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
    for (const [key, value] of Object.entries(vars)) out.push(`${pkg}.${key}=${value}`);
  }
  return out;
}

const kubernetes = (name: string, needed: boolean): BinarySpec => ({
  name,
  module: "k8s.io/kubernetes",
  version: KUBERNETES_VERSION,
  pkg: `k8s.io/kubernetes/cmd/${name}`,
  kind: "kubernetes",
  versionVars: kubernetesVersionVars,
  needed,
});

/**
 * Every binary the cluster tests may use. Entries sharing module and version are built by one
 * `go build` in one wrapper module, so adding kube-scheduler costs little more than its link.
 */
export const BINARIES: readonly BinarySpec[] = [
  kubernetes("kube-apiserver", true),
  kubernetes("kube-controller-manager", true),
  kubernetes("kube-scheduler", false),
  {
    name: "etcd",
    module: "go.etcd.io/etcd/server/v3",
    version: ETCD_VERSION,
    pkg: "go.etcd.io/etcd/server/v3",
    kind: "plain",
    // etcd's version is a constant in its api module; only the commit is a variable.
    versionVars: (info) =>
      info.commit ? [`go.etcd.io/etcd/api/v3/version.GitSHA=${info.commit.slice(0, 7)}`] : [],
    needed: true,
  },
  {
    name: "helm",
    module: "helm.sh/helm/v4",
    version: HELM_VERSION,
    pkg: "helm.sh/helm/v4/cmd/helm",
    kind: "plain",
    // Unset, `helm version` reports only the minor release compiled into the source.
    versionVars: (info) => [
      `helm.sh/helm/v4/internal/version.version=${info.version}`,
      ...(info.commit ? [`helm.sh/helm/v4/internal/version.gitCommit=${info.commit}`] : []),
      "helm.sh/helm/v4/internal/version.gitTreeState=clean",
    ],
    needed: false,
  },
  {
    name: "helm3",
    module: "helm.sh/helm/v3",
    version: HELM3_VERSION,
    pkg: "helm.sh/helm/v3/cmd/helm",
    kind: "plain",
    versionVars: (info) => [
      `helm.sh/helm/v3/internal/version.version=${info.version}`,
      ...(info.commit ? [`helm.sh/helm/v3/internal/version.gitCommit=${info.commit}`] : []),
      "helm.sh/helm/v3/internal/version.gitTreeState=clean",
      ...helm3KubernetesVars(info),
    ],
    needed: false,
  },
  {
    name: "kwok",
    module: "sigs.k8s.io/kwok",
    version: KWOK_VERSION,
    pkg: "sigs.k8s.io/kwok/cmd/kwok",
    kind: "plain",
    versionVars: () => [],
    needed: false,
  },
];

export function findBinary(name: string): BinarySpec {
  const spec = BINARIES.find((b) => b.name === name);
  if (spec === undefined) {
    throw new Error(`unknown binary ${name}; known: ${BINARIES.map((b) => b.name).join(", ")}`);
  }
  return spec;
}

export interface BuildOptions {
  /** Progress lines; the build is long and otherwise silent. */
  readonly log?: (line: string) => void;
}

/** Bump when build flags change in a way that should replace cached binaries. */
const RECIPE = 2;

/** A stamp next to each binary records what it was built from, so a table change rebuilds it. */
function stampOf(spec: BinarySpec): string {
  return `${spec.module}@${spec.version} ${spec.pkg} recipe ${RECIPE}\n`;
}

async function isCurrent(dir: string, spec: BinarySpec): Promise<boolean> {
  try {
    const [stamp, info] = await Promise.all([
      readFile(join(dir, `${spec.name}.stamp`), "utf8"),
      stat(join(dir, spec.name)),
    ]);
    return stamp === stampOf(spec) && info.isFile();
  } catch {
    return false;
  }
}

/**
 * Resolves each named binary to an executable path: from KUBEBUILDER_ASSETS when it holds one
 * of that name, else from the cache, building the missing ones.
 */
export async function ensureBinaries(
  names: readonly string[],
  options: BuildOptions = {},
): Promise<Record<string, string>> {
  const log = options.log ?? (() => {});
  const specs = names.map(findBinary);
  const result: Record<string, string> = {};
  const assets = process.env.KUBEBUILDER_ASSETS;
  const dir = binaryCacheDir(KUBERNETES_VERSION);

  const missing: BinarySpec[] = [];
  for (const spec of specs) {
    if (assets && existsSync(join(assets, spec.name))) {
      result[spec.name] = join(assets, spec.name);
    } else if (await isCurrent(dir, spec)) {
      result[spec.name] = join(dir, spec.name);
    } else {
      missing.push(spec);
    }
  }
  if (missing.length === 0) return result;

  const goVersion = await go(["env", "GOVERSION"], process.cwd()).catch((error: unknown) => {
    throw new Error(
      `building ${missing.map((s) => s.name).join(", ")} needs Go 1.26+ on PATH ` +
        `(or KUBEBUILDER_ASSETS with prebuilt binaries): ${error instanceof Error ? error.message : error}`,
    );
  });
  log(`building with ${goVersion.trim()} into ${dir}`);
  await mkdir(dir, { recursive: true });
  // Two test runs may start at once on a shared machine; one builds, the other waits and reuses.
  const release = await acquireLock(join(controlPlaneCacheRoot(), "build.lock"), log);
  try {
    const stillMissing: BinarySpec[] = [];
    for (const spec of missing) {
      if (await isCurrent(dir, spec)) result[spec.name] = join(dir, spec.name);
      else stillMissing.push(spec);
    }
    for (const group of groupByModule(stillMissing)) {
      await buildGroup(group, dir, log);
      for (const spec of group) result[spec.name] = join(dir, spec.name);
    }
  } finally {
    await release();
  }
  return result;
}

function groupByModule(specs: readonly BinarySpec[]): BinarySpec[][] {
  const groups = new Map<string, BinarySpec[]>();
  for (const spec of specs) {
    const key = `${spec.module}@${spec.version}`;
    const group = groups.get(key);
    if (group) group.push(spec);
    else groups.set(key, [spec]);
  }
  return [...groups.values()];
}

interface GoModJson {
  Go?: string;
  Require?: { Path: string; Version: string }[] | null;
}

async function go(args: readonly string[], cwd: string): Promise<string> {
  const { stdout } = await execFileAsync("go", args, {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, CGO_ENABLED: "0" },
  });
  return stdout;
}

/** Runs a long go command with its output passed through, so failures show the compiler's words. */
function goStreaming(args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("go", args, {
      cwd,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CGO_ENABLED: "0" },
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`go ${args.join(" ")} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/**
 * The `replace` lines k8s.io/kubernetes needs as a dependency. Its go.mod requires each staging
 * repo at v0.0.0 and points it at ./staging; the published tags v0.<minor>.<patch> carry the same
 * code. The list changes between releases, so it is read from the go.mod rather than written down.
 */
export function stagingReplaces(goMod: GoModJson, kubeVersion: string): string[] {
  const tag = kubeVersion.replace(/^v1\./, "v0.");
  return (goMod.Require ?? [])
    .filter((r) => r.Path.startsWith("k8s.io/") && r.Version === "v0.0.0")
    .map((r) => `\t${r.Path} => ${r.Path} ${tag}`);
}

async function moduleInfo(
  module: string,
  version: string,
  cwd: string,
): Promise<{ info: ModuleInfo; goMod: GoModJson; goModPath: string }> {
  const out = await go(["mod", "download", "-json", `${module}@${version}`], cwd);
  const dl = JSON.parse(out) as { GoMod?: string; Info?: string; Error?: string };
  if (dl.Error || !dl.GoMod || !dl.Info) {
    throw new Error(`go mod download ${module}@${version}: ${dl.Error}`);
  }
  const goMod = JSON.parse(await go(["mod", "edit", "-json", dl.GoMod], cwd)) as GoModJson;
  const info = JSON.parse(await readFile(dl.Info, "utf8")) as {
    Time?: string;
    Origin?: { Hash?: string };
  };
  return {
    info: {
      version,
      time: info.Time,
      commit: info.Origin?.Hash,
      requires: new Map((goMod.Require ?? []).map((r) => [r.Path, r.Version])),
    },
    goMod,
    goModPath: dl.GoMod,
  };
}

async function buildGroup(group: readonly BinarySpec[], outDir: string, log: (l: string) => void) {
  const first = group[0];
  if (first === undefined) return;
  const { module, version } = first;
  const label = `${module}@${version}`;
  const started = Date.now();
  const wrapper = join(
    controlPlaneCacheRoot(),
    "wrappers",
    `${module.replaceAll("/", "_")}@${version}`,
  );
  await rm(wrapper, { recursive: true, force: true });
  await mkdir(wrapper, { recursive: true });

  log(`${label}: resolving module`);
  const { info, goMod } = await moduleInfo(module, version, wrapper);
  const lines = [
    "// Generated by test/cluster/harness/binaries.ts; safe to delete.",
    "module konsul-lb.test/control-plane-build",
    "",
    // The dependency's own go directive: the build needs at least that toolchain anyway.
    `go ${goMod.Go ?? "1.26.0"}`,
    "",
    `require ${module} ${version}`,
  ];
  if (first.kind === "kubernetes") {
    const replaces = stagingReplaces(goMod, version);
    if (replaces.length === 0) throw new Error(`${label}: no staging modules found in go.mod`);
    lines.push("", "replace (", ...replaces, ")");
    log(
      `${label}: pinned ${replaces.length} staging modules to ${version.replace(/^v1\./, "v0.")}`,
    );
  }
  await writeFile(join(wrapper, "go.mod"), `${lines.join("\n")}\n`);

  // `go get -tool` records each main package and keeps its dependencies in the wrapper's go.mod;
  // the explicit version stops it from moving the module to its latest release.
  log(`${label}: downloading dependencies`);
  await goStreaming(["get", "-tool", ...group.map((s) => `${s.pkg}@${version}`)], wrapper);
  log(`${label}: dependencies ready after ${seconds(started)}`);

  const staging = join(outDir, `.build-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const ldflags = ["-s", "-w", ...group.flatMap((s) => s.versionVars(info).map((v) => `-X ${v}`))];
  // Official release builds use the same tags; selinux is a no-op without cgo but keeps the
  // package set identical, notest drops test-only code paths.
  const args = [
    "build",
    "-p",
    "2",
    "-trimpath",
    "-tags",
    "selinux,notest",
    "-ldflags",
    [...new Set(ldflags)].join(" "),
    "-o",
    `${staging}/`,
    ...group.map((s) => s.pkg),
  ];
  const compileStarted = Date.now();
  log(`${label}: compiling ${group.map((s) => s.name).join(", ")}`);
  try {
    await goStreaming(args, wrapper);
    for (const spec of group) {
      // `go build -o dir/` names a binary after its package path's last element, skipping a
      // major-version suffix, so etcd's server/v3 comes out as "server".
      const builtName = spec.pkg
        .split("/")
        .filter((p) => !/^v\d+$/.test(p))
        .pop();
      if (builtName === undefined) throw new Error(`cannot name output of ${spec.pkg}`);
      await rename(join(staging, builtName), join(outDir, spec.name));
      await writeFile(join(outDir, `${spec.name}.stamp`), stampOf(spec));
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  log(`${label}: compiled in ${seconds(compileStarted)}, total ${seconds(started)}`);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(0)}s`;
}
