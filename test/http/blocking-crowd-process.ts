// Starts blocking-clients.ts (a crowd of blocking-query clients in a process of its own) and
// collects what it prints: the crowd test and the blocking benchmark both drive it.

import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const CLIENTS = fileURLToPath(new URL("./blocking-clients.ts", import.meta.url));

/** The JSON line the clients print once every request is answered (wall-clock times). */
export interface CrowdSummary {
  readonly count: number;
  readonly statuses: readonly number[];
  readonly indexes: readonly number[];
  readonly first: number;
  readonly median: number;
  readonly last: number;
}

export interface Crowd {
  readonly child: ChildProcess;
  /** What it printed so far, stdout and stderr together. */
  output(): string;
  /** Resolves with its exit code. */
  readonly exited: Promise<number | null>;
  /** The summary line; only after it exited 0. */
  summary(): CrowdSummary;
}

/** `count` clients each waiting on `url` (a blocking query). */
export function startCrowd(url: string, count: number): Crowd {
  const child = spawn(process.execPath, [CLIENTS, url, String(count)]);
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  return {
    child,
    output: () => output,
    exited: new Promise((resolve) => child.on("close", resolve)),
    summary: () => JSON.parse(output.trim().split("\n").pop() as string) as CrowdSummary,
  };
}
