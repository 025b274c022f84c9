import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import { type RunningService, startService } from "../../src/cli/serve.ts";
import type { ServerSettings } from "../../src/config/settings.ts";
import { DEFAULT_HA_SETTINGS } from "../../src/ha/ha-settings.ts";
import { createLogger } from "../../src/observability/logger.ts";

export interface TestService extends RunningService {
  readonly file: string;
  /** Rewrites the manifest file. */
  write(yaml: string): Promise<void>;
  close(): Promise<void>;
}

export const defaultSettings: ServerSettings = {
  file: null,
  source: "file",
  kubeconfig: null,
  httpHost: "127.0.0.1",
  httpPort: 0,
  internalAddr: { host: "127.0.0.1", port: 0 },
  defaultStrategy: "round-robin",
  enabledStrategies: [...STRATEGY_NAMES],
  healthFilter: true,
  virtualNodes: null,
  latencyMap: {},
  logLevel: "silent",
  trustProxy: false,
  dnsAddr: null,
  xdsAddr: null,
  dnsDomain: "lb.konsul.local",
  dnsTtl: 5,
  dnsMaxAnswers: 8,
  maxConnections: 100_000,
  maxConnectionsPerService: 10_000,
  maxBlockingWaiters: 10_000,
  tableBuildWorkers: 1,
  statusPage: false,
  ha: DEFAULT_HA_SETTINGS,
};

/** The real server on a loopback port, serving a manifest file in a temporary folder. */
export async function startTestService(
  yaml: string,
  settings: Partial<ServerSettings> = {},
): Promise<TestService> {
  const folder = await mkdtemp(join(tmpdir(), "konsul-lb-test-"));
  const file = join(folder, "services.yaml");
  await writeFile(file, yaml);
  const full = { ...defaultSettings, ...settings, file };
  const running = await startService(full, createLogger(full.logLevel));
  return {
    ...running,
    file,
    write: (text) => writeFile(file, text),
    async close() {
      await running.stop();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` passes or the deadline is reached; the last failure is rethrown. */
export async function eventually(
  check: () => Promise<void> | void,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
