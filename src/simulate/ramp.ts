/**
 * `konsul-lb simulate --ramp IDENTITY`: one endpoint's slow-start ramp, step by step. The
 * endpoint becomes ready at the start of the window (every other endpoint has long been ready)
 * and the engine's clock walks the ramp's grid; at each step the simulation sends `requests`
 * requests and, for a hash strategy, looks every distinct key up, counting the keys that moved
 * since the previous step against the ideal: the change of the endpoint's share of the keys,
 * the fewest moves that could give it that share.
 */

import type { HashOn, SlowStart, StrategyName } from "../balancer/index.ts";
import {
  BalancerManager,
  DEFAULT_REGISTRY,
  type Endpoint,
  RAMP_STEPS,
  rampFactor,
  resolvePolicy,
  type ServiceEndpoints,
  seededRandom,
} from "../balancer/index.ts";
import { EXIT_USAGE, type LoadedService, SERVER_DEFAULT_STRATEGY, SimulateError } from "./load.ts";
import type { SimulationSettings } from "./simulate.ts";
import { Traffic } from "./traffic.ts";

// Connections are closed by the simulation, never by their timeout.
const NEVER_MS = 2 ** 50;

export interface RampStep {
  readonly step: number;
  /** Milliseconds since the endpoint became ready. */
  readonly sinceReadyMs: number;
  /** The share of its weight the endpoint takes (Envoy's formula). */
  readonly weightFactor: number;
  /** Its share of requests by the weights alone. */
  readonly expected: number;
  readonly requestShare: number;
  /** Hash strategies: its share of the distinct keys; null otherwise. */
  readonly keyShare: number | null;
  /** Share of the keys whose endpoint changed since the previous step; null at step 0. */
  readonly moved: number | null;
  /** |keyShare - previous keyShare|: the least that had to move. */
  readonly ideal: number | null;
}

export interface RampReport {
  readonly kind: "ramp";
  readonly service: string;
  readonly file: string;
  readonly endpoint: string;
  readonly strategy: StrategyName;
  readonly slowStart: SlowStart;
  readonly requestsPerStep: number;
  /** The distinct keys looked up per step (hash strategies), else 0. */
  readonly keys: number;
  readonly hashOn: HashOn | null;
  readonly steps: readonly RampStep[];
}

/** Runs the ramp of endpoint `identity`; the policy must set slowStart. */
export function simulateRamp(
  loaded: LoadedService,
  identity: string,
  settings: SimulationSettings,
): RampReport {
  const { entry, view } = loaded;
  const policy = resolvePolicy(view.policy);
  const slowStart = policy.slowStart as SlowStart | null;
  if (slowStart === null) {
    throw new SimulateError(
      `--ramp: the policy of ${entry.namespace}/${entry.name} sets no slowStart; expected a service whose policy does`,
      EXIT_USAGE,
    );
  }
  if (!view.endpoints.some((e) => e.identity === identity)) {
    throw new SimulateError(
      `--ramp: ${JSON.stringify(identity)} is not allowed (no such endpoint); expected one of ${view.endpoints.map((e) => e.identity).join(", ")}`,
      EXIT_USAGE,
    );
  }
  const strategy = (settings.strategies?.[0] ??
    view.strategy ??
    SERVER_DEFAULT_STRATEGY) as StrategyName;
  const definition = DEFAULT_REGISTRY.get(strategy);
  const hashOn = definition?.traits.hashesOn(policy) ?? null;
  const weighted = definition?.traits.weighted ?? true;
  // Ready at 0 on the engine's clock, the others long before: only this endpoint ramps.
  const endpoints: Endpoint[] = view.endpoints.map((e) => ({
    ...e,
    readySince: e.identity === identity ? 0 : null,
  }));
  const ramping: ServiceEndpoints = { ...view, endpoints };
  const target = endpoints.find((e) => e.identity === identity) as Endpoint;
  const others = endpoints
    .filter((e) => e.identity !== identity && e.ready && !e.terminating)
    .reduce((sum, e) => sum + (weighted ? e.weight : 1), 0);
  const traffic = new Traffic(settings.clients, settings.keys, []);
  const keys = hashOn === null ? [] : hashOn === "client-ip" ? traffic.clients : traffic.keys;
  let now = 0;
  const manager = new BalancerManager({
    defaultStrategy: SERVER_DEFAULT_STRATEGY,
    random: seededRandom(settings.seed),
    now: () => now,
  });
  const random = seededRandom(settings.seed ^ 0x2545f491);
  const steps: RampStep[] = [];
  let previous: string[] | null = null;
  let previousShare = 0;
  for (let step = 0; step <= RAMP_STEPS; step++) {
    now = (step * slowStart.windowMs) / RAMP_STEPS;
    const factor = rampFactor(now, slowStart);
    const own = (weighted ? target.weight : 1) * factor;
    let hits = 0;
    // As in the main simulation, each request holds a connection for `hold` later picks, so
    // that least-connections and least-request see loads to weigh.
    const hold = settings.hold;
    const open: string[] = new Array(hold + 1);
    for (let i = 0; i < settings.requests; i++) {
      const request = traffic.draw(random);
      let picked: Endpoint;
      if (hold > 0) {
        const slot = i % (hold + 1);
        if (i > hold) manager.closeConnection(open[slot] as string);
        const opened = manager.openConnection(ramping, { ...request, strategy }, NEVER_MS);
        open[slot] = opened.id;
        picked = opened.endpoint;
      } else {
        picked = manager.selectOne(ramping, { ...request, strategy }).endpoint;
      }
      if (picked.identity === identity) hits++;
    }
    for (const id of open) if (id !== undefined) manager.closeConnection(id);
    let keyShare: number | null = null;
    let moved: number | null = null;
    let ideal: number | null = null;
    if (hashOn !== null) {
      const owners = keys.map(
        (key) =>
          manager.selectOne(ramping, {
            strategy,
            ...(hashOn === "client-ip" ? { clientIp: key } : { sessionKey: key }),
          }).endpoint.identity,
      );
      keyShare = owners.filter((owner) => owner === identity).length / keys.length;
      if (previous !== null) {
        const before = previous;
        moved = owners.filter((owner, k) => owner !== before[k]).length / keys.length;
        ideal = Math.abs(keyShare - previousShare);
      }
      previous = owners;
      previousShare = keyShare;
    }
    steps.push({
      step,
      sinceReadyMs: now,
      weightFactor: factor,
      expected: own / (others + own),
      requestShare: hits / settings.requests,
      keyShare,
      moved,
      ideal,
    });
  }
  return {
    kind: "ramp",
    service: `${entry.namespace}/${entry.name}`,
    file: settings.file,
    endpoint: identity,
    strategy,
    slowStart,
    requestsPerStep: settings.requests,
    keys: keys.length,
    hashOn,
    steps,
  };
}
