// Child-process hygiene for the control plane: every component runs in its own process group
// with its pid in the run directory, output goes to a log file there, and a watchdog removes
// the lot when the owning Node process dies without cleaning up (SIGKILL, crash, OOM).

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { readFile, rm, unlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Run directories share this prefix so stale ones can be found and removed. */
export const RUN_DIR_PREFIX = "konsul-lb-cluster-";
const OWNER_FILE = "owner.pid";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    // A negative pid addresses the whole process group the component leads.
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function pidFiles(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(".pid") && n !== OWNER_FILE)
    .map((n) => Number.parseInt(readFileSync(join(dir, n), "utf8"), 10))
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

/**
 * Removes run directories whose owner is gone, killing whatever they still list. The watchdog
 * normally does this; this covers a watchdog that was itself killed.
 */
export function removeStaleRunDirs(log: (line: string) => void = () => {}): void {
  const base = tmpdir();
  for (const name of readdirSync(base)) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = join(base, name);
    let owner = Number.NaN;
    try {
      owner = Number.parseInt(readFileSync(join(dir, OWNER_FILE), "utf8"), 10);
    } catch {
      // A directory without an owner file is debris of a start that failed very early.
    }
    if (Number.isInteger(owner) && alive(owner)) continue;
    for (const pid of pidFiles(dir)) killGroup(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    log(`removed stale ${dir}`);
  }
}

/** Marks `dir` as owned by this process and starts a watchdog that cleans it up after us. */
export async function claimRunDir(dir: string): Promise<() => void> {
  await writeFile(join(dir, OWNER_FILE), `${process.pid}\n`);
  // A shell loop is enough and costs no Node start-up. It lives in its own session so Ctrl-C
  // in a terminal, which signals the foreground group, reaches the owner but not the watchdog.
  // Portable sh: dash's kill takes no "--" before a negative (process group) pid.
  const script = `
    owner="$1"; dir="$2"
    while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
    [ -d "$dir" ] || exit 0
    for f in "$dir"/*.pid; do
      [ "$f" = "$dir/${OWNER_FILE}" ] && continue
      pid="$(cat "$f" 2>/dev/null)" && [ -n "$pid" ] && kill -KILL "-$pid" 2>/dev/null
    done
    rm -rf "$dir"
  `;
  const watchdog = spawn("sh", ["-c", script, "watchdog", String(process.pid), dir], {
    detached: true,
    stdio: "ignore",
  });
  watchdog.unref();
  return () => {
    if (watchdog.pid !== undefined) killGroup(watchdog.pid, "SIGKILL");
  };
}

/** Loopback ports free at the time of asking. All are held open together so none repeats. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface ComponentSpec {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  /** The whole environment of the process; absent, it inherits this process's. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * One control-plane process. It can be stopped and started again with the same arguments,
 * which is how tests take kube-apiserver away and bring it back.
 */
export class Component {
  readonly spec: ComponentSpec;
  readonly logFile: string;
  readonly #pidFile: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stopping = false;
  /** Set when the process ended without being asked to; reported at teardown. */
  unexpectedExit: string | undefined;

  constructor(spec: ComponentSpec, runDir: string) {
    this.spec = spec;
    this.logFile = join(runDir, `${spec.name}.log`);
    this.#pidFile = join(runDir, `${spec.name}.pid`);
  }

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    if (this.#child) throw new Error(`${this.name} is already running`);
    // Appending keeps the log of an earlier incarnation, which matters when a restart fails.
    const fd = openSync(this.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(this.spec.binary, this.spec.args, {
        detached: true,
        stdio: ["ignore", fd, fd],
        ...(this.spec.env ? { env: this.spec.env } : {}),
      });
    } finally {
      closeSync(fd);
    }
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${this.name} did not start`);
    await writeFile(this.#pidFile, `${pid}\n`);
    this.#child = child;
    this.#stopping = false;
    this.unexpectedExit = undefined;
    this.#exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        if (!this.#stopping) this.unexpectedExit = signal ?? `exit code ${code}`;
        if (this.#child === child) this.#child = undefined;
        unlink(this.#pidFile).catch(() => {});
        resolve();
      });
    });
    // The owner must not stay alive just because a component does.
    child.unref();
  }

  /** Resolves when the process has exited; rejects early if it exits while `wait` runs. */
  async whileRunning<T>(wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const exited = this.#exited.then(() => {
      throw new Error(`${this.name} exited (${this.unexpectedExit ?? "stopped"})`);
    });
    try {
      return await Promise.race([wait(controller.signal), exited]);
    } finally {
      controller.abort();
      exited.catch(() => {});
    }
  }

  /**
   * Stops the process group: SIGTERM for an orderly shutdown, SIGKILL after `graceMs` or at
   * once with `signal: "SIGKILL"` (a crash, as far as clients can tell).
   */
  async stop(options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<void> {
    const child = this.#child;
    if (!child?.pid) return;
    this.#stopping = true;
    killGroup(child.pid, options.signal ?? "SIGTERM");
    const done = await Promise.race([
      this.#exited.then(() => true),
      sleep(options.graceMs ?? 10_000).then(() => false),
    ]);
    if (!done) {
      killGroup(child.pid, "SIGKILL");
      await this.#exited;
    }
    // Children of the component (none today) would share its group; take them down too.
    killGroup(child.pid, "SIGKILL");
  }

  /** Synchronous last resort for process exit handlers. */
  killNow(): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    this.#stopping = true;
    killGroup(pid, "SIGKILL");
  }

  async tail(lines = 80): Promise<string> {
    const text = await readFile(this.logFile, "utf8").catch(() => "");
    return text.split("\n").slice(-lines).join("\n");
  }
}

export async function removeRunDir(dir: string): Promise<void> {
  if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
}
