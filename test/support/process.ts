// Runs a child process to completion and hands back what it printed. The CLI tests, the chart
// tests' helm and kubectl, the docs' bash examples and the e2e suite's commands all go through
// this one place, so that output is collected, decoded and cut short by a timeout the same way.

import { spawn } from "node:child_process";

export interface ProcessOptions {
  readonly cwd?: string;
  /** Added to (or replacing) the variables of this process's environment. */
  readonly env?: Record<string, string>;
  /** Written to the child's standard input, which is then closed; without it stdin is empty. */
  readonly input?: string;
  /** The child is killed with SIGKILL after this long; none when not given. */
  readonly timeoutMs?: number;
}

export interface ProcessResult {
  /** The exit code; null when a signal ended the child or it timed out. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the timeout ran out: the result then holds the output up to that moment. */
  readonly timedOut: boolean;
}

/**
 * A non-zero exit, a signal and a timeout are returned, not thrown; only a failure to start the
 * child (no such file) rejects. On a timeout the result is returned at once rather than when the
 * child's streams close: a background process it left behind may hold them open for good.
 */
export function runProcess(
  file: string,
  args: readonly string[],
  options: ProcessOptions = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    // Decoded as a stream, so a character split across two chunks stays whole.
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill("SIGKILL");
            resolve({ code: null, signal: null, stdout, stderr, timedOut: true });
          }, options.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut: false });
    });
    // A child that exits without reading its input breaks the pipe; its exit code tells.
    child.stdin.on("error", () => {});
    child.stdin.end(options.input ?? "");
  });
}
