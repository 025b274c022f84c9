/**
 * `locality.distribute` (Istio's): for callers from a locality, explicit shares of their requests
 * per destination locality. A locality is written `region`, `region/zone`, `region/*` or `*`.
 * A destination with no usable endpoint (the panic threshold, per destination) gives its share
 * to the others in proportion; with none usable, the tiers decide as without the rule.
 */
import { type Endpoint, isHealthy } from "../../endpoint.ts";
import { invalid } from "../../strategies/shared/settings-check.ts";
import { type CallerLocality, type HealthSettings, isUsable, type Tier } from "./tiers.ts";

export const MAX_DISTRIBUTE_RULES = 16;
export const MAX_DISTRIBUTE_TARGETS = 16;
/** region, region/zone, region/* or *: no empty part, no "/" or "*" inside a name. */
export const LOCALITY_PATTERN = "^(\\*|[^/*]+(/(\\*|[^/*]+))?)$";
const PATTERN = new RegExp(LOCALITY_PATTERN);

export interface DistributeRule {
  readonly from: string;
  /** Percent of the requests by destination locality; they add up to 100. */
  readonly to: Readonly<Record<string, number>>;
}

interface Place {
  readonly region?: string | null | undefined;
  readonly zone?: string | null | undefined;
}

/** Whether `place` is within the locality `pattern`. */
export function matchesLocality(pattern: string, place: Place): boolean {
  if (pattern === "*") return true;
  const [region, zone] = pattern.split("/");
  if (place.region !== region) return false;
  return zone === undefined || zone === "*" || place.zone === zone;
}

/** Checks the rules, throwing InvalidPolicy naming the first bad field. */
export function checkDistribute(rules: unknown): readonly DistributeRule[] {
  if (!Array.isArray(rules)) invalid("locality.distribute", rules, "a list of {from, to}");
  if (rules.length > MAX_DISTRIBUTE_RULES) {
    invalid("locality.distribute", `${rules.length} rules`, `at most ${MAX_DISTRIBUTE_RULES}`);
  }
  rules.forEach((rule: Partial<DistributeRule>, i) => {
    const at = `locality.distribute[${i}]`;
    if (typeof rule?.from !== "string" || !PATTERN.test(rule.from)) {
      invalid(`${at}.from`, rule?.from, "a locality: region, region/zone, region/* or *");
    }
    const to = rule.to;
    if (typeof to !== "object" || to === null || Object.keys(to).length === 0) {
      invalid(`${at}.to`, to, "a map of locality to percent");
    }
    const entries = Object.entries(to);
    if (entries.length > MAX_DISTRIBUTE_TARGETS) {
      invalid(`${at}.to`, `${entries.length} localities`, `at most ${MAX_DISTRIBUTE_TARGETS}`);
    }
    for (const [target, percent] of entries) {
      if (!PATTERN.test(target)) {
        invalid(`${at}.to`, target, "localities written region, region/zone, region/* or *");
      }
      if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
        invalid(`${at}.to[${target}]`, percent, "an integer percent from 0 to 100");
      }
    }
    const total = entries.reduce((sum, [, percent]) => sum + percent, 0);
    if (total !== 100)
      invalid(`${at}.to`, `percents adding up to ${total}`, "percents adding up to 100");
  });
  return rules as readonly DistributeRule[];
}

/** The rule for a caller: the first whose `from` holds it; undefined for none. */
export function ruleFor(
  rules: readonly DistributeRule[],
  caller: CallerLocality,
): { readonly rule: DistributeRule; readonly index: number } | undefined {
  const index = rules.findIndex((rule) => matchesLocality(rule.from, caller));
  return index === -1 ? undefined : { rule: rules[index] as DistributeRule, index };
}

/** A rule's destinations over the endpoints, with the share each takes; empty = none usable. */
export function destinations(
  rule: DistributeRule,
  ruleIndex: number,
  endpoints: readonly Endpoint[],
  health: HealthSettings,
): { readonly tier: Tier; readonly share: number }[] {
  const usable = Object.entries(rule.to).flatMap(([pattern, percent], index) => {
    if (percent === 0) return [];
    const members = endpoints.filter((endpoint) => matchesLocality(pattern, endpoint));
    const healthy = health.healthFilter ? members.filter(isHealthy).length : members.length;
    const tier: Tier = { name: `~${ruleIndex}.${index}`, index, endpoints: members, healthy };
    return members.length > 0 && isUsable(tier, health) ? [{ tier, percent }] : [];
  });
  const total = usable.reduce((sum, d) => sum + d.percent, 0);
  return usable.map(({ tier, percent }) => ({ tier, share: percent / total }));
}
