import { connectionSection } from "./connection-settings.ts";
import type { PolicySection, StrategyDefinition } from "./definition.ts";
import { FEATURE_SECTIONS } from "./features/index.ts";
import { ipHash } from "./strategies/ip-hash/index.ts";
import { latencyBased } from "./strategies/latency-based/index.ts";
import { leastConnections } from "./strategies/least-connections/index.ts";
import { leastRequest } from "./strategies/least-request/index.ts";
import { maglev } from "./strategies/maglev/index.ts";
import { random } from "./strategies/random/index.ts";
import { ringHash } from "./strategies/ring-hash/index.ts";
import { roundRobin } from "./strategies/round-robin/index.ts";
import { weightedRandom } from "./strategies/weighted-random/index.ts";
import { weightedRoundRobin } from "./strategies/weighted-round-robin/index.ts";

/**
 * Every strategy the project ships, in the order the API lists them (the CRD's enum, the
 * strategy list in the docs). Adding a strategy: its folder under strategies/ and a line here.
 */
export const BUILT_IN_STRATEGIES = [
  roundRobin,
  weightedRoundRobin,
  random,
  weightedRandom,
  leastConnections,
  leastRequest,
  ipHash,
  ringHash,
  maglev,
  latencyBased,
] as const;

/** The strategy names: the public API and the CRD's enum. */
export type StrategyName = (typeof BUILT_IN_STRATEGIES)[number]["name"];
export const STRATEGY_NAMES: readonly StrategyName[] = BUILT_IN_STRATEGIES.map((s) => s.name);

export function isStrategyName(value: unknown): value is StrategyName {
  return STRATEGY_NAMES.includes(value as StrategyName);
}

/**
 * Sections every policy has whatever strategy runs: the connections API's, then each policy
 * feature's (features/index.ts).
 */
const ENGINE_SECTIONS: readonly PolicySection[] = [connectionSection, ...FEATURE_SECTIONS];

/**
 * A set of strategy definitions, looked up by name. A value, not a global: the server uses
 * DEFAULT_REGISTRY, and a test may build one with more definitions without touching it.
 */
export class StrategyRegistry {
  readonly definitions: readonly StrategyDefinition[];
  /** Names in registration order. */
  readonly names: readonly string[];
  /**
   * Every policy section once: those the strategies own, in registration order, then the
   * engine's own. The CRD's spec lists them in this order.
   */
  readonly sections: readonly PolicySection[];
  private readonly byName: ReadonlyMap<string, StrategyDefinition>;

  constructor(definitions: readonly StrategyDefinition[]) {
    const byName = new Map<string, StrategyDefinition>();
    const sections: PolicySection[] = [];
    for (const definition of definitions) {
      if (byName.has(definition.name)) {
        throw new Error(`strategy ${JSON.stringify(definition.name)} is defined twice`);
      }
      byName.set(definition.name, definition);
      if (definition.settings && !sections.includes(definition.settings)) {
        sections.push(definition.settings);
      }
    }
    for (const section of ENGINE_SECTIONS) if (!sections.includes(section)) sections.push(section);
    const keys = sections.map((section) => section.key);
    const twice = keys.find((key, i) => keys.indexOf(key) !== i);
    if (twice !== undefined) throw new Error(`policy section ${twice} is defined twice`);
    this.definitions = [...definitions];
    this.names = this.definitions.map((definition) => definition.name);
    this.sections = sections;
    this.byName = byName;
  }

  get(name: string): StrategyDefinition | undefined {
    return this.byName.get(name);
  }

  /** A registry with `extra` after this one's definitions. */
  with(...extra: readonly StrategyDefinition[]): StrategyRegistry {
    return new StrategyRegistry([...this.definitions, ...extra]);
  }
}

export const DEFAULT_REGISTRY = new StrategyRegistry(BUILT_IN_STRATEGIES);

/** The registry the server runs with. */
export function defaultRegistry(): StrategyRegistry {
  return DEFAULT_REGISTRY;
}
