/**
 * The settings of `konsul-lb serve`, read as the table of settings (setting-table.ts) describes
 * them. Each comes from, in order of precedence: its command-line flag, its environment variable
 * (KONSUL_LB_<NAME>), the YAML config file named by --config, and its default. Only the source
 * that takes effect is checked, so a wrong value that another source overrides is not reported;
 * the config file's structure (fields, strategy names, the strategies section) is always checked.
 * An environment variable set to the empty string counts as unset.
 */

import { readFileSync } from "node:fs";
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import type { StrategyName } from "../balancer/index.ts";
import { validateTimings } from "../ha/defaults.ts";
import { DEFAULT_HA_SETTINGS, type HaSettings } from "../ha/ha-settings.ts";
import { argumentProblem, type CommandFlags } from "./arguments.ts";
import type { ConfigProblem, LoadBalancerConfig } from "./config-file.ts";
import { parseConfigFile } from "./config-file.ts";
import { HELP_TEXT, setBy } from "./help.ts";
import {
  CONFIG_PATH,
  type ConfigKey,
  envName,
  ROW_OF_CONFIG_KEY,
  SETTING_NAMES,
  SETTINGS,
  type SettingContext,
  type SettingName,
  type SettingSpec,
  type SettingValues,
  type SourceKind,
  spec,
} from "./setting-table.ts";
import type { HostPort, LogLevel } from "./values.ts";
import { notAllowedMessage, SettingsError } from "./values.ts";

export { HELP_TEXT } from "./help.ts";
export {
  DEFAULT_DNS_DOMAIN,
  DEFAULT_DNS_MAX_ANSWERS,
  DEFAULT_DNS_TTL_SECONDS,
  DEFAULT_HEALTH_FILTER,
  DEFAULT_HTTP_ADDR,
  DEFAULT_LOG_LEVEL,
  DEFAULT_STRATEGY,
  DEFAULT_TRUST_PROXY,
  ENV_PREFIX,
  SOURCE_KINDS,
  type SourceKind,
} from "./setting-table.ts";
export type { HostPort, LogLevel } from "./values.ts";
export { LOG_LEVELS, parseHostPort, parseTrustProxy, SettingsError } from "./values.ts";

export interface ServerSettings {
  /** A file of Kubernetes manifests to serve (standalone mode); null = watch the cluster. */
  readonly file: string | null;
  /** Where services come from: the file, or the Kubernetes API. */
  readonly source: SourceKind;
  /** A kubeconfig file; null = in-cluster configuration, else KUBECONFIG / ~/.kube/config. */
  readonly kubeconfig: string | null;
  /** Without brackets for IPv6. */
  readonly httpHost: string;
  /** 0 = any free port. */
  readonly httpPort: number;
  readonly defaultStrategy: StrategyName;
  /** In the order of STRATEGY_NAMES. */
  readonly enabledStrategies: readonly StrategyName[];
  /** Whether unhealthy endpoints are left out, for policies that do not say. */
  readonly healthFilter: boolean;
  /** Ring-hash virtual nodes for policies that set none; null = the policy default. */
  readonly virtualNodes: number | null;
  /** Milliseconds from a client region to an endpoint region, for policies that give no map. */
  readonly latencyMap: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly logLevel: LogLevel;
  /** The value for Express's `app.set("trust proxy", ...)`. */
  readonly trustProxy: boolean | number | string;
  /** Where the DNS server listens, on UDP and TCP; null = no DNS server. */
  readonly dnsAddr: HostPort | null;
  /** The domain DNS names live under: lowercase, without the trailing dot. */
  readonly dnsDomain: string;
  /** Seconds; answers of rotating strategies always carry 0 (see src/dns/record-policy.ts). */
  readonly dnsTtl: number;
  /** The most address or SRV records in one answer. */
  readonly dnsMaxAnswers: number;
  /** Where the internal API (replica to replica) listens; used with leader election only. */
  readonly internalAddr: HostPort;
  /** Open connections counted at most, across services and per service. */
  readonly maxConnections: number;
  readonly maxConnectionsPerService: number;
  /** Blocking queries waiting at most at once. */
  readonly maxBlockingWaiters: number;
  /** Worker threads building big hash tables off the event loop; 0 = none. */
  readonly tableBuildWorkers: number;
  /** Serve the status page (/ui). */
  readonly statusPage: boolean;
  /** Where the xDS (ADS) server listens for gRPC clients and Envoy; null = no xDS server. */
  readonly xdsAddr: HostPort | null;
  /** Leader election and the replicated state (with --source kubernetes). */
  readonly ha: HaSettings;
}

export type SettingsResult =
  | { kind: "help"; text: string }
  | { kind: "ok"; settings: ServerSettings }
  | { kind: "error"; message: string };

const FLAG_ROWS: ReadonlyMap<string, SettingSpec<unknown>> = new Map(
  SETTING_NAMES.flatMap((name) => {
    const setting = spec(name);
    return setting.flag === null ? [] : [[setting.flag, setting] as const];
  }),
);

/** Every flag takes its value as text; the rows read it. */
const PARSE_OPTIONS: ParseArgsOptionsConfig = {
  ...Object.fromEntries([...FLAG_ROWS.keys()].map((flag) => [flag, { type: "string" }])),
  help: { type: "boolean", short: "h" },
};

const SERVE_FLAGS: CommandFlags = {
  command: "konsul-lb serve",
  options: PARSE_OPTIONS,
  allFlags: [...[...FLAG_ROWS.keys()].map((flag) => `--${flag}`), "--help"].join(", "),
  seeHelp: "see konsul-lb serve --help",
  describe: (name) => {
    const setting = FLAG_ROWS.get(name);
    return setting === undefined
      ? undefined
      : { valueText: setting.value[1], setBy: ` ${setBy(setting)}` };
  },
};

type Flags = Readonly<Record<string, string | boolean | undefined>>;

function parseFlags(argv: readonly string[]): { flags: Flags } | { error: string } {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: PARSE_OPTIONS,
      strict: true,
      allowPositionals: false,
    });
    return { flags: values as Flags };
  } catch (error) {
    return {
      error: argumentProblem(
        argv,
        error instanceof Error ? error.message : String(error),
        SERVE_FLAGS,
      ),
    };
  }
}

/** Where a setting's value came from: the flag, the variable, the file's field, or nowhere. */
type Found =
  | { readonly source: "flag" | "env" | "file"; readonly where: string; readonly value: unknown }
  | { readonly source: "default" };

interface Sources {
  readonly flags: Flags;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly config: LoadBalancerConfig | null;
  readonly configName: string;
}

function find(setting: SettingSpec<unknown>, sources: Sources): Found {
  if (setting.flag !== null) {
    const flag = sources.flags[setting.flag];
    if (flag !== undefined) return { source: "flag", where: `--${setting.flag}`, value: flag };
    const env = envName(setting.flag);
    const value = sources.env[env];
    if (value !== undefined && value !== "") return { source: "env", where: env, value };
  }
  const key = setting.configKey as ConfigKey | null;
  if (key !== null && sources.config !== null) {
    const value = sources.config[key];
    if (value !== undefined) {
      return { source: "file", where: `${sources.configName}: ${key}`, value };
    }
  }
  return { source: "default" };
}

/** A row's value from where it is found; undefined when refused (the problem is recorded). */
function read(
  setting: SettingSpec<unknown>,
  found: Found,
  context: SettingContext,
  problems: string[],
): unknown {
  try {
    return found.source === "default"
      ? setting.fallback(context)
      : setting.parse(found.value, found.where, context);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    problems.push(`${error.message} ${setBy(setting)}`);
    return undefined;
  }
}

function readConfig(
  found: Found,
  path: string | null | undefined,
  readFile: (path: string) => string,
  problems: string[],
): { config: LoadBalancerConfig | null; fileProblems: readonly ConfigProblem[] } {
  if (path === undefined || path === null) return { config: null, fileProblems: [] };
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const where = found.source === "default" ? "" : found.where;
    problems.push(
      `${where}: cannot read ${JSON.stringify(path)} (${reason}); expected ` +
        `${CONFIG_PATH} that can be read ${setBy(SETTINGS.config)}`,
    );
    return { config: null, fileProblems: [] };
  }
  const { config, problems: fileProblems } = parseConfigFile(text, path);
  return { config, fileProblems };
}

/** The default strategy must be one policies may use; says why not, naming its source. */
function disabledDefaultProblem(
  strategy: StrategyName,
  found: Found,
  enabled: readonly StrategyName[],
  configName: string,
): string | null {
  if (enabled.includes(strategy)) return null;
  const setting = SETTINGS["default-strategy"];
  const reason = `${configName} disables it: strategies.${strategy}.enabled is false`;
  const allowed =
    enabled.length === 0
      ? `an enabled strategy, but ${configName} disables every strategy`
      : `an enabled strategy, one of ${enabled.join(", ")}`;
  if (found.source === "default") {
    return (
      `the default strategy ${JSON.stringify(strategy)} (used because nothing sets one) is not ` +
      `allowed (${reason}); expected ${allowed} ${setBy(setting)}`
    );
  }
  return `${notAllowedMessage(found.where, strategy, allowed, reason)} ${setBy(setting)}`;
}

/** The problem of leader-election timings under which two leaders could overlap, or null. */
function timingsProblem(values: Partial<SettingValues>): string | null {
  const lease = values["lease-duration"];
  const renew = values["renew-deadline"];
  const retry = values["retry-period"];
  if (lease === undefined || renew === undefined || retry === undefined) return null;
  try {
    validateTimings(lease, renew, retry);
    return null;
  } catch (error) {
    return `${(error as Error).message} (set by --lease-duration, --renew-deadline and --retry-period or their KONSUL_LB_ variables)`;
  }
}

function serverSettings(values: SettingValues): ServerSettings {
  const { host, port } = values["http-addr"];
  return {
    file: values.file,
    source: values.source,
    kubeconfig: values.kubeconfig,
    httpHost: host,
    httpPort: port,
    defaultStrategy: values["default-strategy"],
    ...values.strategies,
    healthFilter: values.healthFilter,
    logLevel: values["log-level"],
    trustProxy: values["trust-proxy"],
    dnsAddr: values["dns-addr"],
    dnsDomain: values["dns-domain"],
    dnsTtl: values["dns-ttl"],
    dnsMaxAnswers: values["dns-max-answers"],
    internalAddr: values["internal-addr"],
    maxConnections: values["max-connections"],
    maxConnectionsPerService: values["max-connections-per-service"],
    maxBlockingWaiters: values["max-blocking-waiters"],
    tableBuildWorkers: values["table-build-workers"],
    statusPage: values["status-page"],
    xdsAddr: values["xds-addr"],
    ha: {
      ...DEFAULT_HA_SETTINGS,
      leaderElect: values["leader-elect"],
      leaseNamespace: values["lease-namespace"],
      leaseName: values["lease-name"],
      stateNamespace: values["state-namespace"],
      stateConfigMapPrefix: values["state-configmap-prefix"],
      leaseDurationMs: values["lease-duration"],
      renewDeadlineMs: values["renew-deadline"],
      retryPeriodMs: values["retry-period"],
      stateIntervalMs: values["state-interval"],
      connectionDurability: values["connection-durability"],
      ownerConfigMap: values["owner-configmap"],
      advertiseUrl: values["advertise-url"],
      tokenFile: values["token-file"],
    },
  };
}

/**
 * The settings of `konsul-lb serve` from its arguments (those after "serve"), the environment
 * and the config file it names. `readFile` reads the config file (tests pass their own).
 */
export function loadSettings(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
): SettingsResult {
  const parsed = parseFlags(argv);
  if ("error" in parsed) return { kind: "error", message: parsed.error };
  const { flags } = parsed;
  if (flags.help === true) return { kind: "help", text: HELP_TEXT };

  const problems: string[] = [];
  const values: Partial<Record<SettingName, unknown>> = {};
  const context: SettingContext = { env, earlier: values };
  const noFile: Sources = { flags, env, config: null, configName: "" };
  const configFound = find(SETTINGS.config, noFile);
  values.config = read(SETTINGS.config, configFound, context, problems);
  const { config, fileProblems } = readConfig(
    configFound,
    values.config as string | null | undefined,
    readFile,
    problems,
  );
  const configName =
    configFound.source === "default" ? "the config file" : (configFound.value as string);

  // A field of the file that a flag or a variable overrides does not take effect: not checked.
  for (const problem of fileProblems) {
    const name = problem.key === null ? undefined : ROW_OF_CONFIG_KEY.get(problem.key);
    // What only the file sets needs no word on where else it is set.
    const setting = name === undefined ? undefined : spec(name);
    if (setting === undefined || setting.flag === null) {
      problems.push(problem.message);
      continue;
    }
    const overriddenBy = find(setting, noFile).source;
    if (overriddenBy === "flag" || overriddenBy === "env") continue;
    problems.push(`${problem.message} ${setBy(setting)}`);
  }
  // A file with problems left is not used: its values may not be what they claim.
  const sources: Sources = {
    flags,
    env,
    config: problems.length === 0 ? config : null,
    configName,
  };

  for (const name of SETTING_NAMES) {
    if (name === "config") continue;
    values[name] = read(spec(name), find(spec(name), sources), context, problems);
  }
  const timings = timingsProblem(values as Partial<SettingValues>);
  if (timings !== null) problems.push(timings);

  const defaultStrategy = values["default-strategy"] as StrategyName | undefined;
  const strategies = values.strategies as SettingValues["strategies"] | undefined;
  if (defaultStrategy !== undefined && strategies !== undefined) {
    const problem = disabledDefaultProblem(
      defaultStrategy,
      find(SETTINGS["default-strategy"], sources),
      strategies.enabledStrategies,
      configName,
    );
    if (problem !== null) problems.push(problem);
  }

  if (problems.length > 0 || SETTING_NAMES.some((name) => values[name] === undefined)) {
    return { kind: "error", message: problems.join("\n") };
  }
  return { kind: "ok", settings: Object.freeze(serverSettings(values as SettingValues)) };
}
