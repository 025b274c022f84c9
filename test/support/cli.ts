import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runProcess } from "./process.ts";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const cliPath = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion with the same Node as the tests. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runProcess(process.execPath, [cliPath, ...args], { cwd: repoRoot, env });
}

export interface ServingCli {
  readonly child: ChildProcess;
  readonly url: string;
  /** The internal API's URL (with leader election), else null. */
  readonly internalUrl: string | null;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * Starts `konsul-lb serve` on a free loopback port and waits for its "serving" log line, for
 * `startTimeoutMs` at most: loading the operator's modules alone takes seconds when other
 * processes share the machine's two cores.
 */
export function serveCli(
  args: readonly string[],
  env: Record<string, string> = {},
  startTimeoutMs = 60_000,
): Promise<ServingCli> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [cliPath, "serve", "--http-addr", "127.0.0.1:0", ...args],
      {
        cwd: repoRoot,
        env: { ...process.env, ...env },
      },
    );
    let output = "";
    const exited = new Promise<number | null>((done) => child.on("close", done));
    // Loading the operator's modules alone takes seconds when other processes share the two
    // cores; a process that never serves is stopped rather than left behind.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no "serving" line within ${startTimeoutMs} ms:\n${output}`));
    }, startTimeoutMs);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = /serving on (http:\/\/[^;\s]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        // Logged before the "serving" line, when there is one.
        const internal = /internal API on (http:\/\/[^;\s"]+)/.exec(output);
        resolve({
          child,
          url: match[1] as string,
          internalUrl: internal?.[1] ?? null,
          output: () => output,
          exited,
        });
      }
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    void exited.then((code) => reject(new Error(`exited with ${code} before serving:\n${output}`)));
  });
}
