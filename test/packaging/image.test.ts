// The container image: the Dockerfile as written, built with buildah and run from its own
// root filesystem, read-only, as the chart runs it. A broken image — a missing file in dist,
// a production dependency installed as a dev one, a write outside /tmp, a SIGTERM that does
// not reach Node — fails here rather than in a cluster.

import { existsSync, readFileSync } from "node:fs";
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { repoRoot } from "../support/cli.ts";
import { type BuiltImage, buildImage, ensureStandInBase, requireTools } from "./buildah.ts";
import { childPids, numericUser, type RunningContainer, runContainer } from "./container.ts";

interface PackageJson {
  readonly version: string;
  readonly license: string;
  readonly repository: { readonly url: string };
  readonly dependencies: Record<string, string>;
  readonly devDependencies: Record<string, string>;
}
interface LockEntry {
  readonly dev?: boolean;
  readonly optional?: boolean;
  readonly devOptional?: boolean;
  readonly peer?: boolean;
  readonly link?: boolean;
}

const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as PackageJson;
const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
  packages: Record<string, LockEntry>;
};
const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");

/** The chart's user: the image's USER must be the uid and gid the chart runs it as. */
const CHART_UID = 10001;
/**
 * What the runtime's dependencies may weigh (bytes of files). Measured at about 45 MiB with
 * type declarations and source maps removed (83 MiB with them); the toolchain or the
 * declarations coming back would go over.
 */
const NODE_MODULES_BUDGET = 64 * 1024 * 1024;
const DIST_BUDGET = 4 * 1024 * 1024;

interface Instruction {
  readonly keyword: string;
  readonly value: string;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    pending += `${line.replace(/\\\s*$/, "")} `;
    if (continued) continue;
    const match = /^\s*(\w+)\s+(.*?)\s*$/.exec(pending);
    pending = "";
    if (match) out.push({ keyword: (match[1] as string).toUpperCase(), value: match[2] as string });
  }
  return out;
}

/** Each FROM's image with ARG defaults from before the first FROM substituted. */
function baseImages(list: readonly Instruction[]): { image: string; stage: string | null }[] {
  const globals = new Map<string, string>();
  const stages = new Set<string>();
  const out: { image: string; stage: string | null }[] = [];
  for (const { keyword, value } of list) {
    if (keyword === "ARG" && stages.size === 0 && out.length === 0) {
      const [name, ...rest] = value.split("=");
      globals.set(name as string, rest.join("=").replace(/^"(.*)"$/, "$1"));
    }
    if (keyword !== "FROM") continue;
    const [raw, as, stage] = value.split(/\s+/).filter((word) => !word.startsWith("--"));
    const image = (raw as string).replace(/\$\{?(\w+)\}?/g, (_, name) => globals.get(name) ?? "");
    out.push({ image: stages.has(image) ? `stage:${image}` : image, stage: stage ?? null });
    if (as?.toUpperCase() === "AS" && stage) stages.add(stage);
  }
  return out;
}

const parsed = instructions(dockerfile);
const froms = baseImages(parsed);
const nodeVersion = pkg.devDependencies.node as string;
const BASE = /^node:(\d+\.\d+\.\d+)-(\w+)-slim(@sha256:[0-9a-f]{64})?$/;

describe("the Dockerfile", () => {
  it("builds on the slim Node image of exactly the Node version the project runs on", () => {
    expect(nodeVersion, "package.json devDependencies.node must be an exact version").toMatch(
      /^\d+\.\d+\.\d+$/,
    );
    const external = froms.filter((from) => !from.image.startsWith("stage:"));
    expect(external.length).toBeGreaterThan(0);
    for (const { image } of external) {
      const match = BASE.exec(image);
      expect(match, `FROM ${image}: expected node:<x.y.z>-<debian>-slim`).not.toBeNull();
      expect(match?.[1], `FROM ${image}`).toBe(nodeVersion);
    }
  });

  it("ends as the chart's numeric non-root user, with no HEALTHCHECK", () => {
    const users = parsed.filter((i) => i.keyword === "USER").map((i) => i.value);
    const { uid, gid } = numericUser(users.at(-1));
    expect({ uid, gid }).toEqual({ uid: CHART_UID, gid: CHART_UID });
    expect(parsed.map((i) => i.keyword)).not.toContain("HEALTHCHECK");
    const values = join(repoRoot, "charts", "konsul-lb", "values.yaml");
    if (existsSync(values)) {
      const chart = parseYaml(readFileSync(values, "utf8")) as {
        podSecurityContext?: { runAsUser?: number; runAsGroup?: number };
      };
      expect(chart.podSecurityContext?.runAsUser, "the chart's runAsUser").toBe(uid);
      expect(chart.podSecurityContext?.runAsGroup, "the chart's runAsGroup").toBe(gid);
    }
  });

  it("has a .dockerignore that keeps installed and built output and git history out", () => {
    const patterns = readFileSync(join(repoRoot, ".dockerignore"), "utf8")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    for (const path of ["node_modules", "dist", ".git"]) expect(patterns).toContain(path);
  });
});

describe("the image", () => {
  let image: BuiltImage | undefined;
  let container: RunningContainer | undefined;

  beforeAll(async () => {
    await requireTools();
    const base = froms.map((from) => BASE.exec(from.image)).find((match) => match !== null);
    if (!base) throw new Error("the Dockerfile has no node:<x.y.z>-<debian>-slim base");
    await ensureStandInBase(
      { version: base[1] as string, codename: base[2] as string, reference: base[0] },
      (line) => console.info(`[image test] ${line}`),
    );
    image = await buildImage(repoRoot, 10 * 60_000);
  }, 20 * 60_000);

  afterAll(async () => {
    await container?.dispose();
    await image?.remove();
  });

  const built = (): BuiltImage => {
    if (!image) throw new Error("the image was not built");
    return image;
  };

  it("runs the konsul-lb CLI under tini, as uid 10001, with the ports and labels", () => {
    const { config } = built();
    expect(config.Entrypoint).toEqual(["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]);
    expect(config.Cmd).toEqual(["serve"]);
    expect(config.User).toBe(`${CHART_UID}:${CHART_UID}`);
    expect(config.WorkingDir).toBe("/app");
    expect(Object.keys(config.ExposedPorts ?? {}).sort()).toEqual([
      "5353/tcp",
      "5353/udp",
      "8080/tcp",
    ]);
    expect(config.Healthcheck).toBeUndefined();
    expect(config.Env).toContain("NODE_ENV=production");
    expect(config.Labels).toMatchObject({
      "org.opencontainers.image.version": pkg.version,
      "org.opencontainers.image.licenses": pkg.license,
      "org.opencontainers.image.title": "konsul-lb",
      // The repository package.json names, as a browsable URL.
      "org.opencontainers.image.source": pkg.repository.url
        .replace(/^git\+/, "")
        .replace(/\.git$/, ""),
    });
  });

  it("holds the production dependencies and none of the development ones", async () => {
    const app = join(built().rootfs, "app");
    const missing: string[] = [];
    const unwanted: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === "" || entry.link) continue;
      const present = existsSync(join(app, path, "package.json"));
      // Optional packages are other platforms' binaries; devOptional ones may go either way.
      if (entry.dev && !present) continue;
      if (entry.dev) unwanted.push(path);
      else if (!entry.optional && !entry.devOptional && !entry.peer && !present) missing.push(path);
    }
    expect(unwanted, "devDependencies in the runtime image").toEqual([]);
    expect(missing, "production dependencies missing from the runtime image").toEqual([]);
    for (const name of ["vitest", "typescript", "@biomejs/biome", "node"]) {
      expect(existsSync(join(app, "node_modules", name)), name).toBe(false);
    }
    expect(existsSync(join(app, "dist", "cli", "main.js"))).toBe(true);
    expect(existsSync(join(app, "src")), "sources are compiled, not shipped").toBe(false);
  });

  it("keeps its files root-owned and within the size budget", async () => {
    const app = join(built().rootfs, "app");
    const writable: string[] = [];
    const sizes = new Map<string, number>();
    for (const top of await readdir(app)) {
      let bytes = 0;
      const walk = async (path: string): Promise<void> => {
        const stat = await lstat(path);
        // A symbolic link's own mode is always 777 and means nothing.
        if (stat.uid === CHART_UID || (!stat.isSymbolicLink() && (stat.mode & 0o002) !== 0)) {
          writable.push(path);
        }
        if (stat.isDirectory()) {
          for (const name of await readdir(path)) await walk(join(path, name));
        } else bytes += stat.size;
      };
      await walk(join(app, top));
      sizes.set(top, bytes);
    }
    expect(writable.slice(0, 10), "files the process could change").toEqual([]);
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    const nodeModules = sizes.get("node_modules") ?? 0;
    const dist = sizes.get("dist") ?? 0;
    expect(nodeModules, `node_modules is ${mib(nodeModules)}`).toBeLessThan(NODE_MODULES_BUDGET);
    expect(dist, `dist is ${mib(dist)}`).toBeLessThan(DIST_BUDGET);
  });

  it("serves the demo from a read-only root and exits 0 on SIGTERM", async () => {
    const { rootfs, config } = built();
    const args = ["serve", "--file", "/app/examples/demo.yaml", "--http-addr", "127.0.0.1:0"];
    const ready = /serving on (http:\/\/[^;\s]+)/;
    container = await runContainer(rootfs, config, args, ready);
    const url = ready.exec(container.output())?.[1] as string;

    // tini is PID 1 of the container and Node its child, as the image's user.
    const status = async (pid: number) => readFile(`/proc/${pid}/status`, "utf8");
    const cmdline = async (pid: number) =>
      (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").filter((arg) => arg !== "");
    expect(await cmdline(container.pid1)).toEqual([...(config.Entrypoint ?? []), ...args]);
    expect(await status(container.pid1)).toMatch(/^NSpid:\s+\d+\s+1$/m);
    const [node] = await childPids(container.pid1);
    expect(node).toBeDefined();
    expect(await cmdline(node as number)).toEqual([...(config.Entrypoint ?? []).slice(2), ...args]);
    expect(await status(node as number)).toMatch(/^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
    expect(await status(node as number)).toMatch(/^Gid:\s+10001\s+10001\s+10001\s+10001$/m);
    // Its root is read-only and /tmp the only writable place: nothing is written elsewhere.
    const mounts = (await readFile(`/proc/${node}/mountinfo`, "utf8"))
      .split("\n")
      .map((line) => line.split(" "));
    expect(mounts.find((fields) => fields[4] === "/")?.[5]).toMatch(/^ro\b/);
    expect(mounts.find((fields) => fields[4] === "/tmp")?.[5]).toMatch(/^rw\b/);

    const readyz = await fetch(`${url}/readyz`);
    expect(readyz.status).toBe(200);
    const services = (await (await fetch(`${url}/v1/services`)).json()) as {
      services: { namespace: string; name: string }[];
    };
    expect(services.services.map((s) => `${s.namespace}/${s.name}`)).toContain("shop/checkout");
    const pick = await fetch(`${url}/v1/services/shop/checkout/pick?session-key=user-42`);
    expect(pick.status).toBe(200);
    expect(((await pick.json()) as { strategy: string }).strategy).toBe("ring-hash");
    expect(await (await fetch(`${url}/metrics`)).text()).toContain("konsul_lb_selections_total");

    // What `docker stop` and the kubelet do: SIGTERM to PID 1.
    process.kill(container.pid1, "SIGTERM");
    const code = await Promise.race([
      container.exited,
      new Promise((resolve) => setTimeout(() => resolve("still running after 15 s"), 15_000)),
    ]);
    expect(code, container.output()).toBe(0);
    const lines = container
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: string; msg: string });
    expect(lines.map((line) => line.msg)).toContain("konsul-lb stopped");
    // An error logged (a failed write on the read-only root, say) fails the run.
    expect(lines.filter((line) => line.level === "error" || line.level === "fatal")).toEqual([]);
  });
});
