import dnsPacket, { type DecodedPacket, type PacketOpt } from "dns-packet";
import { BalancerManager } from "../../src/balancer/manager.ts";
import type { BalancerPolicy } from "../../src/balancer/policy.ts";
import type { StrategyName } from "../../src/balancer/strategy.ts";
import { Catalog, type CatalogEndpoint, type ServiceEntry } from "../../src/catalog/catalog.ts";
import { Discovery } from "../../src/discovery/discovery.ts";
import { DnsResponder, type DnsResponderOptions } from "../../src/dns/responder.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import type { ParsedPolicy } from "../../src/policy/validate.ts";
import { endpoint as catalogEndpoint } from "../catalog/fixtures.ts";

export const DOMAIN = "lb.konsul.local";

/** A catalog endpoint with no topology and a metrics port, as the DNS tests want it. */
export function endpoint(
  identity: string,
  address: string,
  overrides: Partial<CatalogEndpoint> = {},
): CatalogEndpoint {
  return catalogEndpoint(identity, {
    address,
    ports: { http: 8080, metrics: 9090 },
    zone: null,
    region: null,
    node: null,
    labels: {},
    ...overrides,
  });
}

/** `n` endpoints `${prefix}-i` at 10.9.<k>.<i+1>. */
export function endpoints(
  prefix: string,
  n: number,
  extra: (i: number) => Partial<CatalogEndpoint> = () => ({}),
  subnet = 9,
): CatalogEndpoint[] {
  return Array.from({ length: n }, (_, i) =>
    endpoint(`${prefix}-${i}`, `10.${subnet}.${i >> 8}.${(i & 255) + 1}`, extra(i)),
  );
}

export function policy(
  namespace: string,
  target: string,
  strategy: StrategyName | null,
  balancer: BalancerPolicy = {},
): ParsedPolicy {
  return {
    name: `${target}-lb`,
    namespace,
    creationTimestamp: null,
    targetRef: { kind: "Service", name: target },
    strategy,
    weights: [],
    balancer,
    healthCheck: null,
  };
}

export function service(
  namespace: string,
  name: string,
  list: CatalogEndpoint[],
  strategy: StrategyName | null = null,
  balancer: BalancerPolicy = {},
): ServiceEntry {
  return {
    namespace,
    name,
    endpoints: list,
    policy: strategy === null ? null : policy(namespace, name, strategy, balancer),
  };
}

export const LATENCY = {
  "us-east": { "us-east": 1, "eu-west": 80, "ap-south": 200 },
  "eu-west": { "eu-west": 1, "us-east": 80, "ap-south": 120 },
};

/** The services most DNS tests use. */
export function standardServices(): ServiceEntry[] {
  return [
    service("shop", "web", endpoints("web", 4)),
    service(
      "shop",
      "weighted",
      endpoints("weighted", 3, (i) => ({ weight: [5, 1, 1][i] as number })),
      "weighted-round-robin",
    ),
    service("shop", "sticky", endpoints("sticky", 5), "ring-hash", {
      ringHash: { hashOn: "session-key" },
    }),
    service("shop", "byip", endpoints("byip", 5), "ip-hash"),
    service(
      "shop",
      "near",
      endpoints("near", 6, (i) => ({
        region: ["us-east", "eu-west", "ap-south"][i % 3] as string,
        weight: i + 1,
      })),
      "latency-based",
      { latency: { map: LATENCY } },
    ),
    service("shop", "random", endpoints("random", 4), "random"),
    service("shop", "empty", []),
    service("shop", "six", [
      endpoint("six-0", "fd00::1"),
      endpoint("six-1", "fd00::2"),
      endpoint("six-2", "10.8.0.1"),
    ]),
    service(
      "shop",
      "many",
      endpoints("many", 40, () => ({}), 7),
    ),
    service(
      "shop",
      "partial",
      endpoints("partial", 4, (i) => ({
        ports: (i % 2 === 0 ? { http: 8080, grpc: 9000 + i } : { http: 8080 }) as Record<
          string,
          number
        >,
      })),
    ),
    service("shop", "sick", [
      endpoint("sick-0", "10.6.0.1"),
      endpoint("sick-1", "10.6.0.2", { ready: false }),
      endpoint("sick-2", "10.6.0.3", { terminating: true }),
    ]),
    service("billing", "api", endpoints("api", 2)),
  ];
}

export interface World {
  readonly catalog: Catalog;
  readonly discovery: Discovery;
  readonly metrics: Metrics;
  readonly responder: DnsResponder;
}

export function world(
  services: ServiceEntry[] = standardServices(),
  options: Partial<Omit<DnsResponderOptions, "discovery" | "metrics" | "logger">> & {
    readonly enabledStrategies?: readonly StrategyName[];
  } = {},
): World {
  const catalog = new Catalog();
  catalog.replaceAll(services);
  catalog.markSynced();
  const manager = new BalancerManager(
    options.enabledStrategies ? { enabledStrategies: options.enabledStrategies } : {},
  );
  const metrics = new Metrics(catalog, manager);
  const discovery = new Discovery(catalog, manager, { metrics });
  const responder = new DnsResponder({
    discovery,
    metrics,
    logger: createLogger("silent"),
    domain: options.domain ?? DOMAIN,
    ttl: options.ttl ?? 5,
    maxAnswers: options.maxAnswers ?? 8,
  });
  return { catalog, discovery, metrics, responder };
}

export interface QueryOptions {
  readonly id?: number;
  /** Adds an OPT record (EDNS0) with this UDP payload size. */
  readonly edns?: number;
  readonly ednsVersion?: number;
  readonly options?: PacketOpt[];
  readonly flags?: number;
  readonly class?: "IN" | "CH" | "ANY";
}

/** A query message as a stub resolver sends it. */
export function query(name: string, type: string, options: QueryOptions = {}): Buffer {
  const additionals =
    options.edns === undefined
      ? []
      : [
          {
            name: ".",
            type: "OPT" as const,
            udpPayloadSize: options.edns,
            extendedRcode: 0,
            ednsVersion: options.ednsVersion ?? 0,
            flags: 0,
            flag_do: false,
            options: options.options ?? [],
          },
        ];
  return dnsPacket.encode({
    type: "query",
    id: options.id ?? 4242,
    flags: options.flags ?? dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as "A", class: options.class ?? "IN" }],
    additionals,
  });
}

export type Response = DecodedPacket & { rcode: string };

export function decode(bytes: Buffer): Response {
  return dnsPacket.decode(bytes) as Response;
}

/** Asks the responder directly, as a UDP client at `address` would. */
export function ask(
  responder: DnsResponder,
  message: Buffer,
  address = "192.0.2.10",
  transport: "udp" | "tcp" = "udp",
): Response {
  const bytes = responder.answer(message, { address, transport });
  if (bytes === null) throw new Error("no answer");
  return decode(bytes);
}

/** The data of the answer records of one type, in order. */
export function answerData(response: Response, type = "A"): string[] {
  return (response.answers ?? [])
    .filter((record) => record.type === type)
    .map((record) => String((record as { data: unknown }).data));
}

export function name(service: string, namespace = "shop"): string {
  return `${service}.${namespace}.${DOMAIN}`;
}
