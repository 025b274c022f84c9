/**
 * What the DNS answers need to know about one version of a service beyond the balancer's
 * decision, computed once per catalog entry (entries are immutable; a change makes a new one)
 * rather than on every query.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { Endpoint } from "../balancer/index.ts";
import type { CatalogEndpoint, CatalogEntry } from "../catalog/catalog.ts";
import type { Discovery } from "../discovery/discovery.ts";
import { addressLabel, asciiLower } from "./names.ts";

export interface ServiceFacts {
  readonly ipv4: number;
  readonly ipv6: number;
  /** The family of each endpoint address; other addresses (host names) have none. */
  readonly families: ReadonlyMap<string, 4 | 6>;
  /** How many endpoints carry each named port (lowercased). */
  readonly ports: ReadonlyMap<string, number>;
  /** Endpoints by address label, for the names SRV records point at. */
  readonly byLabel: ReadonlyMap<string, CatalogEndpoint>;
  /** Client regions of the latency map (the policy's, else the server's), by lowercased spelling. */
  readonly regions: ReadonlyMap<string, string>;
}

export class ServiceFactsCache {
  private readonly discovery: Discovery;
  private readonly facts = new WeakMap<CatalogEntry, ServiceFacts>();

  constructor(discovery: Discovery) {
    this.discovery = discovery;
  }

  of(entry: CatalogEntry): ServiceFacts {
    let facts = this.facts.get(entry);
    if (facts === undefined) {
      facts = this.compute(entry);
      this.facts.set(entry, facts);
    }
    return facts;
  }

  private compute(entry: CatalogEntry): ServiceFacts {
    let ipv4 = 0;
    let ipv6 = 0;
    const families = new Map<string, 4 | 6>();
    const ports = new Map<string, number>();
    const byLabel = new Map<string, CatalogEndpoint>();
    for (const endpoint of entry.endpoints) {
      if (isIPv4(endpoint.address)) {
        ipv4++;
        families.set(endpoint.address, 4);
      } else if (isIPv6(endpoint.address)) {
        ipv6++;
        families.set(endpoint.address, 6);
      }
      for (const name of Object.keys(endpoint.ports)) {
        if (name === "") continue;
        const key = asciiLower(name);
        ports.set(key, (ports.get(key) ?? 0) + 1);
      }
      byLabel.set(addressLabel(endpoint.address), endpoint);
    }
    return { ipv4, ipv6, families, ports, byLabel, regions: this.regionsOf(entry) };
  }

  /**
   * Client regions of the latency map the balancer decides with (the policy's, else the
   * server's), by lowercased spelling: DNS labels arrive lowercased.
   */
  private regionsOf(entry: CatalogEntry): Map<string, string> {
    let latencyMap: Readonly<Record<string, unknown>>;
    try {
      latencyMap = this.discovery.policyOf(entry).latency.map;
    } catch {
      // A policy the balancer refuses: the decision reports it; no region is known meanwhile.
      latencyMap = {};
    }
    return new Map(Object.keys(latencyMap).map((region) => [asciiLower(region), region]));
  }
}

/** The port of `endpoint` named `port` (compared lowercased), or undefined. */
export function namedPort(endpoint: Endpoint, port: string): number | undefined {
  for (const [name, number] of Object.entries(endpoint.ports)) {
    if (name !== "" && asciiLower(name) === port) return number;
  }
  return undefined;
}
