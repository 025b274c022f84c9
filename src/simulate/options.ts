/**
 * The flags of `konsul-lb simulate`. Every problem is reported at once, each naming the flag,
 * the value and what is allowed, so that one run shows everything to fix.
 */

import { parseArgs } from "node:util";
import type { StrategyName } from "../balancer/index.ts";
import { isStrategyName, STRATEGY_NAMES } from "../balancer/index.ts";
import { argumentProblem, type CommandFlags } from "../config/arguments.ts";
import { notAllowedMessage } from "../config/values.ts";

export type OutputFormat = "table" | "json" | "svg";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["table", "json", "svg"];

/** A client region and its relative weight in the synthetic traffic. */
export interface RegionWeight {
  readonly region: string;
  readonly weight: number;
}

/** A figure per endpoint identity: a latency in milliseconds, or a failure percentage. */
export interface EndpointFigure {
  readonly identity: string;
  readonly value: number;
}

export interface SimulateOptions {
  readonly file: string;
  readonly namespace: string;
  readonly name: string;
  readonly requests: number;
  readonly clients: number;
  readonly keys: number;
  /** null: the regions of the service's endpoints, equally weighted. */
  readonly regions: readonly RegionWeight[] | null;
  /** The strategies to run, in the order given; null: the service's own strategy. */
  readonly strategies: readonly StrategyName[] | null;
  /** True when the strategies came from --compare: the report puts them side by side. */
  readonly compare: boolean;
  readonly format: OutputFormat;
  /** null: standard output. */
  readonly out: string | null;
  readonly seed: number;
  /** Picks each simulated connection stays open for; 0 = none is held. */
  readonly hold: number;
  /** The policy's subset the requests ask for; null = none named. */
  readonly subset: string | null;
  /** Simulate this endpoint's slow-start ramp instead; null = the ordinary report. */
  readonly ramp: string | null;
  /** Simulated latency of endpoints (others: DEFAULT_LATENCY_MS); null: no outcomes reported. */
  readonly latency: readonly EndpointFigure[] | null;
  /** Percent of an endpoint's requests that fail (others: none); null: no failures. */
  readonly failures: readonly EndpointFigure[] | null;
}

export type SimulateParse =
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "ok"; readonly options: SimulateOptions }
  | { readonly kind: "error"; readonly message: string };

export const DEFAULT_REQUESTS = 100_000;
export const DEFAULT_CLIENTS = 1000;
export const DEFAULT_KEYS = 5000;
export const DEFAULT_SEED = 1;
export const DEFAULT_HOLD = 100;

// Bounds keep a typo (an extra zero or three) from running for hours or exhausting memory:
// every distinct client and key is held as a string and hashed once per removed endpoint.
export const MAX_REQUESTS = 100_000_000;
export const MAX_CLIENTS = 1_000_000;
export const MAX_KEYS = 1_000_000;
export const MAX_SEED = 0xffff_ffff;
export const MAX_HOLD = 1_000_000;
/** The latency of an endpoint --latency does not name, when outcomes are reported. */
export const DEFAULT_LATENCY_MS = 10;
export const MAX_LATENCY_MS = 3_600_000;

const PARSE_OPTIONS = {
  file: { type: "string" },
  service: { type: "string" },
  requests: { type: "string" },
  clients: { type: "string" },
  keys: { type: "string" },
  regions: { type: "string" },
  strategy: { type: "string" },
  compare: { type: "string" },
  format: { type: "string" },
  out: { type: "string" },
  seed: { type: "string" },
  hold: { type: "string" },
  subset: { type: "string" },
  ramp: { type: "string" },
  latency: { type: "string" },
  failures: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type FlagName = Exclude<keyof typeof PARSE_OPTIONS, "help">;

/** What each flag's value is, for "needs a value" messages. */
const VALUE_TEXT: Readonly<Record<FlagName, string>> = {
  file: "the path of a file of Kubernetes manifests or a `kubectl get -o yaml` dump",
  service: "a service as namespace/name, such as shop/checkout",
  requests: `a whole number of requests from 1 to ${MAX_REQUESTS.toLocaleString("en-US")}`,
  clients: `a whole number of client IPs from 1 to ${MAX_CLIENTS.toLocaleString("en-US")}`,
  keys: `a whole number of session keys from 1 to ${MAX_KEYS.toLocaleString("en-US")}`,
  regions: "client regions with weights, such as us-east=70,eu-west=30",
  strategy: `one of ${STRATEGY_NAMES.join(", ")}`,
  compare: `a comma-separated list of strategies (${STRATEGY_NAMES.join(", ")}), or all`,
  format: `one of ${OUTPUT_FORMATS.join(", ")}`,
  out: "the path of a file to write the report to",
  seed: `a whole number from 0 to ${MAX_SEED}`,
  hold: `a whole number of picks from 0 to ${MAX_HOLD.toLocaleString("en-US")}`,
  subset: "the name of a subset of the service's policy (spec.subsets)",
  ramp: "the identity of an endpoint of the service (its pod name)",
  latency: "endpoints and their latencies in milliseconds, such as web-1=200,web-2=50",
  failures: "endpoints and the percent of their requests that fail, such as web-1=50",
};

const FLAG_NAMES = Object.keys(VALUE_TEXT) as FlagName[];
const ALL_FLAGS = [...FLAG_NAMES.map((flag) => `--${flag}`), "--help"].join(", ");
const SEE_HELP = "see konsul-lb simulate --help";

export const SIMULATE_HELP_TEXT = `${[
  "konsul-lb simulate: run a service's load-balancing policy on synthetic traffic and report",
  "how the requests spread over its endpoints. The service comes from a file of manifests",
  "through the same translation and balancing engine as konsul-lb serve; nothing is contacted.",
  "",
  "Usage:",
  "  konsul-lb simulate --file PATH --service NAMESPACE/NAME [flags]",
  "  konsul-lb simulate --help",
  "",
  "Flags:",
  "  --file PATH",
  "      Kubernetes manifests (multi-document YAML), or the dump of",
  "      kubectl get endpointslices,services,pods,nodes,lbp -A -o yaml. Required.",
  "  --service NAMESPACE/NAME",
  "      The service to simulate. Required.",
  "  --requests COUNT",
  `      Requests to simulate. Default ${DEFAULT_REQUESTS}.`,
  "  --clients COUNT",
  `      Distinct client IPs (10.0.0.1, 10.0.0.2, ...: hash inputs only). Default ${DEFAULT_CLIENTS}.`,
  "  --keys COUNT",
  `      Distinct session keys. Default ${DEFAULT_KEYS}.`,
  "  --regions REGION=WEIGHT,...",
  "      Client regions and their relative weights, such as us-east=70,eu-west=30 (a region",
  "      without =WEIGHT weighs 1). Default: the regions of the service's endpoints, equally.",
  "  --strategy NAME",
  "      Simulate this strategy instead of the service's own. One of:",
  `      ${STRATEGY_NAMES.slice(0, 5).join(", ")},`,
  `      ${STRATEGY_NAMES.slice(5).join(", ")}.`,
  "  --compare NAME,NAME,...",
  "      Simulate several strategies on the same traffic and report them side by side;",
  "      all = every strategy. Not with --strategy.",
  "  --format FORMAT",
  "      table (default; json or svg when --out ends in .json or .svg), json, or svg (a bar",
  "      chart of each endpoint's share against its expected share).",
  "  --out PATH",
  "      Write the report to this file instead of standard output.",
  "  --seed N",
  `      Seed of the traffic and of the engine's random choices. Default ${DEFAULT_SEED}: the same`,
  "      inputs and seed always give the same report.",
  "  --hold PICKS",
  "      Each request opens a connection through the engine that stays open for this many",
  "      later picks (what least-connections, least-request and ring-hash's bounded load",
  `      see). 0 = none held. Default ${DEFAULT_HOLD}.`,
  "  --subset NAME",
  "      Every request asks for this subset of the service's policy (spec.subsets).",
  "  --ramp ENDPOINT",
  "      Simulate the slow-start ramp of this endpoint (the policy must set slowStart): it",
  "      becomes ready at the start of the window, and at each step of the ramp the report",
  "      gives its weight, its share of --requests requests and, for a hash strategy, its",
  "      share of the distinct keys and the keys moved since the previous step against the",
  "      ideal. svg draws the ramp curve.",
  "  -h, --help",
  "      Show this help.",
  "",
  "Each request draws a client, a session key and a client region from the seeded random",
  "source. Hash strategies (ring-hash, maglev, ip-hash) also report how the distinct keys",
  "spread, and for each endpoint the share of keys that move when it is removed.",
  "",
  "Exit codes: 0 done, 1 the file cannot be read or the service has no endpoints,",
  "2 a bad flag or an unknown service.",
  "",
  "Examples:",
  "  konsul-lb simulate --file examples/demo.yaml --service shop/checkout",
  "  konsul-lb simulate --file examples/demo.yaml --service shop/catalog --compare all",
  "  konsul-lb simulate --file examples/demo.yaml --service payments/payments \\",
  "      --regions us-east=70,eu-west=30 --format svg --out payments.svg",
  "  kubectl get endpointslices,services,pods,nodes,lbp -A -o yaml > cluster.yaml",
  "  konsul-lb simulate --file cluster.yaml --service shop/web --format json",
  "  konsul-lb simulate --file examples/demo.yaml --service shop/cart \\",
  "      --compare least-request --latency cart-84d6c-w9k5h=200 --failures cart-84d6c-w9k5h=50",
].join("\n")}\n`;

type Flags = Partial<Record<FlagName, string>> & { help?: boolean };

function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(VALUE_TEXT, name);
}

const SIMULATE_FLAGS: CommandFlags = {
  command: "konsul-lb simulate",
  options: PARSE_OPTIONS,
  allFlags: ALL_FLAGS,
  seeHelp: SEE_HELP,
  describe: (name) => (isFlagName(name) ? { valueText: VALUE_TEXT[name], setBy: "" } : undefined),
};

class FlagProblem extends Error {}

function fail(flag: FlagName, value: unknown, reason?: string): never {
  throw new FlagProblem(notAllowedMessage(`--${flag}`, value, VALUE_TEXT[flag], reason));
}

function wholeNumber(
  flag: FlagName,
  text: string | undefined,
  min: number,
  max: number,
  fallback: number,
): number {
  if (text === undefined) return fallback;
  // Digits only, with optional _ or , separators as people write large counts (100_000).
  if (!/^[0-9][0-9_,]*$/.test(text)) fail(flag, text, "not a whole number");
  const value = Number(text.replaceAll(/[_,]/g, ""));
  if (!Number.isSafeInteger(value) || value < min || value > max) fail(flag, text, "out of range");
  return value;
}

function required(flag: FlagName): never {
  throw new FlagProblem(`--${flag} is required: ${VALUE_TEXT[flag]} (${SEE_HELP})`);
}

function serviceValue(text: string | undefined): { namespace: string; name: string } {
  if (text === undefined) required("service");
  const parts = text.split("/");
  const [namespace = "", name = ""] = parts;
  if (parts.length !== 2 || namespace === "" || name === "") fail("service", text);
  return { namespace, name };
}

const SUBSET_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const REGION_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

function regionsValue(text: string | undefined): RegionWeight[] | null {
  if (text === undefined) return null;
  const regions: RegionWeight[] = [];
  for (const part of text.split(",")) {
    const [region = "", weightText, ...extra] = part.trim().split("=");
    if (extra.length > 0 || !REGION_NAME.test(region)) {
      fail("regions", text, `${JSON.stringify(part)} is not REGION or REGION=WEIGHT`);
    }
    const weight = weightText === undefined ? 1 : Number(weightText);
    if (weightText === "" || !Number.isFinite(weight) || weight <= 0) {
      fail("regions", text, `the weight of ${region} must be a number above 0`);
    }
    if (regions.some((r) => r.region === region)) {
      fail("regions", text, `${region} appears twice`);
    }
    regions.push({ region, weight });
  }
  return regions;
}

/** ENDPOINT=NUMBER pairs; identities are checked against the service once it is loaded. */
function figuresValue(
  flag: "latency" | "failures",
  text: string | undefined,
  max: number,
): EndpointFigure[] | null {
  if (text === undefined) return null;
  const figures: EndpointFigure[] = [];
  for (const part of text.split(",")) {
    const at = part.lastIndexOf("=");
    const identity = part.slice(0, at).trim();
    const valueText = part.slice(at + 1).trim();
    const value = Number(valueText);
    if (at <= 0 || identity === "" || valueText === "" || !Number.isFinite(value)) {
      fail(flag, text, `${JSON.stringify(part)} is not ENDPOINT=NUMBER`);
    }
    if (value < 0 || value > max) {
      fail(flag, text, `the value of ${identity} must be from 0 to ${max}`);
    }
    if (figures.some((f) => f.identity === identity)) {
      fail(flag, text, `${identity} appears twice`);
    }
    figures.push({ identity, value });
  }
  return figures;
}

function strategyValue(text: string): StrategyName {
  if (!isStrategyName(text)) fail("strategy", text);
  return text;
}

function compareValue(text: string): StrategyName[] {
  if (text.trim() === "all") return [...STRATEGY_NAMES];
  const names: StrategyName[] = [];
  for (const raw of text.split(",")) {
    const name = raw.trim();
    if (!isStrategyName(name)) {
      fail("compare", text, `${JSON.stringify(name)} is not a strategy`);
    }
    if (names.includes(name)) fail("compare", text, `${name} appears twice`);
    names.push(name);
  }
  return names;
}

function formatValue(text: string | undefined, out: string | null): OutputFormat {
  if (text === undefined) {
    if (out?.endsWith(".json")) return "json";
    if (out?.endsWith(".svg")) return "svg";
    return "table";
  }
  if (!OUTPUT_FORMATS.includes(text as OutputFormat)) fail("format", text);
  return text as OutputFormat;
}

/** The options of `konsul-lb simulate` from its arguments (those after "simulate"). */
export function parseSimulateArgs(argv: readonly string[]): SimulateParse {
  let flags: Flags;
  try {
    flags = parseArgs({
      args: [...argv],
      options: PARSE_OPTIONS,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    const fallback = error instanceof Error ? error.message : String(error);
    return { kind: "error", message: argumentProblem(argv, fallback, SIMULATE_FLAGS) };
  }
  if (flags.help === true) return { kind: "help", text: SIMULATE_HELP_TEXT };

  const problems: string[] = [];
  const attempt = <T>(parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof FlagProblem)) throw error;
      problems.push(error.message);
      return undefined;
    }
  };
  const file = attempt(() => {
    if (flags.file === undefined) required("file");
    if (flags.file === "") fail("file", flags.file, "empty");
    return flags.file;
  });
  const service = attempt(() => serviceValue(flags.service));
  const requests = attempt(() =>
    wholeNumber("requests", flags.requests, 1, MAX_REQUESTS, DEFAULT_REQUESTS),
  );
  const clients = attempt(() =>
    wholeNumber("clients", flags.clients, 1, MAX_CLIENTS, DEFAULT_CLIENTS),
  );
  const keys = attempt(() => wholeNumber("keys", flags.keys, 1, MAX_KEYS, DEFAULT_KEYS));
  const regions = attempt(() => regionsValue(flags.regions));
  const strategies = attempt((): StrategyName[] | null => {
    if (flags.strategy !== undefined && flags.compare !== undefined) {
      throw new FlagProblem(
        `--strategy ${JSON.stringify(flags.strategy)} and --compare ${JSON.stringify(flags.compare)} ` +
          "are not allowed together; expected --strategy for one strategy or --compare for several",
      );
    }
    if (flags.strategy !== undefined) return [strategyValue(flags.strategy)];
    if (flags.compare !== undefined) return compareValue(flags.compare);
    return null;
  });
  const out = attempt(() => {
    if (flags.out === "") fail("out", flags.out, "empty");
    return flags.out ?? null;
  });
  const format = attempt(() => formatValue(flags.format, out ?? null));
  const seed = attempt(() => wholeNumber("seed", flags.seed, 0, MAX_SEED, DEFAULT_SEED));
  const hold = attempt(() => wholeNumber("hold", flags.hold, 0, MAX_HOLD, DEFAULT_HOLD));
  const subset = attempt(() => {
    if (flags.subset !== undefined && !SUBSET_NAME.test(flags.subset)) fail("subset", flags.subset);
    return flags.subset ?? null;
  });
  const ramp = attempt(() => {
    if (flags.ramp === "") fail("ramp", flags.ramp, "empty");
    if (flags.ramp !== undefined && flags.compare !== undefined) {
      throw new FlagProblem(
        "--ramp and --compare are not allowed together; expected --ramp with at most --strategy",
      );
    }
    return flags.ramp ?? null;
  });
  const latency = attempt(() => figuresValue("latency", flags.latency, MAX_LATENCY_MS));
  const failures = attempt(() => figuresValue("failures", flags.failures, 100));

  if (
    problems.length > 0 ||
    file === undefined ||
    service === undefined ||
    requests === undefined ||
    clients === undefined ||
    keys === undefined ||
    regions === undefined ||
    strategies === undefined ||
    out === undefined ||
    format === undefined ||
    seed === undefined ||
    hold === undefined ||
    subset === undefined ||
    ramp === undefined ||
    latency === undefined ||
    failures === undefined
  ) {
    return { kind: "error", message: problems.join("\n") };
  }
  return {
    kind: "ok",
    options: {
      file,
      ...service,
      requests,
      clients,
      keys,
      regions,
      strategies,
      compare: flags.compare !== undefined,
      format,
      out,
      seed,
      hold,
      subset,
      ramp,
      latency,
      failures,
    },
  };
}
