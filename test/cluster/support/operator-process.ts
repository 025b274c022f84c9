/**
 * The operator as a process of its own, as the scale benchmark and the scale guard run it: so
 * that its RSS, heap and CPU are its own, read from /proc and from its metrics.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freePorts } from "../harness/processes.ts";

const GC_ON_SIGNAL = fileURLToPath(new URL("./gc-on-signal.ts", import.meta.url));

export interface OperatorBuild {
  readonly label: string;
  /** Path of the CLI entry point (src/cli/main.ts of a checkout, or a compiled dist/cli/main.js). */
  readonly entry: string;
  /** Node options to run it with, e.g. --max-semi-space-size=4. */
  readonly nodeOptions: readonly string[];
}

export interface Memory {
  readonly rssBytes: number;
  readonly heapBytes: number;
}

/**
 * The builds given as `--operator=LABEL=PATH [NODE OPTION...]` (PATH a src/cli/main.ts), so that
 * a benchmark measures them side by side with its own.
 */
export function operatorBuildsFrom(args: readonly string[]): OperatorBuild[] {
  return args
    .filter((arg) => arg.startsWith("--operator="))
    .map((arg) => {
      const value = arg.slice("--operator=".length);
      const split = value.indexOf("=");
      const [entry, ...nodeOptions] = value
        .slice(split + 1)
        .split(" ")
        .filter((word) => word !== "");
      if (split <= 0 || entry === undefined) {
        throw new Error(
          `--operator ${JSON.stringify(value)} is not allowed; expected LABEL=PATH [NODE OPTION...], PATH a src/cli/main.ts`,
        );
      }
      return { label: value.slice(0, split), entry: resolve(entry), nodeOptions };
    });
}

/** Polls `check` until it gives a value; errors count as "not yet". */
export async function until<T>(
  what: string,
  timeoutMs: number,
  intervalMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s: ${what}`);
    await sleep(intervalMs);
  }
}

/** The sum of a metric's samples whose labels contain `labels` (Prometheus text format). */
export function metricValue(text: string, name: string, labels = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    if (labels !== "" && !rest.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** One operator process, started with a way to force a collection (see scale-gc-on-signal.ts). */
export class OperatorProcess {
  readonly child: ChildProcess;
  readonly url: string;
  private output = "";

  private constructor(child: ChildProcess, url: string) {
    this.child = child;
    this.url = url;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /** The operator watching the cluster of `kubeconfig`, one replica without leader election. */
  static start(build: OperatorBuild, kubeconfig: string): Promise<OperatorProcess> {
    return OperatorProcess.serve(build, [
      "--source",
      "kubernetes",
      "--kubeconfig",
      kubeconfig,
      "--leader-elect",
      "false",
    ]);
  }

  /** The operator serving a manifest file. */
  static serveFile(build: OperatorBuild, file: string): Promise<OperatorProcess> {
    return OperatorProcess.serve(build, ["--source", "file", "--file", file]);
  }

  private static async serve(
    build: OperatorBuild,
    sourceArgs: readonly string[],
  ): Promise<OperatorProcess> {
    const [port] = (await freePorts(1)) as [number];
    const child = spawn(
      process.execPath,
      [
        ...build.nodeOptions,
        "--expose-gc",
        "--import",
        GC_ON_SIGNAL,
        build.entry,
        "serve",
        ...sourceArgs,
        "--http-addr",
        `127.0.0.1:${port}`,
        "--log-level",
        "warn",
      ],
      { cwd: resolve(dirname(build.entry), "../.."), stdio: ["ignore", "pipe", "pipe"] },
    );
    return new OperatorProcess(child, `http://127.0.0.1:${port}`);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // An operator that exited (a bad flag, a wrong entry) fails at once, not at the deadline.
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`operator exited before it was ready:\n${this.output}`);
      const status = await fetch(`${this.url}/readyz`).then(
        async (res) => {
          await res.body?.cancel();
          return res.status;
        },
        () => 0,
      );
      if (status === 200) return;
      if (Date.now() > deadline)
        throw new Error(`${this.url}/readyz not 200 after ${timeoutMs / 1000}s:\n${this.output}`);
      await sleep(25);
    }
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.url}/metrics`)).text();
  }

  /** Operator CPU (user + system) so far, in milliseconds. */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  }

  /** RSS, and heap used right after a full collection. */
  async memory(): Promise<Memory> {
    this.child.kill("SIGUSR2");
    await sleep(1000);
    const heapBytes = metricValue(await this.metrics(), "nodejs_heap_size_used_bytes");
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
    return { rssBytes: rssKiB * 1024, heapBytes };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((done) => this.child.once("exit", done));
    this.child.kill("SIGTERM");
    await Promise.race([exited, sleep(10_000)]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}
