/**
 * `spec.locality`: prefer endpoints near the caller — same node, zone or region — with ordered
 * failover between those tiers (the panic threshold applied per tier) and an overload guard that
 * spills a local tier's excess share to the next one (tiers.ts). Each tier is balanced by its
 * own picker, built from the same strategy definition, so a ring-hash or Maglev table stays
 * consistent within a tier. A Service's own `spec.trafficDistribution` stands in for the policy
 * when the policy says nothing (fromTrafficDistribution).
 */
import type { ResolvedPolicy } from "../../policy.ts";
import { invalid } from "../../strategies/shared/settings-check.ts";
import type { Narrowing, PolicyFeature, RoutePart, RouteRequest } from "../feature.ts";
import {
  checkDistribute,
  type DistributeRule,
  destinations,
  LOCALITY_PATTERN,
  MAX_DISTRIBUTE_RULES,
  MAX_DISTRIBUTE_TARGETS,
  ruleFor,
} from "./distribute.ts";
import {
  type CallerLocality,
  type GuardSettings,
  LOCALITY_LABEL_KEYS,
  type LocalityLabel,
  planTiers,
  type Tier,
  type TierPlan,
} from "./tiers.ts";

export {
  type CallerLocality,
  isUsable,
  keepShare,
  LOCALITY_LABEL_KEYS,
  type LocalityLabel,
  partitionTiers,
  planTiers,
  type Tier,
  type TierPlan,
} from "./tiers.ts";

export const LOCALITY_MODES = ["PreferSameNode", "PreferSameZone", "PreferSameRegion", "None"];
export type LocalityMode = "PreferSameNode" | "PreferSameZone" | "PreferSameRegion" | "None";

/** The tiers each mode orders, nearest first; the rest of the service always comes last. */
const MODE_LABELS: Readonly<Record<LocalityMode, readonly LocalityLabel[]>> = {
  PreferSameNode: ["node", "zone", "region"],
  PreferSameZone: ["zone", "region"],
  PreferSameRegion: ["region"],
  None: [],
};

/** Kubernetes' Service.spec.trafficDistribution values, as locality modes. */
const TRAFFIC_DISTRIBUTION_MODES: Readonly<Record<string, LocalityMode>> = {
  PreferClose: "PreferSameZone",
  PreferSameZone: "PreferSameZone",
  PreferSameNode: "PreferSameNode",
};

export const DEFAULT_MIN_LOCAL_HEALTHY_PERCENT = 0;
/** Tier plans kept per service version (one per caller locality); beyond it they start afresh. */
export const MAX_TIER_PLANS = 1024;
/** Keeps the spill draw of a hashed key apart from the hash strategies' own use of the key. */
const SPILL_SEED = 0x10ca1;

export const LOCALITY_RULE_MESSAGES = {
  failoverWithoutMode: "failoverPriority cannot be set with mode None",
  distributeWithoutMode: "distribute cannot be set with mode None",
  distributeTotal: "the percents of distribute[].to must add up to 100",
  uniqueLabels: "failoverPriority must not name a label twice",
} as const;

/** spec.locality in the engine's units (the spec's own shape: no units to convert). */
export interface LocalitySettings {
  mode?: LocalityMode;
  failoverPriority?: string[];
  overloadGuard?: boolean;
  minLocalHealthyPercent?: number;
  distribute?: DistributeRule[];
}

export interface ResolvedLocality {
  /** The tiers' labels, nearest first. */
  readonly labels: readonly LocalityLabel[];
  /** Explicit shares for callers of some localities, before the tiers. */
  readonly distribute: readonly DistributeRule[];
  readonly guard: GuardSettings;
}

/** The locality a Service's spec.trafficDistribution asks for; undefined = none. */
export function fromTrafficDistribution(
  value: string | null | undefined,
): LocalitySettings | undefined {
  const mode =
    value === null || value === undefined ? undefined : TRAFFIC_DISTRIBUTION_MODES[value];
  return mode === undefined ? undefined : { mode };
}

export const localityFeature: PolicyFeature = {
  key: "locality",
  crd: () => ({
    locality: {
      type: "object",
      description:
        "Prefer endpoints near the caller. The caller is placed by its address (the pod " +
        "behind it, from the EndpointSlices), else by the client-node, client-zone and " +
        "client-region parameters. Requests go to the nearest tier that is usable under " +
        "panicThreshold, and the overload guard spills the share a tier cannot carry to the " +
        "next tier. Absent: the Service's spec.trafficDistribution, if any, decides.",
      properties: {
        mode: {
          type: "string",
          enum: LOCALITY_MODES,
          default: "PreferSameZone",
          description:
            "PreferSameNode: same node, then zone, then region, then any. PreferSameZone: same " +
            "zone, then region, then any. PreferSameRegion: same region, then any. None: no " +
            "locality, not even the Service's trafficDistribution.",
        },
        failoverPriority: {
          type: "array",
          maxItems: 3,
          description:
            "The tiers in order instead of the mode's, by label: endpoints whose label equals " +
            "the caller's first, then the next label, then any endpoint. One of " +
            `${Object.keys(LOCALITY_LABEL_KEYS).join(", ")}; each at most once.`,
          items: { type: "string", enum: Object.keys(LOCALITY_LABEL_KEYS) },
          "x-kubernetes-validations": [
            {
              rule: "self.all(a, self.exists_one(b, b == a))",
              message: LOCALITY_RULE_MESSAGES.uniqueLabels,
            },
          ],
        },
        overloadGuard: {
          type: "boolean",
          default: true,
          description:
            "Spill the share of requests a tier cannot carry: while the tier holds a smaller " +
            "share of the healthy endpoints than its fair share (the share of the caller's own " +
            "Service's pods in the tier when the caller is placed by its address, else the " +
            "tier's share of all the Service's endpoints; minLocalHealthyPercent if greater), " +
            "it keeps only that ratio of its callers' requests and sends the rest to the next tier.",
        },
        distribute: {
          type: "array",
          maxItems: MAX_DISTRIBUTE_RULES,
          description:
            "Explicit shares, as Istio's distribute: requests of callers from a locality go to " +
            "the localities of to by their percents (adding up to 100), ahead of the tiers. A " +
            "locality is region, region/zone, region/* or *; the first rule whose from holds " +
            "the caller applies. A destination with no usable endpoint gives its share to the " +
            "others.",
          items: {
            type: "object",
            required: ["from", "to"],
            properties: {
              from: {
                type: "string",
                pattern: LOCALITY_PATTERN,
                maxLength: 253,
                description: "The callers' locality: region, region/zone, region/* or *.",
              },
              to: {
                type: "object",
                maxProperties: MAX_DISTRIBUTE_TARGETS,
                description: "Percent of the requests by destination locality.",
                additionalProperties: { type: "integer", minimum: 0, maximum: 100 },
                "x-kubernetes-validations": [
                  {
                    rule: `self.all(k, k.matches(r'${LOCALITY_PATTERN}'))`,
                    message:
                      "the localities of to must be written region, region/zone, region/* or *",
                  },
                  {
                    rule: "self.map(k, self[k]).sum() == 100",
                    message: LOCALITY_RULE_MESSAGES.distributeTotal,
                  },
                ],
              },
            },
          },
        },
        minLocalHealthyPercent: {
          type: "number",
          maximum: 100,
          default: DEFAULT_MIN_LOCAL_HEALTHY_PERCENT,
          description:
            "The least fair share of a tier, in percent of the healthy endpoints: from 0 to 100.",
          "x-kubernetes-validations": [
            {
              rule: "double(self) >= 0.0",
              message: "minLocalHealthyPercent must be from 0 to 100",
            },
          ],
        },
      },
      "x-kubernetes-validations": [
        {
          rule: "!has(self.failoverPriority) || !has(self.mode) || self.mode != 'None'",
          message: LOCALITY_RULE_MESSAGES.failoverWithoutMode,
          fieldPath: ".failoverPriority",
        },
        {
          rule: "!has(self.distribute) || !has(self.mode) || self.mode != 'None'",
          message: LOCALITY_RULE_MESSAGES.distributeWithoutMode,
          fieldPath: ".distribute",
        },
      ],
    },
  }),
  fromSpec(spec, _kit, problems) {
    const written = spec.locality as LocalitySettings | undefined;
    if (written === undefined) return {};
    const labels = written.failoverPriority ?? [];
    labels.forEach((label, index) => {
      if (labels.indexOf(label) !== index) {
        problems.push({
          path: ["locality", "failoverPriority", index],
          value: label,
          allowed: `a label not named before (${LOCALITY_RULE_MESSAGES.uniqueLabels})`,
        });
      }
    });
    if (written.failoverPriority !== undefined && written.mode === "None") {
      problems.push({
        path: ["locality", "failoverPriority"],
        value: written.failoverPriority,
        allowed: `no failoverPriority with mode None (${LOCALITY_RULE_MESSAGES.failoverWithoutMode})`,
      });
    }
    if (written.distribute !== undefined && written.mode === "None") {
      problems.push({
        path: ["locality", "distribute"],
        value: written.distribute,
        allowed: `no distribute with mode None (${LOCALITY_RULE_MESSAGES.distributeWithoutMode})`,
      });
    }
    (written.distribute ?? []).forEach((rule, index) => {
      const to = rule.to ?? {};
      for (const target of Object.keys(to)) {
        if (!new RegExp(LOCALITY_PATTERN).test(target)) {
          problems.push({
            path: ["locality", "distribute", index, "to"],
            value: target,
            allowed: "localities written region, region/zone, region/* or *",
          });
        }
      }
      const total = Object.values(to).reduce((sum, percent) => sum + percent, 0);
      if (total !== 100) {
        problems.push({
          path: ["locality", "distribute", index, "to"],
          value: to,
          allowed: `percents adding up to 100, not ${total} (${LOCALITY_RULE_MESSAGES.distributeTotal})`,
        });
      }
    });
    const percent = written.minLocalHealthyPercent;
    if (percent !== undefined && !(percent >= 0)) {
      problems.push({
        path: ["locality", "minLocalHealthyPercent"],
        value: percent,
        allowed: "a number from 0 to 100",
      });
    }
    return { locality: { ...written } };
  },
  resolve(policy): ResolvedLocality | null {
    const raw = policy.locality as LocalitySettings | undefined | null;
    if (raw === undefined || raw === null) return null;
    if (typeof raw !== "object") invalid("locality", raw, "a map of settings");
    const mode = raw.mode ?? "PreferSameZone";
    if (!LOCALITY_MODES.includes(mode)) {
      invalid("locality.mode", mode, `one of ${LOCALITY_MODES.join(", ")}`);
    }
    const overloadGuard = raw.overloadGuard ?? true;
    if (typeof overloadGuard !== "boolean") {
      invalid("locality.overloadGuard", overloadGuard, "true or false");
    }
    const minLocalHealthyPercent = raw.minLocalHealthyPercent ?? DEFAULT_MIN_LOCAL_HEALTHY_PERCENT;
    if (
      typeof minLocalHealthyPercent !== "number" ||
      !(minLocalHealthyPercent >= 0 && minLocalHealthyPercent <= 100)
    ) {
      invalid("locality.minLocalHealthyPercent", minLocalHealthyPercent, "a number from 0 to 100");
    }
    let labels: readonly LocalityLabel[] = MODE_LABELS[mode];
    if (raw.failoverPriority !== undefined) {
      if (mode === "None") {
        invalid("locality.failoverPriority", raw.failoverPriority, "nothing with mode None");
      }
      if (!Array.isArray(raw.failoverPriority)) {
        invalid("locality.failoverPriority", raw.failoverPriority, "a list of labels");
      }
      labels = raw.failoverPriority.map((key, index) => {
        const label = LOCALITY_LABEL_KEYS[key];
        if (label === undefined || raw.failoverPriority?.indexOf(key) !== index) {
          invalid(
            `locality.failoverPriority[${index}]`,
            key,
            `one of ${Object.keys(LOCALITY_LABEL_KEYS).join(", ")}, each at most once`,
          );
        }
        return label;
      });
    }
    let distribute: readonly DistributeRule[] = [];
    if (raw.distribute !== undefined) {
      if (mode === "None") invalid("locality.distribute", raw.distribute, "nothing with mode None");
      distribute = checkDistribute(raw.distribute);
    }
    if (labels.length === 0) return null;
    return { labels, distribute, guard: { overloadGuard, minLocalHealthyPercent } };
  },
  route: routeToTier,
};

/**
 * The tier a request goes to, as a narrowing of the service, or null for the whole service
 * (no caller locality, or none that changes anything).
 */
function routeToTier(
  policy: ResolvedPolicy,
  request: RouteRequest,
  part: RoutePart,
): Narrowing | null {
  const locality = policy.locality as ResolvedLocality | null;
  if (locality === null) return null;
  const caller: CallerLocality = {
    node: request.clientNode,
    zone: request.clientZone,
    region: request.clientRegion,
  };
  if (locality.distribute.length > 0) {
    const distributed = distributedTo(locality.distribute, caller, part, policy);
    if (distributed !== null) return distributed;
  }
  if (!locality.labels.some((label) => caller[label] !== undefined)) return null;
  const peers = request.callerPeers;
  let plans = part.cache.get(PLANS) as PlanTable | undefined;
  if (plans === undefined) {
    plans = new PlanTable();
    part.cache.set(PLANS, plans);
  }
  const planKeys = [caller.node ?? "", caller.zone ?? "", caller.region ?? "", peers?.key ?? ""];
  let routed = plans.get(planKeys);
  if (routed === undefined) {
    const plan = planTiers(
      part.endpoints(),
      caller,
      locality.labels,
      locality.guard,
      { healthFilter: part.healthFilter, panicThreshold: policy.panicThreshold },
      peers?.endpoints,
    );
    routed = plan === null ? null : routedPlan(plan, part.name);
    plans.set(planKeys, routed);
  }
  if (routed === null) return null;
  if (routed.spill === null || routed.keep >= 1) return routed.local;
  return part.draw(SPILL_SEED) < routed.keep ? routed.local : routed.spill;
}

/** Destinations of a distribute rule, with the running totals of their shares. */
interface DistributedPlan {
  readonly targets: readonly Narrowing[];
  readonly cumulative: readonly number[];
}

/** The destination a distribute rule sends the request to; null = no rule, or none usable. */
function distributedTo(
  rules: readonly DistributeRule[],
  caller: CallerLocality,
  part: RoutePart,
  policy: ResolvedPolicy,
): Narrowing | null {
  const found = ruleFor(rules, caller);
  if (found === undefined) return null;
  const key = `distribute#${found.index}`;
  let plan = part.cache.get(key) as DistributedPlan | undefined;
  if (plan === undefined) {
    const usable = destinations(found.rule, found.index, part.endpoints(), {
      healthFilter: part.healthFilter,
      panicThreshold: policy.panicThreshold,
    });
    let sum = 0;
    plan = {
      targets: usable.map((d) => tierNarrowing(d.tier, part.name)),
      cumulative: usable.map((d) => {
        sum += d.share;
        return sum;
      }),
    };
    part.cache.set(key, plan);
  }
  if (plan.targets.length === 0) return null;
  const point = part.draw(SPILL_SEED);
  const index = plan.cumulative.findIndex((total) => point < total);
  return plan.targets[index === -1 ? plan.targets.length - 1 : index] as Narrowing;
}

const PLANS = "plans";

/**
 * Plans by caller (node, zone, region, the caller's Service), in nested maps: joining the four
 * into one key on every request cost more than the pick. At most MAX_TIER_PLANS; then afresh.
 */
class PlanTable {
  private readonly root = new Map<string, unknown>();
  private size = 0;

  get(keys: readonly string[]): RoutedPlan | null | undefined {
    let level: unknown = this.root;
    for (const key of keys) {
      level = (level as Map<string, unknown>).get(key);
      if (level === undefined) return undefined;
    }
    return level as RoutedPlan | null;
  }

  set(keys: readonly string[], plan: RoutedPlan | null): void {
    if (this.size >= MAX_TIER_PLANS) {
      this.root.clear();
      this.size = 0;
    }
    let level = this.root;
    keys.forEach((key, i) => {
      if (i === keys.length - 1) {
        level.set(key, plan);
        return;
      }
      let next = level.get(key) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(key, next);
      }
      level = next;
    });
    this.size++;
  }
}

interface RoutedPlan {
  readonly local: Narrowing;
  readonly spill: Narrowing | null;
  readonly keep: number;
}

function routedPlan(plan: TierPlan, partName: string): RoutedPlan {
  return {
    local: tierNarrowing(plan.local, partName),
    spill: plan.spill === null ? null : tierNarrowing(plan.spill, partName),
    keep: plan.keep,
  };
}

function tierNarrowing(tier: Tier, partName: string): Narrowing {
  const members = new Set(tier.endpoints.map((endpoint) => endpoint.identity));
  return {
    name: `${partName}@${tier.name}`,
    filter: (endpoints) => endpoints.filter((endpoint) => members.has(endpoint.identity)),
  };
}
