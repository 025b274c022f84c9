/**
 * Every setting of `konsul-lb serve`, described once: its flag and environment variable, its
 * field in the config file, its value in the Helm chart, its default, its help, and how its value
 * is read and checked. From this table come the parser (settings.ts), `serve --help` (help.ts),
 * the config file's schema (config-file.ts) and the operator part of the chart's
 * values.schema.json (chart-schema.ts, `npm run chart-schema`).
 *
 * To add a setting: add a row here (in the place its flag takes in the help), give the value a
 * field in ServerSettings (settings.ts), then run `npm run chart-schema` if it has a Helm value.
 */

import {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_SERVICE,
  DEFAULT_VIRTUAL_NODES,
  isStrategyName,
  MAX_TABLE_BUILD_WORKERS,
  STRATEGY_NAMES,
  type StrategyName,
} from "../balancer/index.ts";
import {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  DEFAULT_STATE_INTERVAL_MS,
  DEFAULT_STATE_PREFIX,
} from "../ha/defaults.ts";
import {
  CONNECTION_DURABILITIES,
  type ConnectionDurability,
  DEFAULT_CONNECTION_DURABILITY,
  DEFAULT_LEASE_NAME,
  DEFAULT_TOKEN_FILE,
  FALLBACK_NAMESPACE,
} from "../ha/ha-settings.ts";
import { DEFAULT_MAX_WAITERS } from "../http/change-waiters.ts";
import { DURATION_PATTERN, formatDuration } from "../policy/duration.ts";
import {
  DNS_1123_LABEL_MAX_LENGTH,
  DNS_1123_LABEL_PATTERN,
  DNS_1123_SUBDOMAIN_MAX_LENGTH,
  DNS_1123_SUBDOMAIN_PATTERN,
} from "../shared/kubernetes-names.ts";
import type { ConfigSchema } from "./config-schema.ts";
import {
  STRATEGIES_SCHEMA,
  type StrategiesConfig,
  type StrategyDefaults,
  strategyDefaults,
} from "./strategy-defaults.ts";
import {
  DNS_DOMAIN_ALLOWED,
  DNS_DOMAIN_PATTERN,
  DNS_TTL_ALLOWED,
  DNS_TTL_PATTERN,
  HOST_PORT_ALLOWED,
  type HostPort,
  isLogLevel,
  LIMIT_ALLOWED,
  LOG_LEVELS,
  type LogLevel,
  MAX_DNS_ANSWERS,
  MAX_DNS_TTL_SECONDS,
  MAX_LIMIT_SETTING,
  notAllowedMessage,
  parseDnsDomain,
  parseDnsMaxAnswers,
  parseDnsTtl,
  parseHostPort,
  parseHttpUrl,
  parseKubernetesName,
  parseLimit,
  parsePath,
  parsePositiveDuration,
  parseSwitch,
  parseTableBuildWorkers,
  parseTrustedProxies,
  parseTrustProxy,
  SettingsError,
  TABLE_BUILD_WORKERS_ALLOWED,
  TRUST_PROXY_ALLOWED,
  TRUST_PROXY_ENTRY_ALLOWED,
} from "./values.ts";

export const ENV_PREFIX = "KONSUL_LB_";
export const DEFAULT_HTTP_ADDR = "0.0.0.0:8080";
export const DEFAULT_INTERNAL_ADDR = "0.0.0.0:8081";
export const DEFAULT_STRATEGY: StrategyName = "round-robin";
export const DEFAULT_LOG_LEVEL: LogLevel = "info";
export const DEFAULT_TRUST_PROXY = false;
export const DEFAULT_HEALTH_FILTER = true;
export const DEFAULT_DNS_DOMAIN = "lb.konsul.local";
export const DEFAULT_DNS_TTL_SECONDS = 5;
export const DEFAULT_DNS_MAX_ANSWERS = 8;
export const DEFAULT_STATUS_PAGE = false;
/**
 * One worker: a table build is CPU-bound, and on the two cores the chart requests one keeps the
 * event loop's core free while the other builds (see docs/performance.md, "Isolation").
 */
export const DEFAULT_TABLE_BUILD_WORKERS = 1;

export type SourceKind = "file" | "kubernetes";
export const SOURCE_KINDS: readonly SourceKind[] = ["file", "kubernetes"];

/** What a setting's value is read in view of: the environment, and the settings above it. */
export interface SettingContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The values of the rows above, by row name; undefined where a value was refused. */
  readonly earlier: Readonly<Record<string, unknown>>;
}

/** A node of the chart's values.schema.json (draft-07). */
export type ChartSchema = Readonly<Record<string, unknown>>;

export interface SettingSpec<T> {
  /** Null for what only the config file sets. */
  readonly flag: string | null;
  /** The top-level field of the config file; null for what it does not set. */
  readonly configKey: string | null;
  /** The schema of the config file's field. */
  readonly schema?: ConfigSchema;
  /**
   * The chart value ("dns.ttl") and its schema in values.schema.json; without a schema, the
   * field's `schema`. Null for what the chart fixes itself (httpAddr) or does not set.
   */
  readonly helm: { readonly path: string; readonly schema?: ChartSchema } | null;
  /** The value's placeholder in the help ("HOST:PORT") and what it is ("host:port"). */
  readonly value: readonly [name: string, text: string];
  readonly defaultText: string;
  /** The lines under the flag in the help. */
  readonly help: readonly string[];
  /** Lines of the help's config file example, with their comments. */
  readonly example?: readonly (readonly [yaml: string, comment: string])[];
  /** The value when nothing sets it. */
  readonly fallback: (context: SettingContext) => T;
  /** The value from a flag or a variable (text) or the config file; throws SettingsError. */
  readonly parse: (value: unknown, where: string, context: SettingContext) => T;
}

const MANIFESTS_PATH = "the path of a file of Kubernetes manifests";
const TOKEN_PATH = "the path of a ServiceAccount token file";
const KUBECONFIG_PATH = "the path of a kubeconfig file";
export const CONFIG_PATH = "the path of a YAML config file";

const DURATION_VALUE = ["DURATION", "a duration such as 15s or 500ms"] as const;
const NAMESPACE_DEFAULT = `$POD_NAMESPACE, else ${FALLBACK_NAMESPACE}`;

/**
 * The lease timings as the chart takes them: whole h, m, s and ms parts, the only form the
 * chart's konsul-lb.milliseconds helper converts for its own checks of the timings.
 */
const CHART_TIMING_PATTERN = "^([0-9]+(ms|h|m|s))+$";

/** <prefix>-<shard> must be a name, and the prefix a label value. */
const STATE_PREFIX_MAX_LENGTH = 57;

function fail(where: string, value: unknown, allowed: string, reason?: string): never {
  throw new SettingsError(notAllowedMessage(where, value, allowed, reason));
}

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

/** A cap on what the server holds at once, with a Helm value under `operator`. */
function limitRow(
  flag: string,
  configKey: string,
  fallback: number,
  description: string,
  help: readonly string[],
) {
  return {
    flag,
    configKey,
    schema: { type: "integer", minimum: 1, maximum: MAX_LIMIT_SETTING, description },
    helm: { path: `operator.${configKey}` },
    value: ["N", LIMIT_ALLOWED],
    defaultText: String(fallback),
    help,
    example: [[`${configKey}: ${fallback}`, ""]],
    fallback: (): number => fallback,
    parse: parseLimit,
  } as const satisfies SettingSpec<number>;
}

function hostPort(value: unknown, where: string): HostPort {
  return typeof value === "string"
    ? parseHostPort(value, where)
    : fail(where, value, HOST_PORT_ALLOWED);
}

function timing(
  flag: string,
  helm: { readonly path: string; readonly description: string },
  defaultMs: number,
  help: readonly string[],
): SettingSpec<number> {
  const description = `${helm.description} (${formatDuration(defaultMs)}).`;
  return {
    flag,
    configKey: null,
    helm: {
      path: helm.path,
      schema: { type: "string", description, pattern: CHART_TIMING_PATTERN },
    },
    value: DURATION_VALUE,
    defaultText: formatDuration(defaultMs),
    help,
    fallback: () => defaultMs,
    parse: parsePositiveDuration,
  };
}

/** The rows, in the order of the help; each row's reading may use the rows above it. */
export const SETTINGS = {
  file: {
    flag: "file",
    configKey: null,
    helm: null,
    value: ["PATH", MANIFESTS_PATH],
    defaultText: "none (watch the Kubernetes API)",
    help: [
      "Serve the Services, EndpointSlices, Pods, Nodes and LoadBalancingPolicies in this",
      "file of Kubernetes manifests instead of watching a cluster (standalone mode).",
    ],
    fallback: (): string | null => null,
    parse: (value, where): string | null => parsePath(value, where, MANIFESTS_PATH),
  },
  source: {
    flag: "source",
    configKey: null,
    helm: null,
    value: ["SOURCE", "file or kubernetes"],
    defaultText: "file with --file, else kubernetes",
    help: [
      "Where services come from: the manifest file given by --file, or the Kubernetes API",
      "(in-cluster configuration, or --kubeconfig).",
    ],
    fallback: ({ earlier }): SourceKind => (fileOf(earlier) === null ? "kubernetes" : "file"),
    parse: (value, where, { earlier }): SourceKind => {
      const file = fileOf(earlier);
      if (!SOURCE_KINDS.includes(value as SourceKind))
        fail(where, value, SOURCE_KINDS.join(" or "));
      if (value === "file" && file === null) {
        fail(
          where,
          value,
          "kubernetes, or a manifest file given with --file or KONSUL_LB_FILE",
          "no --file",
        );
      }
      if (value === "kubernetes" && file !== null) {
        fail(where, value, "file when --file (or KONSUL_LB_FILE) is given", "--file is set too");
      }
      return value as SourceKind;
    },
  },
  kubeconfig: {
    flag: "kubeconfig",
    configKey: null,
    helm: null,
    value: ["PATH", KUBECONFIG_PATH],
    defaultText: "in-cluster, else KUBECONFIG",
    help: [
      "Kubeconfig of the cluster to watch, with --source kubernetes. Without it: the",
      "in-cluster service account when running in a pod, else $KUBECONFIG or ~/.kube/config.",
    ],
    fallback: (): string | null => null,
    parse: (value, where): string | null => parsePath(value, where, KUBECONFIG_PATH),
  },
  config: {
    flag: "config",
    configKey: null,
    helm: null,
    value: ["PATH", CONFIG_PATH],
    defaultText: "none",
    help: [
      "YAML config file with the settings below and the defaults for policies (see",
      '"Config file").',
    ],
    fallback: (): string | null => null,
    parse: (value, where): string | null => parsePath(value, where, CONFIG_PATH),
  },
  "http-addr": {
    flag: "http-addr",
    configKey: "httpAddr",
    schema: { type: "string", expected: HOST_PORT_ALLOWED },
    // The chart fixes the address: its probes, Service and NetworkPolicy name port 8080.
    helm: null,
    value: ["HOST:PORT", "host:port"],
    defaultText: DEFAULT_HTTP_ADDR,
    help: [
      "Address the HTTP server listens on. Write IPv6 addresses in brackets ([::1]:8080).",
      "Port 0 takes any free port.",
    ],
    example: [[`httpAddr: ${DEFAULT_HTTP_ADDR}`, ""]],
    fallback: (): HostPort => parseHostPort(DEFAULT_HTTP_ADDR, "default"),
    parse: hostPort,
  },
  "internal-addr": {
    flag: "internal-addr",
    configKey: "internalAddr",
    schema: { type: "string", expected: HOST_PORT_ALLOWED },
    // The chart sets it from internalApi.port, which its NetworkPolicy and probes name too.
    helm: null,
    value: ["HOST:PORT", "host:port"],
    defaultText: DEFAULT_INTERNAL_ADDR,
    help: [
      "Address the internal API listens on (replica to replica: forwarded connection",
      "changes, reconcile, HA status), with leader election only. Every call needs the",
      "operator's own ServiceAccount token. Never the public port.",
    ],
    example: [[`internalAddr: ${DEFAULT_INTERNAL_ADDR}`, "with leader election only"]],
    fallback: (): HostPort => parseHostPort(DEFAULT_INTERNAL_ADDR, "default"),
    parse: hostPort,
  },
  "default-strategy": {
    flag: "default-strategy",
    configKey: "defaultStrategy",
    schema: {
      type: "string",
      enum: STRATEGY_NAMES,
      description: "Strategy of services whose policy names none; must be enabled.",
    },
    helm: { path: "operator.defaultStrategy" },
    value: ["NAME", "a strategy name"],
    defaultText: DEFAULT_STRATEGY,
    help: [
      "Strategy of services whose policy names none; must be enabled. One of:",
      ...wrap(STRATEGY_NAMES.join(", "), 70),
    ],
    example: [[`defaultStrategy: ${DEFAULT_STRATEGY}`, ""]],
    fallback: (): StrategyName => DEFAULT_STRATEGY,
    parse: (value, where): StrategyName =>
      isStrategyName(value) ? value : fail(where, value, `one of ${STRATEGY_NAMES.join(", ")}`),
  },
  "log-level": {
    flag: "log-level",
    configKey: "logLevel",
    schema: { type: "string", enum: LOG_LEVELS },
    helm: { path: "operator.logLevel" },
    value: ["LEVEL", "a log level"],
    defaultText: DEFAULT_LOG_LEVEL,
    help: [`One of ${LOG_LEVELS.join(", ")}.`],
    example: [[`logLevel: ${DEFAULT_LOG_LEVEL}`, ""]],
    fallback: (): LogLevel => DEFAULT_LOG_LEVEL,
    parse: (value, where): LogLevel =>
      isLogLevel(value) ? value : fail(where, value, `one of ${LOG_LEVELS.join(", ")}`),
  },
  "trust-proxy": {
    flag: "trust-proxy",
    configKey: "trustProxy",
    schema: {
      type: ["boolean", "integer", "string", "array"],
      minimum: 0,
      minItems: 1,
      items: { type: "string", expected: TRUST_PROXY_ENTRY_ALLOWED },
      expected: `${TRUST_PROXY_ALLOWED}; or a list of them`,
    },
    // The chart also refuses an empty string or entry, which the server reports with its reason.
    helm: {
      path: "operator.trustProxy",
      schema: {
        type: ["boolean", "integer", "string", "array"],
        description:
          "false, true, a hop count, or trusted proxies: addresses, CIDR ranges and loopback, " +
          "linklocal, uniquelocal (a comma-separated string or a list).",
        minimum: 0,
        minLength: 1,
        minItems: 1,
        items: { type: "string", minLength: 1 },
      },
    },
    value: ["VALUE", "false, true, a hop count or a list of proxies"],
    defaultText: String(DEFAULT_TRUST_PROXY),
    help: [
      "Which proxies' X-Forwarded-For to believe for the client IP (ip-hash): false, true,",
      "a hop count, or a comma-separated list of addresses, CIDR ranges and the names",
      "loopback, linklocal, uniquelocal (e.g. loopback,10.0.0.0/8).",
    ],
    example: [[`trustProxy: ${DEFAULT_TRUST_PROXY}`, "or a hop count, or [loopback, 10.0.0.0/8]"]],
    fallback: (): boolean | number | string => DEFAULT_TRUST_PROXY,
    parse: (value, where): boolean | number | string => {
      if (typeof value === "boolean") return value;
      if (typeof value === "number") {
        return Number.isSafeInteger(value) && value >= 0
          ? value
          : fail(where, value, TRUST_PROXY_ALLOWED);
      }
      if (Array.isArray(value)) return parseTrustedProxies(value, value, where);
      return parseTrustProxy(value as string, where);
    },
  },
  healthFilter: {
    flag: null,
    configKey: "healthFilter",
    schema: {
      type: "boolean",
      description: "Whether unhealthy endpoints are left out, for policies that do not say.",
    },
    helm: { path: "operator.healthFilter" },
    value: ["BOOL", "true or false"],
    defaultText: String(DEFAULT_HEALTH_FILTER),
    help: [],
    example: [[`healthFilter: ${DEFAULT_HEALTH_FILTER}`, "for services whose policy does not say"]],
    fallback: (): boolean => DEFAULT_HEALTH_FILTER,
    parse: (value): boolean => value as boolean,
  },
  strategies: {
    flag: null,
    configKey: "strategies",
    schema: STRATEGIES_SCHEMA,
    helm: { path: "operator.strategies" },
    value: ["MAP", "a map of strategy name to its settings"],
    defaultText: "every strategy enabled",
    help: [],
    example: [
      ["strategies:", "by strategy name; a strategy not listed is enabled"],
      [`  ring-hash: {virtualNodes: ${DEFAULT_VIRTUAL_NODES}}`, "for policies that set none"],
      ["  ip-hash: {enabled: false}", "policies may not use it"],
      ["  latency-based:", "for policies that give no map"],
      ["    latencyMap: {us-east: {us-east: 1ms, eu-west: 80ms}}", ""],
    ],
    fallback: (): StrategyDefaults => strategyDefaults({}),
    parse: (value): StrategyDefaults => strategyDefaults(value as StrategiesConfig),
  },
  "dns-addr": {
    flag: "dns-addr",
    configKey: "dnsAddr",
    schema: { type: "string", expected: HOST_PORT_ALLOWED },
    // The chart fixes the address (container port 5353) and sets it with dns.enabled.
    helm: null,
    value: ["HOST:PORT", "host:port"],
    defaultText: "none (no DNS server)",
    help: [
      "Also answer DNS queries, on UDP and TCP at this address (e.g. 0.0.0.0:5353):",
      "<service>.<namespace>.<domain> for A/AAAA, _<port>._tcp.<service>.<namespace>.<domain>",
      "for SRV. Port 0 takes any free port.",
    ],
    example: [["dnsAddr: 0.0.0.0:5353", "absent: no DNS server"]],
    fallback: (): HostPort | null => null,
    parse: (value, where): HostPort | null => hostPort(value, where),
  },
  "dns-domain": {
    flag: "dns-domain",
    configKey: "dnsDomain",
    schema: { type: "string", expected: DNS_DOMAIN_ALLOWED },
    helm: {
      path: "dns.domain",
      schema: {
        type: "string",
        description: "The domain the names live under; trailing dot optional.",
        pattern: DNS_DOMAIN_PATTERN,
        maxLength: 254,
      },
    },
    value: ["DOMAIN", "a DNS domain"],
    defaultText: `${DEFAULT_DNS_DOMAIN}.`,
    help: ["The domain the DNS names live under; names outside it are REFUSED."],
    example: [[`dnsDomain: ${DEFAULT_DNS_DOMAIN}`, ""]],
    fallback: (): string => DEFAULT_DNS_DOMAIN,
    parse: (value, where): string => parseDnsDomain(String(value), where),
  },
  "dns-ttl": {
    flag: "dns-ttl",
    configKey: "dnsTtl",
    schema: {
      type: ["integer", "string"],
      minimum: 0,
      maximum: MAX_DNS_TTL_SECONDS,
      expected: DNS_TTL_ALLOWED,
    },
    helm: {
      path: "dns.ttl",
      schema: {
        type: ["integer", "string"],
        description: `Seconds (5) or a duration of whole seconds (5s, 1m), 0 to ${MAX_DNS_TTL_SECONDS} seconds.`,
        minimum: 0,
        maximum: MAX_DNS_TTL_SECONDS,
        pattern: DNS_TTL_PATTERN,
      },
    },
    value: ["TTL", "seconds or a duration"],
    defaultText: `${DEFAULT_DNS_TTL_SECONDS}s`,
    help: [
      "TTL of DNS answers that stay the same from query to query (hash and latency-based",
      "strategies, negative answers); rotating strategies always answer with TTL 0.",
    ],
    example: [[`dnsTtl: ${DEFAULT_DNS_TTL_SECONDS}s`, "or a number of seconds"]],
    fallback: (): number => DEFAULT_DNS_TTL_SECONDS,
    parse: parseDnsTtl,
  },
  "dns-max-answers": {
    flag: "dns-max-answers",
    configKey: "dnsMaxAnswers",
    schema: {
      type: "integer",
      minimum: 1,
      maximum: MAX_DNS_ANSWERS,
      description: "The most records in one answer.",
    },
    helm: { path: "dns.maxAnswers" },
    value: ["COUNT", "a number of records"],
    defaultText: String(DEFAULT_DNS_MAX_ANSWERS),
    help: ["The most A/AAAA or SRV records in one DNS answer, best first."],
    example: [[`dnsMaxAnswers: ${DEFAULT_DNS_MAX_ANSWERS}`, ""]],
    fallback: (): number => DEFAULT_DNS_MAX_ANSWERS,
    parse: parseDnsMaxAnswers,
  },
  "max-connections": limitRow(
    "max-connections",
    "maxConnections",
    DEFAULT_MAX_CONNECTIONS,
    "Open connections counted at most, across services (429 TooManyConnections beyond).",
    [
      "Open connections (POST .../connections) counted at most, across services; one more",
      "is refused with 429 TooManyConnections and Retry-After.",
    ],
  ),
  "max-connections-per-service": limitRow(
    "max-connections-per-service",
    "maxConnectionsPerService",
    DEFAULT_MAX_CONNECTIONS_PER_SERVICE,
    "Open connections counted at most per service.",
    ["Open connections counted at most per service; one more is refused as above."],
  ),
  "max-blocking-waiters": limitRow(
    "max-blocking-waiters",
    "maxBlockingWaiters",
    DEFAULT_MAX_WAITERS,
    "Blocking queries waiting at most at once (429 TooManyWaiters beyond).",
    [
      "Blocking queries (index=) waiting at most at once; one more is refused with 429",
      "TooManyWaiters and Retry-After.",
    ],
  ),
  "table-build-workers": {
    flag: "table-build-workers",
    configKey: "tableBuildWorkers",
    schema: {
      type: "integer",
      minimum: 0,
      maximum: MAX_TABLE_BUILD_WORKERS,
      description:
        "Worker threads that build big ring-hash and Maglev tables off the event loop; 0 = on it.",
    },
    helm: { path: "operator.tableBuildWorkers" },
    value: ["N", TABLE_BUILD_WORKERS_ALLOWED],
    defaultText: String(DEFAULT_TABLE_BUILD_WORKERS),
    help: [
      "Worker threads that rebuild big ring-hash and Maglev tables of a changed service, so",
      "that other services' answers do not wait for them (the old table serves meanwhile);",
      "0 builds every table on the event loop.",
    ],
    example: [[`tableBuildWorkers: ${DEFAULT_TABLE_BUILD_WORKERS}`, ""]],
    fallback: (): number => DEFAULT_TABLE_BUILD_WORKERS,
    parse: parseTableBuildWorkers,
  },
  "status-page": {
    flag: "status-page",
    configKey: null,
    helm: {
      path: "statusPage.enabled",
      schema: {
        type: "boolean",
        description: "Serve the read-only status page at /ui on the HTTP port.",
      },
    },
    value: ["BOOL", "true or false"],
    defaultText: String(DEFAULT_STATUS_PAGE),
    help: [
      "Serve the read-only status page at /ui: services, policies, endpoints, the share of",
      "recent picks and the simulator's chart of each policy.",
    ],
    fallback: (): boolean => DEFAULT_STATUS_PAGE,
    parse: (value, where): boolean => parseSwitch(value, where),
  },
  "xds-addr": {
    flag: "xds-addr",
    configKey: "xdsAddr",
    schema: { type: "string", expected: HOST_PORT_ALLOWED },
    // The chart fixes the address (container port 18000) and sets it with xds.enabled.
    helm: null,
    value: ["HOST:PORT", "host:port"],
    defaultText: "none (no xDS server)",
    help: [
      "Also serve the policies over xDS (ADS, gRPC) at this address (e.g. 0.0.0.0:18000),",
      "for proxyless gRPC clients (xds:///<service>.<namespace>) and Envoy.",
      "Port 0 takes any free port.",
    ],
    example: [["xdsAddr: 0.0.0.0:18000", "absent: no xDS server"]],
    fallback: (): HostPort | null => null,
    parse: (value, where): HostPort | null => hostPort(value, where),
  },
  "leader-elect": {
    flag: "leader-elect",
    configKey: null,
    helm: {
      path: "leaderElection.enabled",
      schema: {
        type: "boolean",
        description: "Elect a leader through a Lease; false: one replica writes alone.",
      },
    },
    value: ["BOOL", "true or false"],
    defaultText: "true with --source kubernetes",
    help: [
      "Run as one of several replicas: a leader elected through a Lease writes policy status",
      "and the shared balancer state; every replica serves. false: this replica writes alone.",
    ],
    fallback: ({ earlier }): boolean => earlier.source === "kubernetes",
    parse: (value, where, { earlier }): boolean => {
      const elect = parseSwitch(value, where);
      if (elect && earlier.source === "file") {
        fail(where, value, "false with --source file", "a file has no Lease");
      }
      return elect;
    },
  },
  "lease-namespace": {
    flag: "lease-namespace",
    configKey: null,
    // The chart's release namespace, through POD_NAMESPACE.
    helm: null,
    value: ["NAMESPACE", "a namespace name"],
    defaultText: NAMESPACE_DEFAULT,
    help: ["Namespace of the leader Lease: the operator's own."],
    fallback: ({ env }): string => podNamespace(env),
    parse: (value, where): string =>
      parseKubernetesName(value, where, "label", DNS_1123_LABEL_MAX_LENGTH),
  },
  "lease-name": {
    flag: "lease-name",
    configKey: null,
    helm: {
      path: "leaderElection.leaseName",
      schema: {
        type: "string",
        pattern: DNS_1123_SUBDOMAIN_PATTERN,
        maxLength: DNS_1123_SUBDOMAIN_MAX_LENGTH,
      },
    },
    value: ["NAME", "a Lease name"],
    defaultText: DEFAULT_LEASE_NAME,
    help: ["Name of the coordination.k8s.io/v1 Lease the replicas elect a leader with."],
    fallback: (): string => DEFAULT_LEASE_NAME,
    parse: (value, where): string =>
      parseKubernetesName(value, where, "subdomain", DNS_1123_SUBDOMAIN_MAX_LENGTH),
  },
  "lease-duration": timing(
    "lease-duration",
    {
      path: "leaderElection.leaseDuration",
      description: "Whole seconds, written with h, m, s and ms parts; longer than renewDeadline",
    },
    DEFAULT_LEASE_DURATION_MS,
    [
      "How long followers wait, after they last saw the Lease change, before taking it over.",
      "Whole seconds; longer than --renew-deadline.",
    ],
  ),
  "renew-deadline": timing(
    "renew-deadline",
    { path: "leaderElection.renewDeadline", description: "Longer than retryPeriod" },
    DEFAULT_RENEW_DEADLINE_MS,
    ["A leader that has not renewed for this long stops acting as leader."],
  ),
  "retry-period": timing(
    "retry-period",
    {
      path: "leaderElection.retryPeriod",
      description: "How often the leader renews and followers look",
    },
    DEFAULT_RETRY_PERIOD_MS,
    ["How often the leader renews and followers look at the Lease."],
  ),
  "state-namespace": {
    flag: "state-namespace",
    configKey: null,
    helm: null,
    value: ["NAMESPACE", "a namespace name"],
    defaultText: "the lease namespace",
    help: ["Namespace of the ConfigMaps that hold the replicated balancer state."],
    fallback: ({ earlier, env }): string =>
      (earlier["lease-namespace"] as string | undefined) ?? podNamespace(env),
    parse: (value, where): string =>
      parseKubernetesName(value, where, "label", DNS_1123_LABEL_MAX_LENGTH),
  },
  "state-configmap-prefix": {
    flag: "state-configmap-prefix",
    configKey: null,
    helm: {
      path: "state.configMapPrefix",
      schema: {
        type: "string",
        description: "State ConfigMaps are <prefix>-0, <prefix>-1, ...",
        pattern: DNS_1123_LABEL_PATTERN,
        maxLength: STATE_PREFIX_MAX_LENGTH,
      },
    },
    value: ["PREFIX", `a DNS label of up to ${STATE_PREFIX_MAX_LENGTH} characters`],
    defaultText: DEFAULT_STATE_PREFIX,
    help: ["The state ConfigMaps are <prefix>-0, <prefix>-1, ... (one per shard)."],
    fallback: (): string => DEFAULT_STATE_PREFIX,
    parse: (value, where): string =>
      parseKubernetesName(value, where, "label", STATE_PREFIX_MAX_LENGTH),
  },
  "state-interval": {
    flag: "state-interval",
    configKey: null,
    helm: {
      path: "state.interval",
      schema: {
        type: "string",
        description: "At most one write per state ConfigMap this often (1s).",
        pattern: DURATION_PATTERN,
      },
    },
    value: DURATION_VALUE,
    defaultText: formatDuration(DEFAULT_STATE_INTERVAL_MS),
    help: [
      "The leader writes each state ConfigMap at most this often, changes in between",
      "coalesced; a new leader continues from at most this long ago.",
    ],
    fallback: (): number => DEFAULT_STATE_INTERVAL_MS,
    parse: parsePositiveDuration,
  },
  "connection-durability": {
    flag: "connection-durability",
    configKey: null,
    helm: {
      path: "state.connectionDurability",
      schema: {
        type: "string",
        enum: [...CONNECTION_DURABILITIES],
        description:
          "When the leader acknowledges a connection open or release made on it: interval (at once; " +
          "lost if it crashes within one state interval) or write (once a state write holds it).",
      },
    },
    value: ["MODE", "interval or write"],
    defaultText: DEFAULT_CONNECTION_DURABILITY,
    help: [
      "interval: the leader answers an open or release at once, and a crash within one state",
      "interval may lose it; write: it answers once a state write holding the change has",
      "landed (503 Unavailable, the open undone, when none lands within 5s).",
    ],
    fallback: (): ConnectionDurability => DEFAULT_CONNECTION_DURABILITY,
    parse: (value, where): ConnectionDurability =>
      (CONNECTION_DURABILITIES as readonly unknown[]).includes(value)
        ? (value as ConnectionDurability)
        : fail(where, value, `one of ${CONNECTION_DURABILITIES.join(", ")}`),
  },
  "owner-configmap": {
    flag: "owner-configmap",
    configKey: null,
    // The chart names its config ConfigMap.
    helm: null,
    value: ["NAME", "a ConfigMap name"],
    defaultText: "none (they stay until deleted)",
    help: [
      "A ConfigMap in the lease namespace made the owner of the Lease and the state",
      "ConfigMaps there, so that deleting it (helm uninstall) has Kubernetes' garbage",
      "collector remove them. The Helm chart names its config ConfigMap.",
    ],
    fallback: (): string | null => null,
    parse: (value, where): string | null =>
      parseKubernetesName(value, where, "subdomain", DNS_1123_SUBDOMAIN_MAX_LENGTH),
  },
  "advertise-url": {
    flag: "advertise-url",
    configKey: null,
    helm: null,
    value: ["URL", "an http or https URL"],
    defaultText: "http://$POD_IP:<port>, else the address bound",
    help: [
      "Where other replicas reach this one's internal API (followers forward connection changes).",
    ],
    fallback: (): string | null => null,
    parse: (value, where): string | null => parseHttpUrl(value, where),
  },
  "token-file": {
    flag: "token-file",
    configKey: null,
    // The chart mounts the ServiceAccount token where Kubernetes puts it.
    helm: null,
    value: ["PATH", TOKEN_PATH],
    defaultText: DEFAULT_TOKEN_FILE,
    help: [
      "The ServiceAccount token this replica sends to other replicas' internal API, re-read",
      "when it rotates. Its identity (by TokenReview) is the only one the internal API admits.",
    ],
    fallback: (): string => DEFAULT_TOKEN_FILE,
    parse: (value, where): string => parsePath(value, where, TOKEN_PATH),
  },
} as const satisfies Readonly<Record<string, SettingSpec<unknown>>>;

function fileOf(earlier: SettingContext["earlier"]): string | null {
  // A refused --file (undefined) counts as none, so that --source is judged on its own.
  return (earlier.file as string | null | undefined) ?? null;
}

function podNamespace(env: SettingContext["env"]): string {
  return env.POD_NAMESPACE || FALLBACK_NAMESPACE;
}

export type SettingName = keyof typeof SETTINGS;
type Row = (typeof SETTINGS)[SettingName];
/** What a row reads into. */
export type SettingValue<K extends SettingName> = ReturnType<(typeof SETTINGS)[K]["fallback"]>;
export type SettingValues = { readonly [K in SettingName]: SettingValue<K> };
export type ConfigKey = NonNullable<Row["configKey"]>;

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

export function spec(name: SettingName): SettingSpec<unknown> {
  return SETTINGS[name];
}

/** KONSUL_LB_LOG_LEVEL for --log-level. */
export function envName(flag: string): string {
  return `${ENV_PREFIX}${flag.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * The config file's fields in the order the file's messages, schema and help example list
 * them, which is not quite the order of the flags.
 */
export const CONFIG_KEYS = [
  "httpAddr",
  "internalAddr",
  "logLevel",
  "trustProxy",
  "defaultStrategy",
  "healthFilter",
  "strategies",
  "dnsAddr",
  "dnsDomain",
  "dnsTtl",
  "dnsMaxAnswers",
  "xdsAddr",
  "maxConnections",
  "maxConnectionsPerService",
  "maxBlockingWaiters",
  "tableBuildWorkers",
] as const satisfies readonly ConfigKey[];

/** The row of each config file field. */
export const ROW_OF_CONFIG_KEY: ReadonlyMap<ConfigKey, SettingName> = new Map(
  SETTING_NAMES.flatMap((name) => {
    const key = SETTINGS[name].configKey;
    return key === null ? [] : [[key, name] as const];
  }),
);

// Every field of the table is listed above, once.
if (
  CONFIG_KEYS.length !== ROW_OF_CONFIG_KEY.size ||
  !CONFIG_KEYS.every((key) => ROW_OF_CONFIG_KEY.has(key))
) {
  throw new Error(
    `CONFIG_KEYS must list the table's config keys: ${[...ROW_OF_CONFIG_KEY.keys()]}`,
  );
}
