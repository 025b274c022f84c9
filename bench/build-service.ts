/**
 * `konsul-lb serve`'s composition root (`startService`) from the source tree at `root`, serving
 * a manifest file on loopback ports: how a benchmark's server process runs an earlier build in
 * the same run as this checkout. Exits the process when the settings are refused.
 */
import { pathToFileURL } from "node:url";
import type { RunningService } from "../src/cli/serve.ts";

export async function startBuildService(root: string, manifest: string): Promise<RunningService> {
  const from = (path: string) => pathToFileURL(`${root}/${path}`).href;
  const { loadSettings } = (await import(
    from("src/config/settings.ts")
  )) as typeof import("../src/config/settings.ts");
  const { startService } = (await import(
    from("src/cli/serve.ts")
  )) as typeof import("../src/cli/serve.ts");
  const { createLogger } = (await import(
    from("src/observability/logger.ts")
  )) as typeof import("../src/observability/logger.ts");
  const loaded = loadSettings(
    ["--file", manifest, "--http-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0"],
    { KONSUL_LB_LOG_LEVEL: "warn" },
  );
  if (loaded.kind !== "ok") {
    console.error(`settings: ${loaded.kind === "error" ? loaded.message : "help"}`);
    process.exit(2);
  }
  return startService(loaded.settings, createLogger(loaded.settings.logLevel));
}
