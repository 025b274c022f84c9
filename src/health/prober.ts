import { performance } from "node:perf_hooks";
import { type Logger, SILENT_LOGGER } from "../shared/logger.ts";
import { ConcurrencyLimiter } from "./limiter.ts";
import { resolvePort } from "./port.ts";
import { check } from "./probes.ts";
import type { HealthCheckSpec, ProbeOutcome, ProbeTarget } from "./types.ts";

/** The part of a pino logger the prober uses. */
export interface ProberOptions {
  /** Probes in flight at once, across all services; the rest wait their turn. Default 32. */
  readonly maxConcurrent?: number;
  /** Called whenever an endpoint's verdict changes, the first verdict included. */
  readonly onChange: (service: string, identity: string, healthy: boolean) => void;
  readonly logger?: Pick<Logger, "info" | "warn">;
}

export const DEFAULT_MAX_CONCURRENT = 32;

interface TargetState {
  target: ProbeTarget;
  /** Null until decided: the endpoint's readiness already vouches for it until then. */
  verdict: boolean | null;
  successes: number;
  failures: number;
  /** When the next (or the running) probe was due, on the monotonic clock. */
  due: number;
  timer: NodeJS.Timeout | null;
  /** Withdraws the probe from the concurrency queue while it waits there. */
  withdraw: (() => void) | null;
  inFlight: AbortController | null;
  /** Set once the target is removed, replaced or stopped: its callbacks then do nothing. */
  retired: boolean;
  /** The port problem last logged, so it is logged once, not on every interval. */
  loggedPortProblem: string | null;
}

interface ServiceState {
  spec: HealthCheckSpec;
  readonly targets: Map<string, TargetState>;
}

/**
 * Actively probes endpoints and keeps a verdict per endpoint, the way Envoy's and Kubernetes'
 * health checkers do: `unhealthyThreshold` consecutive failures mark an endpoint unhealthy and
 * `healthyThreshold` consecutive successes mark it healthy again.
 *
 * An endpoint starts unknown (null). Its first success makes it healthy at once — readiness has
 * already vouched for it, so there is nothing to recover from — while a first failure needs the
 * full `unhealthyThreshold` run like any other.
 *
 * Each target is probed every `intervalMs`; its first probe falls at a random point of the first
 * interval so that many targets added together spread out, and later ones keep that phase. A
 * target's next probe is only armed once its previous one has finished, so probes of one target
 * never overlap. Probes beyond `maxConcurrent` wait in a first-come queue; a target that falls
 * behind is probed as soon as it can be, not in bursts to catch up. All timers are unref'd.
 */
export class Prober {
  private readonly onChange: ProberOptions["onChange"];
  private readonly logger: Pick<Logger, "info" | "warn">;
  private readonly limiter: ConcurrencyLimiter;
  private readonly services = new Map<string, ServiceState>();
  private stopped = false;

  constructor(options: ProberOptions) {
    this.onChange = options.onChange;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.limiter = new ConcurrencyLimiter(options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT);
  }

  /**
   * Replaces the probe config and targets of one service; a null spec stops probing it. When the
   * spec is unchanged, targets that stay (by identity) keep their verdict, counters and schedule
   * and take the new address and ports on their next probe; when it changed, every target starts
   * over as unknown. Removed targets are forgotten. No onChange call is made for forgotten or
   * restarted verdicts: the caller caused them. After stop() this does nothing.
   */
  setTargets(service: string, spec: HealthCheckSpec | null, targets: readonly ProbeTarget[]): void {
    if (this.stopped) return;
    const current = this.services.get(service);
    if (spec === null) {
      if (current !== undefined) {
        this.retireAll(current);
        this.services.delete(service);
      }
      return;
    }
    validateSpec(spec);
    const keep = current !== undefined && sameSpec(current.spec, spec);
    if (current !== undefined && !keep) this.retireAll(current);
    const entry: ServiceState = keep ? current : { spec, targets: new Map() };
    entry.spec = spec;

    const previous = entry.targets;
    const next = new Map<string, TargetState>();
    const now = performance.now();
    for (const target of targets) {
      const existing = next.get(target.identity) ?? previous.get(target.identity);
      if (existing !== undefined) {
        existing.target = target;
        previous.delete(target.identity);
        next.set(target.identity, existing);
        continue;
      }
      const state = newTargetState(target);
      next.set(target.identity, state);
      this.arm(service, entry, state, now + Math.random() * spec.intervalMs, now);
    }
    for (const gone of previous.values()) retire(gone);
    previous.clear();
    for (const [identity, state] of next) previous.set(identity, state);
    this.services.set(service, entry);
  }

  /** Latest verdict: true/false once decided, null when unknown (no verdict yet, or not probed). */
  healthOf(service: string, identity: string): boolean | null {
    return this.services.get(service)?.targets.get(identity)?.verdict ?? null;
  }

  /** Cancels every timer, queued probe and probe in flight; settles when their sockets are closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const entry of this.services.values()) this.retireAll(entry);
    this.services.clear();
    this.limiter.clearQueue();
    await this.limiter.idle();
  }

  private retireAll(entry: ServiceState): void {
    for (const state of entry.targets.values()) retire(state);
    entry.targets.clear();
  }

  private arm(
    service: string,
    entry: ServiceState,
    state: TargetState,
    due: number,
    now: number,
  ): void {
    state.due = due;
    state.timer = setTimeout(() => this.enqueue(service, entry, state), Math.max(0, due - now));
    state.timer.unref();
  }

  private enqueue(service: string, entry: ServiceState, state: TargetState): void {
    state.timer = null;
    if (state.retired) return;
    const withdraw = this.limiter.submit(() => this.run(service, entry, state));
    // A probe started at once has already cleared `withdraw`; only a queued one keeps it.
    if (state.inFlight === null && !state.retired) state.withdraw = withdraw;
  }

  private async run(service: string, entry: ServiceState, state: TargetState): Promise<void> {
    state.withdraw = null;
    if (state.retired) return;
    const controller = new AbortController();
    state.inFlight = controller;
    let outcome: ProbeOutcome;
    try {
      outcome = await this.probe(service, entry.spec, state, controller.signal);
    } catch (error) {
      outcome = { healthy: false, reason: error instanceof Error ? error.message : String(error) };
    } finally {
      state.inFlight = null;
    }
    if (state.retired) return;
    this.record(service, entry.spec, state, outcome);
    // The change listener may have removed this target or stopped the prober.
    if (state.retired) return;
    const now = performance.now();
    // Keep the phase given by the first jitter; when the probe (or its wait for a slot) ran past
    // the next due time, probe again right away instead of firing the missed ones in a burst.
    this.arm(service, entry, state, Math.max(state.due + entry.spec.intervalMs, now), now);
  }

  private probe(
    service: string,
    spec: HealthCheckSpec,
    state: TargetState,
    signal: AbortSignal,
  ): Promise<ProbeOutcome> {
    const { target } = state;
    const port = resolvePort(spec.port, target);
    if (!port.ok) {
      if (state.loggedPortProblem !== port.reason) {
        state.loggedPortProblem = port.reason;
        this.log(
          "warn",
          { service, identity: target.identity, reason: port.reason },
          "health check port not found on endpoint; its probes fail",
        );
      }
      return Promise.resolve({ healthy: false, reason: port.reason });
    }
    state.loggedPortProblem = null;
    return check(spec, { address: target.address, port: port.port }, signal);
  }

  private record(
    service: string,
    spec: HealthCheckSpec,
    state: TargetState,
    outcome: ProbeOutcome,
  ): void {
    if (outcome.healthy) {
      state.successes += 1;
      state.failures = 0;
      if (
        state.verdict !== true &&
        (state.verdict === null || state.successes >= spec.healthyThreshold)
      ) {
        this.decide(service, state, true, outcome);
      }
    } else {
      state.failures += 1;
      state.successes = 0;
      if (state.verdict !== false && state.failures >= spec.unhealthyThreshold) {
        this.decide(service, state, false, outcome);
      }
    }
  }

  private decide(
    service: string,
    state: TargetState,
    healthy: boolean,
    outcome: ProbeOutcome,
  ): void {
    state.verdict = healthy;
    const fields = {
      service,
      identity: state.target.identity,
      address: state.target.address,
      healthy,
      reason: outcome.reason,
    };
    this.log(
      healthy ? "info" : "warn",
      fields,
      healthy ? "endpoint healthy" : "endpoint unhealthy",
    );
    try {
      this.onChange(service, state.target.identity, healthy);
    } catch (error) {
      // A failing listener must not stop the probing that feeds it.
      this.log("warn", { ...fields, err: error }, "health change listener failed");
    }
  }

  private log(level: "warn" | "info", fields: object, msg: string): void {
    try {
      this.logger[level](fields, msg);
    } catch {
      // Logging is best effort; it runs from timers, which must never throw.
    }
  }
}

function newTargetState(target: ProbeTarget): TargetState {
  return {
    target,
    verdict: null,
    successes: 0,
    failures: 0,
    due: 0,
    timer: null,
    withdraw: null,
    inFlight: null,
    retired: false,
    loggedPortProblem: null,
  };
}

function retire(state: TargetState): void {
  state.retired = true;
  if (state.timer !== null) clearTimeout(state.timer);
  state.timer = null;
  state.withdraw?.();
  state.withdraw = null;
  state.inFlight?.abort();
}

function sameSpec(a: HealthCheckSpec, b: HealthCheckSpec): boolean {
  return (
    a.kind === b.kind &&
    a.path === b.path &&
    a.port === b.port &&
    a.intervalMs === b.intervalMs &&
    a.timeoutMs === b.timeoutMs &&
    a.unhealthyThreshold === b.unhealthyThreshold &&
    a.healthyThreshold === b.healthyThreshold
  );
}

/** The policy parser validates specs; this guards the timers against one that slipped through. */
function validateSpec(spec: HealthCheckSpec): void {
  if (spec.kind !== "http" && spec.kind !== "tcp") {
    throw new RangeError(`unknown health check kind ${String(spec.kind)}`);
  }
  for (const [name, value] of [
    ["intervalMs", spec.intervalMs],
    ["timeoutMs", spec.timeoutMs],
  ] as const) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`health check ${name} must be a positive number, got ${value}`);
    }
  }
  for (const [name, value] of [
    ["unhealthyThreshold", spec.unhealthyThreshold],
    ["healthyThreshold", spec.healthyThreshold],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`health check ${name} must be a positive integer, got ${value}`);
    }
  }
}
