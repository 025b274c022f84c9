// Runs a built image's root filesystem the way `docker run --read-only` (or a pod with
// readOnlyRootFilesystem and an emptyDir on /tmp) does, with the image's own entrypoint, user,
// working directory and environment: a new mount and PID namespace, the rootfs bound
// read-only, a tmpfs on /tmp, a fresh /proc. The entrypoint is PID 1 in its namespace, so
// signal handling is what it will be in a pod. The network is the host's: loopback only.
// (podman run would do the same, where its OCI runtime can set up cgroups and rlimits; this
// needs neither.)

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ImageConfig } from "./buildah.ts";

// Inside the new namespaces, still on the host's filesystem: build the container's view, then
// enter it as the image's user. `unshare --root` chroots and execs the entrypoint by its path
// in the image.
const ENTER = `set -eu
rootfs=$1 root=$2 uid=$3 gid=$4 wd=$5
shift 5
mount --bind "$rootfs" "$root"
mount -o remount,bind,ro "$root"
mount -t tmpfs -o mode=1777,size=64m tmpfs "$root/tmp"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
exec unshare --root="$root" --wd="$wd" --setuid "$uid" --setgid "$gid" -- "$@"
`;

export interface RunningContainer {
  /** Host PID of the container's PID 1 (the entrypoint). */
  readonly pid1: number;
  output(): string;
  /** Resolves with the exit code of PID 1 (as `docker wait` reports it). */
  readonly exited: Promise<number | null>;
  /** Removes what the run left on the host; kills PID 1 (and so the namespace) if still up. */
  dispose(): Promise<void>;
}

/** Numeric `uid:gid` of the image's USER; a name cannot be checked against runAsNonRoot. */
export function numericUser(user: string | undefined): { uid: number; gid: number } {
  const match = /^(\d+)(?::(\d+))?$/.exec(user ?? "");
  if (!match) throw new Error(`the image's USER is ${JSON.stringify(user)}, not a numeric uid`);
  const uid = Number(match[1]);
  return { uid, gid: match[2] === undefined ? uid : Number(match[2]) };
}

/** Host PIDs of a process's children. */
export async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  return text
    .trim()
    .split(/\s+/)
    .filter((field) => field !== "")
    .map(Number);
}

/**
 * Starts the image with `args` in place of its CMD (what a pod's `args` does) and resolves once
 * `ready` matches its output.
 */
export async function runContainer(
  rootfs: string,
  config: ImageConfig,
  args: readonly string[],
  ready: RegExp,
  timeoutMs = 30_000,
): Promise<RunningContainer> {
  const { uid, gid } = numericUser(config.User);
  const entrypoint = config.Entrypoint ?? [];
  const env: Record<string, string> = {};
  for (const entry of config.Env ?? []) {
    const at = entry.indexOf("=");
    env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  const root = await mkdtemp(join(tmpdir(), "konsul-lb-container-"));
  const child: ChildProcess = spawn(
    "unshare",
    [
      "--mount",
      "--pid",
      "--fork",
      "--propagation",
      "private",
      "--",
      "/bin/sh",
      "-c",
      ENTER,
      "sh",
      rootfs,
      root,
      String(uid),
      String(gid),
      config.WorkingDir || "/",
      ...entrypoint,
      ...args,
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  child.on("error", (error) => {
    output += `\n${error.message}\n`;
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  let pid1 = 0;
  const dispose = async () => {
    if (pid1 !== 0 && child.exitCode === null) {
      // The namespace's init gone, the kernel kills everything else in it.
      process.kill(pid1, "SIGKILL");
      await exited;
    }
    await rm(root, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the container did not log ${ready} in time:\n${output}`)),
        timeoutMs,
      );
      const check = () => {
        if (ready.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", check);
      child.stderr?.on("data", check);
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the container exited with ${code} before it was ready:\n${output}`));
      });
    });
    // unshare --fork has one child: the namespace's PID 1, by now exec'd into the entrypoint.
    const [first] = await childPids(child.pid ?? 0);
    if (first === undefined) throw new Error(`cannot find the container's PID 1:\n${output}`);
    pid1 = first;
  } catch (error) {
    for (const pid of await childPids(child.pid ?? 0)) process.kill(pid, "SIGKILL");
    child.kill("SIGKILL");
    await exited;
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return { pid1, output: () => output, exited, dispose };
}
