/**
 * The settings of `konsul-lb serve`. Each comes from, in order of precedence: its command-line
 * flag, its environment variable (KONSUL_LB_<NAME>), the YAML config file named by --config, and
 * its default. Only the source that takes effect is checked, so a wrong value that another source
 * overrides is not reported; the config file's structure (fields, strategy names, the strategies
 * section) is always checked. An environment variable set to the empty string counts as unset.
 */

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DEFAULT_VIRTUAL_NODES } from "../balancer/policy.ts";
import type { StrategyName } from "../balancer/strategy.ts";
import { isStrategyName, STRATEGY_NAMES } from "../balancer/strategy.ts";
import { DEFAULT_STATE_PREFIX } from "../ha/configmaps.ts";
import {
  DEFAULT_HA_SETTINGS,
  DEFAULT_LEASE_NAME,
  FALLBACK_NAMESPACE,
  type HaSettings,
} from "../ha/ha-settings.ts";
import {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  validateTimings,
} from "../ha/leader-election.ts";
import { DEFAULT_STATE_INTERVAL_MS } from "../ha/state-store.ts";
import { formatDuration, tryParseDuration } from "../policy/duration.ts";
import { argumentProblem, type CommandFlags } from "./arguments.ts";
import type { ConfigKey, ConfigProblem, LoadBalancerConfig } from "./config-file.ts";
import { parseConfigFile } from "./config-file.ts";
import type { HostPort, LogLevel } from "./values.ts";
import {
  HOST_PORT_ALLOWED,
  isLogLevel,
  LOG_LEVELS,
  notAllowedMessage,
  parseDnsDomain,
  parseDnsMaxAnswers,
  parseDnsTtl,
  parseHostPort,
  parseTrustedProxies,
  parseTrustProxy,
  SettingsError,
  TRUST_PROXY_ALLOWED,
} from "./values.ts";

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
  /** Where the xDS (ADS) server listens for gRPC clients and Envoy; null = no xDS server. */
  readonly xdsAddr: HostPort | null;
  /** Leader election and the replicated state (with --source kubernetes). */
  readonly ha: HaSettings;
}

export type SourceKind = "file" | "kubernetes";
export const SOURCE_KINDS: readonly SourceKind[] = ["file", "kubernetes"];

export type SettingsResult =
  | { kind: "help"; text: string }
  | { kind: "ok"; settings: ServerSettings }
  | { kind: "error"; message: string };

export const ENV_PREFIX = "KONSUL_LB_";
export const DEFAULT_HTTP_ADDR = "0.0.0.0:8080";
export const DEFAULT_STRATEGY: StrategyName = "round-robin";
export const DEFAULT_LOG_LEVEL: LogLevel = "info";
export const DEFAULT_TRUST_PROXY = false;
export const DEFAULT_HEALTH_FILTER = true;
export const DEFAULT_DNS_DOMAIN = "lb.konsul.local";
export const DEFAULT_DNS_TTL_SECONDS = 5;
export const DEFAULT_DNS_MAX_ANSWERS = 8;

/** The settings that a flag sets, by flag name. */
type FlagName =
  | "file"
  | "source"
  | "kubeconfig"
  | "http-addr"
  | "default-strategy"
  | "config"
  | "log-level"
  | "trust-proxy"
  | "dns-addr"
  | "dns-domain"
  | "dns-ttl"
  | "dns-max-answers"
  | "xds-addr"
  | "leader-elect"
  | "lease-namespace"
  | "lease-name"
  | "lease-duration"
  | "renew-deadline"
  | "retry-period"
  | "state-namespace"
  | "state-configmap-prefix"
  | "state-interval"
  | "owner-configmap"
  | "advertise-url";

interface Setting {
  readonly flag: FlagName;
  readonly env: string;
  readonly configKey: ConfigKey | null;
  /** Placeholder of the value in the help. */
  readonly valueName: string;
  /** What the value is, for "needs a value" messages. */
  readonly valueText: string;
  readonly defaultText: string;
  readonly help: readonly string[];
}

function setting(
  flag: FlagName,
  configKey: ConfigKey | null,
  [valueName, valueText]: readonly [string, string],
  defaultText: string,
  help: readonly string[],
): Setting {
  const env = `${ENV_PREFIX}${flag.toUpperCase().replaceAll("-", "_")}`;
  return { flag, env, configKey, valueName, valueText, defaultText, help };
}

const MANIFESTS_PATH = "the path of a file of Kubernetes manifests";
const CONFIG_PATH = "the path of a YAML config file";
const KUBECONFIG_PATH = "the path of a kubeconfig file";

const DURATION_VALUE = ["DURATION", "a duration such as 15s or 500ms"] as const;
const NAMESPACE_DEFAULT = `$POD_NAMESPACE, else ${FALLBACK_NAMESPACE}`;

const SETTINGS: Readonly<Record<FlagName, Setting>> = {
  file: setting("file", null, ["PATH", MANIFESTS_PATH], "none (watch the Kubernetes API)", [
    "Serve the Services, EndpointSlices, Pods, Nodes and LoadBalancingPolicies in this",
    "file of Kubernetes manifests instead of watching a cluster (standalone mode).",
  ]),
  source: setting(
    "source",
    null,
    ["SOURCE", "file or kubernetes"],
    "file with --file, else kubernetes",
    [
      "Where services come from: the manifest file given by --file, or the Kubernetes API",
      "(in-cluster configuration, or --kubeconfig).",
    ],
  ),
  kubeconfig: setting(
    "kubeconfig",
    null,
    ["PATH", KUBECONFIG_PATH],
    "in-cluster, else KUBECONFIG",
    [
      "Kubeconfig of the cluster to watch, with --source kubernetes. Without it: the",
      "in-cluster service account when running in a pod, else $KUBECONFIG or ~/.kube/config.",
    ],
  ),
  "http-addr": setting("http-addr", "httpAddr", ["HOST:PORT", "host:port"], DEFAULT_HTTP_ADDR, [
    "Address the HTTP server listens on. Write IPv6 addresses in brackets ([::1]:8080).",
    "Port 0 takes any free port.",
  ]),
  "default-strategy": setting(
    "default-strategy",
    "defaultStrategy",
    ["NAME", "a strategy name"],
    DEFAULT_STRATEGY,
    [
      "Strategy of services whose policy names none; must be enabled. One of:",
      ...wrap(STRATEGY_NAMES.join(", "), 70),
    ],
  ),
  config: setting("config", null, ["PATH", CONFIG_PATH], "none", [
    "YAML config file with the settings below and the defaults for policies (see",
    '"Config file").',
  ]),
  "log-level": setting("log-level", "logLevel", ["LEVEL", "a log level"], DEFAULT_LOG_LEVEL, [
    `One of ${LOG_LEVELS.join(", ")}.`,
  ]),
  "trust-proxy": setting(
    "trust-proxy",
    "trustProxy",
    ["VALUE", "false, true, a hop count or a list of proxies"],
    String(DEFAULT_TRUST_PROXY),
    [
      "Which proxies' X-Forwarded-For to believe for the client IP (ip-hash): false, true,",
      "a hop count, or a comma-separated list of addresses, CIDR ranges and the names",
      "loopback, linklocal, uniquelocal (e.g. loopback,10.0.0.0/8).",
    ],
  ),
  "dns-addr": setting("dns-addr", "dnsAddr", ["HOST:PORT", "host:port"], "none (no DNS server)", [
    "Also answer DNS queries, on UDP and TCP at this address (e.g. 0.0.0.0:5353):",
    "<service>.<namespace>.<domain> for A/AAAA, _<port>._tcp.<service>.<namespace>.<domain>",
    "for SRV. Port 0 takes any free port.",
  ]),
  "dns-domain": setting(
    "dns-domain",
    "dnsDomain",
    ["DOMAIN", "a DNS domain"],
    `${DEFAULT_DNS_DOMAIN}.`,
    ["The domain the DNS names live under; names outside it are REFUSED."],
  ),
  "dns-ttl": setting(
    "dns-ttl",
    "dnsTtl",
    ["TTL", "seconds or a duration"],
    `${DEFAULT_DNS_TTL_SECONDS}s`,
    [
      "TTL of DNS answers that stay the same from query to query (hash and latency-based",
      "strategies, negative answers); rotating strategies always answer with TTL 0.",
    ],
  ),
  "dns-max-answers": setting(
    "dns-max-answers",
    "dnsMaxAnswers",
    ["COUNT", "a number of records"],
    String(DEFAULT_DNS_MAX_ANSWERS),
    ["The most A/AAAA or SRV records in one DNS answer, best first."],
  ),
  "xds-addr": setting("xds-addr", "xdsAddr", ["HOST:PORT", "host:port"], "none (no xDS server)", [
    "Also serve the policies over xDS (ADS, gRPC) at this address (e.g. 0.0.0.0:18000),",
    "for proxyless gRPC clients (xds:///<service>.<namespace>) and Envoy.",
    "Port 0 takes any free port.",
  ]),
  "leader-elect": setting(
    "leader-elect",
    null,
    ["BOOL", "true or false"],
    "true with --source kubernetes",
    [
      "Run as one of several replicas: a leader elected through a Lease writes policy status",
      "and the shared balancer state; every replica serves. false: this replica writes alone.",
    ],
  ),
  "lease-namespace": setting(
    "lease-namespace",
    null,
    ["NAMESPACE", "a namespace name"],
    NAMESPACE_DEFAULT,
    ["Namespace of the leader Lease: the operator's own."],
  ),
  "lease-name": setting("lease-name", null, ["NAME", "a Lease name"], DEFAULT_LEASE_NAME, [
    "Name of the coordination.k8s.io/v1 Lease the replicas elect a leader with.",
  ]),
  "lease-duration": setting(
    "lease-duration",
    null,
    DURATION_VALUE,
    formatDuration(DEFAULT_LEASE_DURATION_MS),
    [
      "How long followers wait, after they last saw the Lease change, before taking it over.",
      "Whole seconds; longer than --renew-deadline.",
    ],
  ),
  "renew-deadline": setting(
    "renew-deadline",
    null,
    DURATION_VALUE,
    formatDuration(DEFAULT_RENEW_DEADLINE_MS),
    ["A leader that has not renewed for this long stops acting as leader."],
  ),
  "retry-period": setting(
    "retry-period",
    null,
    DURATION_VALUE,
    formatDuration(DEFAULT_RETRY_PERIOD_MS),
    ["How often the leader renews and followers look at the Lease."],
  ),
  "state-namespace": setting(
    "state-namespace",
    null,
    ["NAMESPACE", "a namespace name"],
    "the lease namespace",
    ["Namespace of the ConfigMaps that hold the replicated balancer state."],
  ),
  "state-configmap-prefix": setting(
    "state-configmap-prefix",
    null,
    ["PREFIX", "a DNS label of up to 57 characters"],
    DEFAULT_STATE_PREFIX,
    ["The state ConfigMaps are <prefix>-0, <prefix>-1, ... (one per shard)."],
  ),
  "state-interval": setting(
    "state-interval",
    null,
    DURATION_VALUE,
    formatDuration(DEFAULT_STATE_INTERVAL_MS),
    [
      "The leader writes each state ConfigMap at most this often, changes in between",
      "coalesced; a new leader continues from at most this long ago.",
    ],
  ),
  "owner-configmap": setting(
    "owner-configmap",
    null,
    ["NAME", "a ConfigMap name"],
    "none (they stay until deleted)",
    [
      "A ConfigMap in the lease namespace made the owner of the Lease and the state",
      "ConfigMaps there, so that deleting it (helm uninstall) has Kubernetes' garbage",
      "collector remove them. The Helm chart names its config ConfigMap.",
    ],
  ),
  "advertise-url": setting(
    "advertise-url",
    null,
    ["URL", "an http or https URL"],
    "http://$POD_IP:<port>, else the address bound",
    ["Where other replicas reach this one's HTTP API (followers forward connection changes)."],
  ),
};

const FLAG_ORDER: readonly FlagName[] = [
  "file",
  "source",
  "kubeconfig",
  "config",
  "http-addr",
  "default-strategy",
  "log-level",
  "trust-proxy",
  "dns-addr",
  "dns-domain",
  "dns-ttl",
  "dns-max-answers",
  "xds-addr",
  "leader-elect",
  "lease-namespace",
  "lease-name",
  "lease-duration",
  "renew-deadline",
  "retry-period",
  "state-namespace",
  "state-configmap-prefix",
  "state-interval",
  "owner-configmap",
  "advertise-url",
];

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** "(set by --log-level, KONSUL_LB_LOG_LEVEL or logLevel in the config file)". */
function setBy(spec: Setting): string {
  return spec.configKey === null
    ? `(set by --${spec.flag} or ${spec.env})`
    : `(set by --${spec.flag}, ${spec.env} or ${spec.configKey} in the config file)`;
}

function helpText(): string {
  const lines = [
    "konsul-lb serve: serve load-balancing decisions over HTTP, DNS and xDS.",
    "",
    "Usage:",
    "  konsul-lb serve [flags]",
    "  konsul-lb serve --help",
    "  konsul-lb --help",
    "",
    "Each setting is taken from, in order of precedence: its flag, its environment variable,",
    "the config file (--config), its default. An empty environment variable counts as unset.",
    "",
    "Flags:",
  ];
  for (const flag of FLAG_ORDER) {
    const spec = SETTINGS[flag];
    lines.push(`  --${spec.flag} ${spec.valueName}`);
    for (const line of spec.help) lines.push(`      ${line}`);
    const config = spec.configKey === null ? "" : `   config: ${spec.configKey}`;
    lines.push(`      env: ${spec.env}${config}   default: ${spec.defaultText}`);
  }
  lines.push(
    "  -h, --help",
    "      Show this help.",
    "",
    "Config file (YAML; every field is optional):",
    ...[
      [`httpAddr: ${DEFAULT_HTTP_ADDR}`, ""],
      [`logLevel: ${DEFAULT_LOG_LEVEL}`, ""],
      [`trustProxy: ${DEFAULT_TRUST_PROXY}`, "or a hop count, or [loopback, 10.0.0.0/8]"],
      [`defaultStrategy: ${DEFAULT_STRATEGY}`, ""],
      [`healthFilter: ${DEFAULT_HEALTH_FILTER}`, "for services whose policy does not say"],
      ["strategies:", "by strategy name; a strategy not listed is enabled"],
      [`  ring-hash: {virtualNodes: ${DEFAULT_VIRTUAL_NODES}}`, "for policies that set none"],
      ["  ip-hash: {enabled: false}", "policies may not use it"],
      ["  latency-based:", "for policies that give no map"],
      ["    latencyMap: {us-east: {us-east: 1ms, eu-west: 80ms}}", ""],
      ["dnsAddr: 0.0.0.0:5353", "absent: no DNS server"],
      [`dnsDomain: ${DEFAULT_DNS_DOMAIN}`, ""],
      [`dnsTtl: ${DEFAULT_DNS_TTL_SECONDS}s`, "or a number of seconds"],
      [`dnsMaxAnswers: ${DEFAULT_DNS_MAX_ANSWERS}`, ""],
      ["xdsAddr: 0.0.0.0:18000", "absent: no xDS server"],
    ].map(([yaml = "", comment = ""]) =>
      comment === "" ? `  ${yaml}` : `  ${yaml.padEnd(36)}# ${comment}`,
    ),
    "",
    "Examples:",
    "  konsul-lb serve --file examples/demo.yaml --http-addr 127.0.0.1:8080",
    "  konsul-lb serve --source kubernetes --kubeconfig ~/.kube/config",
    "  POD_NAMESPACE=konsul-lb konsul-lb serve --source kubernetes --lease-duration 15s",
    "  konsul-lb serve --config /etc/konsul-lb/config.yaml --log-level debug",
    "  konsul-lb serve --file examples/demo.yaml --dns-addr 127.0.0.1:5353",
    "  KONSUL_LB_TRUST_PROXY=loopback,10.0.0.0/8 konsul-lb serve --http-addr [::]:8080",
  );
  return `${lines.join("\n")}\n`;
}

/** Usage of `konsul-lb serve`: every flag with its environment variable and default. */
export const HELP_TEXT: string = helpText();

const PARSE_OPTIONS = {
  file: { type: "string" },
  source: { type: "string" },
  kubeconfig: { type: "string" },
  "http-addr": { type: "string" },
  "default-strategy": { type: "string" },
  config: { type: "string" },
  "log-level": { type: "string" },
  "trust-proxy": { type: "string" },
  "dns-addr": { type: "string" },
  "dns-domain": { type: "string" },
  "dns-ttl": { type: "string" },
  "dns-max-answers": { type: "string" },
  "xds-addr": { type: "string" },
  "leader-elect": { type: "string" },
  "lease-namespace": { type: "string" },
  "lease-name": { type: "string" },
  "lease-duration": { type: "string" },
  "renew-deadline": { type: "string" },
  "retry-period": { type: "string" },
  "state-namespace": { type: "string" },
  "state-configmap-prefix": { type: "string" },
  "state-interval": { type: "string" },
  "owner-configmap": { type: "string" },
  "advertise-url": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const ALL_FLAGS = [...FLAG_ORDER.map((flag) => `--${flag}`), "--help"].join(", ");
const SEE_HELP = "see konsul-lb serve --help";

type Flags = Partial<Record<FlagName, string>> & { help?: boolean };

function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(SETTINGS, name);
}

const SERVE_FLAGS: CommandFlags = {
  command: "konsul-lb serve",
  options: PARSE_OPTIONS,
  allFlags: ALL_FLAGS,
  seeHelp: SEE_HELP,
  describe: (name) =>
    isFlagName(name)
      ? { valueText: SETTINGS[name].valueText, setBy: ` ${setBy(SETTINGS[name])}` }
      : undefined,
};

function parseFlags(argv: readonly string[]): { flags: Flags } | { error: string } {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: PARSE_OPTIONS,
      strict: true,
      allowPositionals: false,
    });
    return { flags: values };
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

function find(spec: Setting, sources: Sources): Found {
  const flag = sources.flags[spec.flag];
  if (flag !== undefined) return { source: "flag", where: `--${spec.flag}`, value: flag };
  const env = sources.env[spec.env];
  if (env !== undefined && env !== "") return { source: "env", where: spec.env, value: env };
  if (spec.configKey !== null && sources.config !== null) {
    const value = sources.config[spec.configKey];
    if (value !== undefined) {
      return { source: "file", where: `${sources.configName}: ${spec.configKey}`, value };
    }
  }
  return { source: "default" };
}

/** Runs `parse`, turning a SettingsError into a problem that names the setting. */
function attempt<T>(spec: Setting, problems: string[], parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    problems.push(`${error.message} ${setBy(spec)}`);
    return undefined;
  }
}

function fail(where: string, value: unknown, allowed: string, reason?: string): never {
  throw new SettingsError(notAllowedMessage(where, value, allowed, reason));
}

function pathValue(found: Found, allowed: string): string | null {
  if (found.source === "default") return null;
  if (found.value === "") fail(found.where, found.value, allowed, "empty");
  return found.value as string;
}

/** The source: as given, else the file when one is named, else the Kubernetes API. */
function sourceValue(found: Found, file: string | null): SourceKind {
  if (found.source === "default") return file === null ? "kubernetes" : "file";
  if (!SOURCE_KINDS.includes(found.value as SourceKind)) {
    fail(found.where, found.value, SOURCE_KINDS.join(" or "));
  }
  if (found.value === "file" && file === null) {
    fail(
      found.where,
      found.value,
      "kubernetes, or a manifest file given with --file or KONSUL_LB_FILE",
      "no --file",
    );
  }
  if (found.value === "kubernetes" && file !== null) {
    fail(
      found.where,
      found.value,
      "file when --file (or KONSUL_LB_FILE) is given",
      "--file is set too",
    );
  }
  return found.value as SourceKind;
}

function strategyValue(found: Found): StrategyName {
  if (found.source === "default") return DEFAULT_STRATEGY;
  if (!isStrategyName(found.value)) {
    fail(found.where, found.value, `one of ${STRATEGY_NAMES.join(", ")}`);
  }
  return found.value;
}

function logLevelValue(found: Found): LogLevel {
  if (found.source === "default") return DEFAULT_LOG_LEVEL;
  if (!isLogLevel(found.value)) fail(found.where, found.value, `one of ${LOG_LEVELS.join(", ")}`);
  return found.value;
}

function trustProxyValue(found: Found): boolean | number | string {
  if (found.source === "default") return DEFAULT_TRUST_PROXY;
  const { value, where } = found;
  if (typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) fail(where, value, TRUST_PROXY_ALLOWED);
    return value;
  }
  if (Array.isArray(value)) return parseTrustedProxies(value, value, where);
  return parseTrustProxy(value as string, where);
}

function readConfig(
  found: Found,
  readFile: (path: string) => string,
  problems: string[],
): { config: LoadBalancerConfig | null; fileProblems: readonly ConfigProblem[] } {
  const spec = SETTINGS.config;
  const path = attempt(spec, problems, () => pathValue(found, CONFIG_PATH));
  if (path === undefined || path === null) return { config: null, fileProblems: [] };
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const where = found.source === "default" ? "" : found.where;
    problems.push(
      `${where}: cannot read ${JSON.stringify(path)} (${reason}); expected ` +
        `${CONFIG_PATH} that can be read ${setBy(spec)}`,
    );
    return { config: null, fileProblems: [] };
  }
  const { config, problems: fileProblems } = parseConfigFile(text, path);
  return { config, fileProblems };
}

function latencyMapMs(
  config: LoadBalancerConfig | null,
): Readonly<Record<string, Readonly<Record<string, number>>>> {
  const map = config?.strategies?.["latency-based"]?.latencyMap ?? {};
  return Object.freeze(
    Object.fromEntries(
      Object.entries(map).map(([from, row]) => [
        from,
        Object.freeze(
          Object.fromEntries(
            Object.entries(row).map(([to, text]) => [to, tryParseDuration(text) as number]),
          ),
        ),
      ]),
    ),
  );
}

/** The default strategy must be one policies may use; says why not, naming its source. */
function disabledDefaultProblem(
  strategy: StrategyName,
  found: Found,
  enabled: readonly StrategyName[],
  configName: string,
): string | null {
  if (enabled.includes(strategy)) return null;
  const spec = SETTINGS["default-strategy"];
  const reason = `${configName} disables it: strategies.${strategy}.enabled is false`;
  const allowed =
    enabled.length === 0
      ? `an enabled strategy, but ${configName} disables every strategy`
      : `an enabled strategy, one of ${enabled.join(", ")}`;
  if (found.source === "default") {
    return (
      `the default strategy ${JSON.stringify(strategy)} (used because nothing sets one) is not ` +
      `allowed (${reason}); expected ${allowed} ${setBy(spec)}`
    );
  }
  return `${notAllowedMessage(found.where, strategy, allowed, reason)} ${setBy(spec)}`;
}

type DnsSettings = Pick<ServerSettings, "dnsAddr" | "dnsDomain" | "dnsTtl" | "dnsMaxAnswers">;

/** The DNS server's settings; undefined when one of them is wrong (the problem is recorded). */
function dnsSettings(sources: Sources, problems: string[]): DnsSettings | undefined {
  const addrFound = find(SETTINGS["dns-addr"], sources);
  const dnsAddr = attempt(SETTINGS["dns-addr"], problems, () =>
    addrFound.source === "default"
      ? null
      : typeof addrFound.value === "string"
        ? parseHostPort(addrFound.value, addrFound.where)
        : fail(addrFound.where, addrFound.value, HOST_PORT_ALLOWED),
  );
  const domainFound = find(SETTINGS["dns-domain"], sources);
  const dnsDomain = attempt(SETTINGS["dns-domain"], problems, () =>
    domainFound.source === "default"
      ? DEFAULT_DNS_DOMAIN
      : parseDnsDomain(String(domainFound.value), domainFound.where),
  );
  const ttlFound = find(SETTINGS["dns-ttl"], sources);
  const dnsTtl = attempt(SETTINGS["dns-ttl"], problems, () =>
    ttlFound.source === "default"
      ? DEFAULT_DNS_TTL_SECONDS
      : parseDnsTtl(ttlFound.value, ttlFound.where),
  );
  const answersFound = find(SETTINGS["dns-max-answers"], sources);
  const dnsMaxAnswers = attempt(SETTINGS["dns-max-answers"], problems, () =>
    answersFound.source === "default"
      ? DEFAULT_DNS_MAX_ANSWERS
      : parseDnsMaxAnswers(answersFound.value, answersFound.where),
  );
  if (
    dnsAddr === undefined ||
    dnsDomain === undefined ||
    dnsTtl === undefined ||
    dnsMaxAnswers === undefined
  ) {
    return undefined;
  }
  return { dnsAddr, dnsDomain, dnsTtl, dnsMaxAnswers };
}

/** The xDS server's address; undefined when it is wrong (the problem is recorded). */
function xdsAddrValue(sources: Sources, problems: string[]): HostPort | null | undefined {
  const found = find(SETTINGS["xds-addr"], sources);
  return attempt(SETTINGS["xds-addr"], problems, () =>
    found.source === "default"
      ? null
      : typeof found.value === "string"
        ? parseHostPort(found.value, found.where)
        : fail(found.where, found.value, HOST_PORT_ALLOWED),
  );
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function nameValue(
  found: Found,
  fallback: string,
  kind: "label" | "subdomain",
  max: number,
): string {
  if (found.source === "default") return fallback;
  const value = found.value;
  const pattern = kind === "label" ? DNS_LABEL : DNS_SUBDOMAIN;
  if (typeof value !== "string" || value.length > max || !pattern.test(value)) {
    fail(
      found.where,
      value,
      kind === "label"
        ? `a DNS label of up to ${max} characters: lowercase letters, digits and "-"`
        : `a DNS subdomain of up to ${max} characters: lowercase letters, digits, "-" and "."`,
    );
  }
  return value;
}

function durationValue(found: Found, fallback: number): number {
  if (found.source === "default") return fallback;
  const ms = typeof found.value === "string" ? tryParseDuration(found.value) : null;
  if (ms === null || ms <= 0)
    fail(found.where, found.value, "a duration above 0 such as 15s or 500ms");
  return ms;
}

/** Leader election and the state store; undefined when a value is wrong (recorded). */
function haSettings(
  sources: Sources,
  problems: string[],
  source: SourceKind | undefined,
): HaSettings | undefined {
  const get = (flag: FlagName) => find(SETTINGS[flag], sources);
  const electFound = get("leader-elect");
  const leaderElect = attempt(SETTINGS["leader-elect"], problems, () => {
    if (electFound.source === "default") return source === "kubernetes";
    if (electFound.value !== "true" && electFound.value !== "false") {
      fail(electFound.where, electFound.value, "true or false");
    }
    if (electFound.value === "true" && source === "file") {
      fail(electFound.where, electFound.value, "false with --source file", "a file has no Lease");
    }
    return electFound.value === "true";
  });
  const podNamespace = sources.env.POD_NAMESPACE || FALLBACK_NAMESPACE;
  const leaseNamespace = attempt(SETTINGS["lease-namespace"], problems, () =>
    nameValue(get("lease-namespace"), podNamespace, "label", 63),
  );
  const stateNamespace = attempt(SETTINGS["state-namespace"], problems, () =>
    nameValue(get("state-namespace"), leaseNamespace ?? podNamespace, "label", 63),
  );
  const leaseName = attempt(SETTINGS["lease-name"], problems, () =>
    nameValue(get("lease-name"), DEFAULT_LEASE_NAME, "subdomain", 253),
  );
  // <prefix>-<shard> must be a name, and the prefix a label value.
  const stateConfigMapPrefix = attempt(SETTINGS["state-configmap-prefix"], problems, () =>
    nameValue(get("state-configmap-prefix"), DEFAULT_STATE_PREFIX, "label", 57),
  );
  const leaseDurationMs = attempt(SETTINGS["lease-duration"], problems, () =>
    durationValue(get("lease-duration"), DEFAULT_LEASE_DURATION_MS),
  );
  const renewDeadlineMs = attempt(SETTINGS["renew-deadline"], problems, () =>
    durationValue(get("renew-deadline"), DEFAULT_RENEW_DEADLINE_MS),
  );
  const retryPeriodMs = attempt(SETTINGS["retry-period"], problems, () =>
    durationValue(get("retry-period"), DEFAULT_RETRY_PERIOD_MS),
  );
  const stateIntervalMs = attempt(SETTINGS["state-interval"], problems, () =>
    durationValue(get("state-interval"), DEFAULT_STATE_INTERVAL_MS),
  );
  const ownerFound = get("owner-configmap");
  const ownerConfigMap = attempt(SETTINGS["owner-configmap"], problems, () =>
    ownerFound.source === "default" ? null : nameValue(ownerFound, "", "subdomain", 253),
  );
  const urlFound = get("advertise-url");
  const advertiseUrl = attempt(SETTINGS["advertise-url"], problems, () => {
    if (urlFound.source === "default") return null;
    const text = String(urlFound.value);
    let url: URL | null = null;
    try {
      url = new URL(text);
    } catch {}
    if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
      fail(urlFound.where, urlFound.value, "an http or https URL such as http://10.0.0.7:8080");
    }
    return text.replace(/\/+$/, "");
  });
  if (
    leaseDurationMs !== undefined &&
    renewDeadlineMs !== undefined &&
    retryPeriodMs !== undefined
  ) {
    try {
      validateTimings(leaseDurationMs, renewDeadlineMs, retryPeriodMs);
    } catch (error) {
      problems.push(
        `${(error as Error).message} (set by --lease-duration, --renew-deadline and --retry-period or their KONSUL_LB_ variables)`,
      );
      return undefined;
    }
  }
  if (
    leaderElect === undefined ||
    leaseNamespace === undefined ||
    stateNamespace === undefined ||
    leaseName === undefined ||
    stateConfigMapPrefix === undefined ||
    leaseDurationMs === undefined ||
    renewDeadlineMs === undefined ||
    retryPeriodMs === undefined ||
    stateIntervalMs === undefined ||
    ownerConfigMap === undefined ||
    advertiseUrl === undefined
  ) {
    return undefined;
  }
  return {
    ...DEFAULT_HA_SETTINGS,
    leaderElect,
    leaseNamespace,
    leaseName,
    stateNamespace,
    stateConfigMapPrefix,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    stateIntervalMs,
    ownerConfigMap,
    advertiseUrl,
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
  const noFile: Sources = { flags, env, config: null, configName: "" };
  const configFound = find(SETTINGS.config, noFile);
  const { config, fileProblems } = readConfig(configFound, readFile, problems);
  const configName =
    configFound.source === "default" ? "the config file" : (configFound.value as string);
  const sources: Sources = { flags, env, config, configName };

  // A field of the file that a flag or a variable overrides does not take effect: not checked.
  const overridden = new Set<ConfigKey>();
  for (const spec of Object.values(SETTINGS)) {
    const source = find(spec, noFile).source;
    if (spec.configKey !== null && (source === "flag" || source === "env")) {
      overridden.add(spec.configKey);
    }
  }
  const bySetting = new Map(
    Object.values(SETTINGS).flatMap((spec) =>
      spec.configKey === null ? [] : [[spec.configKey, spec] as const],
    ),
  );
  for (const problem of fileProblems) {
    if (problem.key !== null && overridden.has(problem.key)) continue;
    const spec = problem.key === null ? undefined : bySetting.get(problem.key);
    problems.push(spec === undefined ? problem.message : `${problem.message} ${setBy(spec)}`);
  }
  // A file with problems left is not used: its values may not be what they claim.
  const usable = problems.length === 0 ? sources : { ...sources, config: null };

  const fileFound = find(SETTINGS.file, usable);
  const file = attempt(SETTINGS.file, problems, () => pathValue(fileFound, MANIFESTS_PATH));
  const kubeconfig = attempt(SETTINGS.kubeconfig, problems, () =>
    pathValue(find(SETTINGS.kubeconfig, usable), KUBECONFIG_PATH),
  );
  const sourceFound = find(SETTINGS.source, usable);
  const source = attempt(SETTINGS.source, problems, () =>
    sourceValue(sourceFound, file === undefined ? null : file),
  );
  const addrFound = find(SETTINGS["http-addr"], usable);
  const address = attempt(SETTINGS["http-addr"], problems, () =>
    addrFound.source === "default"
      ? parseHostPort(DEFAULT_HTTP_ADDR, "default")
      : typeof addrFound.value === "string"
        ? parseHostPort(addrFound.value, addrFound.where)
        : fail(addrFound.where, addrFound.value, HOST_PORT_ALLOWED),
  );
  const strategyFound = find(SETTINGS["default-strategy"], usable);
  const defaultStrategy = attempt(SETTINGS["default-strategy"], problems, () =>
    strategyValue(strategyFound),
  );
  const logLevel = attempt(SETTINGS["log-level"], problems, () =>
    logLevelValue(find(SETTINGS["log-level"], usable)),
  );
  const trustProxy = attempt(SETTINGS["trust-proxy"], problems, () =>
    trustProxyValue(find(SETTINGS["trust-proxy"], usable)),
  );
  const dns = dnsSettings(usable, problems);
  const xdsAddr = xdsAddrValue(usable, problems);
  const ha = haSettings(usable, problems, source);

  const strategies = usable.config?.strategies ?? {};
  const enabledStrategies = STRATEGY_NAMES.filter((name) => strategies[name]?.enabled !== false);
  if (defaultStrategy !== undefined) {
    const problem = disabledDefaultProblem(
      defaultStrategy,
      strategyFound,
      enabledStrategies,
      configName,
    );
    if (problem !== null) problems.push(problem);
  }

  if (
    problems.length > 0 ||
    file === undefined ||
    kubeconfig === undefined ||
    source === undefined ||
    address === undefined ||
    defaultStrategy === undefined ||
    logLevel === undefined ||
    trustProxy === undefined ||
    dns === undefined ||
    xdsAddr === undefined ||
    ha === undefined
  ) {
    return { kind: "error", message: problems.join("\n") };
  }
  const settings: ServerSettings = {
    file,
    source,
    kubeconfig,
    httpHost: address.host,
    httpPort: address.port,
    defaultStrategy,
    enabledStrategies: Object.freeze(enabledStrategies),
    healthFilter: usable.config?.healthFilter ?? DEFAULT_HEALTH_FILTER,
    virtualNodes: strategies["ring-hash"]?.virtualNodes ?? null,
    latencyMap: latencyMapMs(usable.config),
    logLevel,
    trustProxy,
    ...dns,
    xdsAddr,
    ha,
  };
  return { kind: "ok", settings: Object.freeze(settings) };
}
