// Builds the repository's Dockerfile with buildah, unchanged, without a Docker engine or a
// registry. Its base image (node:<version>-bookworm-slim) cannot be pulled, so a stand-in with
// the same name is made locally once: a Debian rootfs from debootstrap plus the Node binary the
// tests run on (the version the Dockerfile pins) and the npm running the tests. Everything lives
// in a buildah store of its own under the cache directory, so the stand-in never shadows the
// real image in the machine's container storage.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { acquireLock } from "../cluster/harness/lock.ts";

const execFileAsync = promisify(execFile);

/** Bump when the stand-in's recipe changes, so cached stand-ins are rebuilt. */
const STAND_IN_RECIPE = "1";
const STAND_IN_LABEL = "io.konsul-lb.test.stand-in";
const DEBIAN_MIRROR = process.env.KONSUL_LB_DEBIAN_MIRROR || "http://deb.debian.org/debian";
/** Where the stand-in puts the host's extra CA bundle (a TLS-inspecting proxy's). */
const STAND_IN_CA = "/usr/local/share/konsul-lb-test/extra-ca.crt";

export function imageCacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "konsul-lb", "image");
}

// The run root holds locks and mount state: per boot, so under the temporary directory.
const storeArgs = [
  "--root",
  join(imageCacheRoot(), "storage"),
  "--runroot",
  join(tmpdir(), "konsul-lb-image-runroot"),
];

/** Checks the tools up front, so a missing one is reported as such rather than as ENOENT. */
export async function requireTools(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "the image test builds with buildah and runs the image in mount and PID namespaces, " +
        "which needs root (the CI runs it as root)",
    );
  }
  for (const [tool, args] of [
    ["buildah", ["--version"]],
    ["debootstrap", ["--version"]],
    ["unshare", ["--version"]],
  ] as const) {
    try {
      await execFileAsync(tool, args);
    } catch (error) {
      throw new Error(
        `${tool} is not installed or does not run (${(error as Error).message.split("\n")[0]}); ` +
          "install it (Debian: apt-get install buildah debootstrap) to run the image test",
      );
    }
  }
}

/** Runs buildah in this test's store and returns its stdout. */
export async function buildah(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync("buildah", [...storeArgs, ...args], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`buildah ${args.join(" ")} failed: ${stderr || (error as Error).message}`);
  }
}

/**
 * Runs a long command and keeps its output, which is only shown (the tail) when it fails:
 * a build's log is long, and a passing build's log is noise.
 */
export function runLogged(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, args, {
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr?.on("data", (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve(output);
        return;
      }
      const tail = output.split("\n").slice(-60).join("\n");
      const how = signal === null ? `exit code ${code}` : `signal ${signal} (timed out?)`;
      reject(new Error(`${command} ${args.join(" ")} ended with ${how}:\n${tail}`));
    });
  });
}

/** The npm package running the tests: its directory holds package.json and bin/npm-cli.js. */
function npmPackageDir(): string {
  const candidates = [
    process.env.npm_execpath ? dirname(dirname(process.env.npm_execpath)) : "",
    "/usr/lib/node_modules/npm",
    "/usr/local/lib/node_modules/npm",
  ];
  for (const dir of candidates) {
    if (dir === "" || !existsSync(join(dir, "package.json"))) continue;
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
    if (pkg.name === "npm" && existsSync(join(dir, "bin", "npm-cli.js"))) return dir;
  }
  throw new Error(`cannot find the npm package to put into the stand-in (tried ${candidates})`);
}

function npmVersion(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string })
    .version;
}

function extraCa(): string | null {
  const path = process.env.NODE_EXTRA_CA_CERTS;
  return path && existsSync(path) ? path : null;
}

/** What the stand-in is made of: a different recipe, Node, npm or CA makes another one. */
function standInFingerprint(nodeVersion: string, npmDir: string): string {
  const hash = createHash("sha256");
  hash.update(`${STAND_IN_RECIPE}\n${nodeVersion}\n${npmVersion(npmDir)}\n`);
  const ca = extraCa();
  if (ca !== null) hash.update(readFileSync(ca));
  return hash.digest("hex").slice(0, 16);
}

async function standInLabel(image: string): Promise<string | null> {
  try {
    const inspected = JSON.parse(await buildah(["inspect", "--type", "image", image])) as {
      OCIv1?: { config?: { Labels?: Record<string, string> } };
    };
    return inspected.OCIv1?.config?.Labels?.[STAND_IN_LABEL] ?? null;
  } catch {
    return null;
  }
}

/**
 * Makes `node:<version>-<codename>-slim` in the test's store unless an up-to-date one is there.
 * Its Node is the one running this process, which must be the pinned version.
 */
export async function ensureStandInBase(
  base: { readonly version: string; readonly codename: string; readonly reference: string },
  log: (line: string) => void,
): Promise<void> {
  if (process.version !== `v${base.version}`) {
    throw new Error(
      `the tests run on Node ${process.version}, but the Dockerfile's base is Node ` +
        `${base.version}; the stand-in base is made from the test's Node, so they must agree ` +
        "(run the tests through npm, which uses the project's `node` package)",
    );
  }
  const name = `docker.io/library/${base.reference}`;
  const npmDir = npmPackageDir();
  const fingerprint = standInFingerprint(base.version, npmDir);
  await mkdir(imageCacheRoot(), { recursive: true });
  const release = await acquireLock(join(imageCacheRoot(), "stand-in.lock"), log);
  try {
    if ((await standInLabel(name)) === fingerprint) return;
    log(`making the stand-in ${name} (debootstrap ${base.codename} from ${DEBIAN_MIRROR})`);
    const work = await mkdtemp(join(tmpdir(), "konsul-lb-stand-in-"));
    try {
      const rootfs = join(work, "rootfs");
      await runLogged("debootstrap", ["--variant=minbase", base.codename, rootfs, DEBIAN_MIRROR], {
        timeoutMs: 10 * 60_000,
      });
      // As in the slim image: no package lists, downloaded packages or documentation.
      await runLogged(
        "sh",
        [
          "-c",
          'cd "$1" && rm -rf var/lib/apt/lists/* var/cache/apt/* usr/share/doc/* usr/share/man/* usr/share/info/*',
          "sh",
          rootfs,
        ],
        { timeoutMs: 60_000 },
      );
      const ctr = (await buildah(["from", "scratch"])).trim();
      try {
        const mnt = (await buildah(["mount", ctr])).trim();
        await runLogged("cp", ["-a", `${rootfs}/.`, `${mnt}/`], { timeoutMs: 5 * 60_000 });
        // Where the official image has them: /usr/local/bin/node, npm under /usr/local/lib.
        await copyFile(process.execPath, join(mnt, "usr/local/bin/node"));
        await mkdir(join(mnt, "usr/local/lib/node_modules"), { recursive: true });
        await runLogged("cp", ["-a", npmDir, join(mnt, "usr/local/lib/node_modules/npm")], {
          timeoutMs: 60_000,
        });
        await runLogged(
          "sh",
          [
            "-c",
            'cd "$1/usr/local/bin" && chmod 0755 node && ' +
              "ln -s ../lib/node_modules/npm/bin/npm-cli.js npm && " +
              "ln -s ../lib/node_modules/npm/bin/npx-cli.js npx",
            "sh",
            mnt,
          ],
          { timeoutMs: 60_000 },
        );
        const config = [
          "--env",
          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "--env",
          `NODE_VERSION=${base.version}`,
          "--cmd",
          "node",
          "--label",
          `${STAND_IN_LABEL}=${fingerprint}`,
        ];
        // Behind a TLS-inspecting proxy npm needs its CA; the real base does not carry one.
        const ca = extraCa();
        if (ca !== null) {
          await mkdir(join(mnt, dirname(STAND_IN_CA)), { recursive: true });
          await copyFile(ca, join(mnt, STAND_IN_CA));
          config.push("--env", `NODE_EXTRA_CA_CERTS=${STAND_IN_CA}`);
        }
        await buildah(["umount", ctr]);
        await buildah(["config", ...config, ctr]);
        await buildah(["commit", "--quiet", ctr, name]);
      } finally {
        await buildah(["rm", ctr]).catch(() => undefined);
      }
      // The previous stand-in, now untagged.
      await buildah(["rmi", "--prune"]).catch(() => undefined);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  } finally {
    await release();
  }
}

export interface ImageConfig {
  readonly User?: string;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly WorkingDir?: string;
  readonly ExposedPorts?: Readonly<Record<string, unknown>>;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly Healthcheck?: unknown;
}

export interface BuiltImage {
  readonly name: string;
  readonly config: ImageConfig;
  /** The image's files, mounted (through a working container) until `remove`. */
  readonly rootfs: string;
  remove(): Promise<void>;
}

/** `buildah bud` of the repository's Dockerfile, as `docker build .` would build it. */
export async function buildImage(contextDir: string, timeoutMs: number): Promise<BuiltImage> {
  const name = `localhost/konsul-lb-image-test:${process.pid}`;
  await runLogged(
    "buildah",
    [
      ...storeArgs,
      "bud",
      "--isolation",
      "chroot",
      "--pull=never",
      "--file",
      "Dockerfile",
      "--tag",
      name,
      ".",
    ],
    { cwd: contextDir, timeoutMs },
  );
  const inspected = JSON.parse(await buildah(["inspect", "--type", "image", name])) as {
    OCIv1: { config: ImageConfig };
  };
  const ctr = (
    await buildah(["from", "--pull=never", "--name", `konsul-lb-${process.pid}`, name])
  ).trim();
  const rootfs = (await buildah(["mount", ctr])).trim();
  return {
    name,
    config: inspected.OCIv1.config,
    rootfs,
    async remove() {
      await buildah(["umount", ctr]).catch(() => undefined);
      await buildah(["rm", ctr]).catch(() => undefined);
      await buildah(["rmi", name]).catch(() => undefined);
    },
  };
}
