/**
 * A strategy defined here, in the test, and nowhere else: registering its definition in a
 * registry is all it takes for the CRD, policy resolution, DNS answers and the simulator to
 * know it. The server's own registry stays as it is.
 */
import { describe, expect, it } from "vitest";
import type { PolicySection, StrategyDefinition } from "../../src/balancer/definition.ts";
import type { Endpoint } from "../../src/balancer/endpoint.ts";
import { BalancerError } from "../../src/balancer/errors.ts";
import { BalancerManager } from "../../src/balancer/manager.ts";
import { resolvePolicy } from "../../src/balancer/policy.ts";
import { DEFAULT_REGISTRY, defaultRegistry } from "../../src/balancer/registry.ts";
import type { Picker, StrategyName } from "../../src/balancer/strategy.ts";
import { Catalog } from "../../src/catalog/catalog.ts";
import { Discovery } from "../../src/discovery/discovery.ts";
import { DnsResponder } from "../../src/dns/responder.ts";
import { openApiDocumentOf } from "../../src/http/openapi.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Metrics } from "../../src/observability/metrics.ts";
import { buildCrd, renderCrd } from "../../src/policy/crd.ts";
import { simulate } from "../../src/simulate/simulate.ts";
import { answerData, ask, endpoints, name, policy, query } from "../dns/fixtures.ts";

const NAME = "primary-backup" as StrategyName;

interface PrimaryBackupSettings {
  primaries?: number;
}

/** How many endpoints, first by identity, take the traffic; the rest wait as backups. */
const primaryBackupSection: PolicySection<PrimaryBackupSettings, { primaries: number }> = {
  key: "primaryBackup",
  crd: () => ({
    type: "object",
    description: "Settings of the primary-backup strategy.",
    properties: {
      primaries: { type: "integer", minimum: 1, maximum: 16, default: 1 },
    },
  }),
  resolve(raw, serverDefaults) {
    const primaries = raw?.primaries ?? serverDefaults?.primaries ?? 1;
    if (!Number.isInteger(primaries) || primaries < 1 || primaries > 16) {
      throw new BalancerError(
        "InvalidPolicy",
        `primaryBackup.primaries: ${JSON.stringify(primaries)} is not allowed; expected an integer from 1 to 16`,
      );
    }
    return { primaries };
  },
};

/** The primaries in rotation, then the backups in order. */
class PrimaryBackupPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private readonly primaries: number;
  private next = 0;

  constructor(endpoints: readonly Endpoint[], primaries: number) {
    this.endpoints = endpoints;
    this.primaries = Math.min(primaries, endpoints.length);
  }

  pick(): Endpoint {
    const endpoint = this.endpoints[this.next] as Endpoint;
    this.next = (this.next + 1) % this.primaries;
    return endpoint;
  }

  select(_request: unknown, limit: number): Endpoint[] {
    const all = [...this.endpoints];
    return limit > 0 ? all.slice(0, limit) : all;
  }

  exportState() {
    return {};
  }

  dispose(): void {}
}

const primaryBackup: StrategyDefinition = {
  name: NAME,
  settings: primaryBackupSection,
  traits: {
    variesPerRequest: false,
    srvPriority: "tiers",
    weighted: false,
    hashesOn: () => null,
    expectedShare: "equal",
  },
  build: ({ endpoints, policy }) =>
    new PrimaryBackupPicker(endpoints, (policy.primaryBackup as { primaries: number }).primaries),
  rank: (endpoints, _request, policy) => {
    const { primaries } = policy.primaryBackup as { primaries: number };
    return endpoints.map((_, i) => (i < primaries ? 0 : 1));
  },
};

const registry = DEFAULT_REGISTRY.with(primaryBackup);

function specOf(crd: object): {
  properties: Record<string, { enum?: string[]; properties?: object }>;
} {
  const versions = (crd as { spec: { versions: { schema: { openAPIV3Schema: unknown } }[] } }).spec
    .versions;
  const root = versions[0]?.schema.openAPIV3Schema as {
    properties: { spec: ReturnType<typeof specOf> };
  };
  return root.properties.spec;
}

describe("a strategy defined in one place", () => {
  it("appears in the CRD: the strategy enum and its settings section", () => {
    const spec = specOf(buildCrd(registry));
    expect(spec.properties.strategy?.enum).toEqual([...DEFAULT_REGISTRY.names, NAME]);
    expect(spec.properties.primaryBackup).toEqual(primaryBackupSection.crd({} as never));
    // The sections keep their order; the new one comes after the strategies' own.
    expect(Object.keys(spec.properties)).toEqual([
      "targetRef",
      "strategy",
      "healthFilter",
      "panicThreshold",
      "weights",
      "leastRequest",
      "ringHash",
      "maglev",
      "latency",
      "primaryBackup",
      "leastConnections",
      "outlierDetection",
      "healthCheck",
      "subsets",
      "defaultSubset",
      "slowStart",
      "locality",
    ]);
    // The server's registry is a separate value, untouched.
    expect(defaultRegistry().get(NAME)).toBeUndefined();
    expect(renderCrd()).not.toContain(NAME);
  });

  it("appears in /openapi.json as a strategy a request may name", () => {
    const strategy = (document: ReturnType<typeof openApiDocumentOf>) =>
      document.components.schemas.Strategy.enum;
    expect(strategy(openApiDocumentOf("public", registry))).toEqual([
      ...DEFAULT_REGISTRY.names,
      NAME,
    ]);
    expect(strategy(openApiDocumentOf("public"))).not.toContain(NAME);
  });

  it("has its settings resolved and checked with every other section", () => {
    expect(resolvePolicy({}, registry).primaryBackup).toEqual({ primaries: 1 });
    expect(resolvePolicy({ primaryBackup: { primaries: 3 } }, registry).primaryBackup).toEqual({
      primaries: 3,
    });
    expect(() => resolvePolicy({ primaryBackup: { primaries: 0 } }, registry)).toThrowError(
      /primaryBackup\.primaries: 0 is not allowed; expected an integer from 1 to 16/,
    );
  });

  it("answers DNS queries by its traits: stable TTL, its tiers as SRV priorities", () => {
    const catalog = new Catalog();
    catalog.replaceAll([
      {
        namespace: "shop",
        name: "db",
        endpoints: endpoints("db", 4),
        policy: policy("shop", "db", NAME, { primaryBackup: { primaries: 2 } }),
      },
    ]);
    const manager = new BalancerManager({ registry });
    const metrics = new Metrics(catalog, manager);
    const discovery = new Discovery(catalog, manager, { metrics });
    const responder = new DnsResponder({
      discovery,
      metrics,
      logger: createLogger("silent"),
      domain: "lb.konsul.local",
      ttl: 30,
      maxAnswers: 8,
    });
    const a = ask(responder, query(name("db"), "A"));
    expect(a.rcode).toBe("NOERROR");
    expect(answerData(a)).toEqual(["10.9.0.1", "10.9.0.2", "10.9.0.3", "10.9.0.4"]);
    expect(a.answers?.map((record) => (record as { ttl?: number }).ttl)).toEqual([30, 30, 30, 30]);
    const srv = ask(responder, query(`_http._tcp.${name("db")}`, "SRV"));
    expect(
      (srv.answers ?? []).map((record) => (record as { data: { priority: number } }).data.priority),
    ).toEqual([0, 0, 1, 1]);
    discovery.close();
  });

  it("runs in the simulator, with its expected shares", () => {
    const catalog = new Catalog();
    catalog.replaceAll([
      {
        namespace: "shop",
        name: "db",
        endpoints: endpoints("db", 3),
        policy: policy("shop", "db", NAME, { primaryBackup: { primaries: 3 } }),
      },
    ]);
    const entry = catalog.get("shop", "db");
    if (!entry) throw new Error("no entry");
    const discovery = new Discovery(catalog, new BalancerManager({ registry }));
    const report = simulate(
      { entry, view: discovery.view(entry), warnings: [] },
      {
        file: "inline",
        requests: 300,
        clients: 10,
        keys: 10,
        regions: null,
        strategies: null,
        compare: false,
        seed: 1,
        hold: 0,
        subset: null,
      },
      undefined,
      registry,
    );
    discovery.close();
    expect(report.serviceStrategy).toBe(NAME);
    const [only] = report.strategies;
    expect(only?.strategy).toBe(NAME);
    expect(only?.expectedBasis).toBe("equal");
    expect(only?.endpoints.map((e) => e.requests)).toEqual([100, 100, 100]);
    expect(only?.hash).toBeNull();
  });
});
