/**
 * What the engine does with the outcomes clients report: each service's outlier detector
 * (features/outlier-detection) counts them and ejects, and the latencies feed least-request's
 * peak-EWMA estimates. Both are kept only for the service's current endpoints.
 */

import { type Endpoint, identitiesOf } from "./endpoint.ts";
import {
  type EjectionRecord,
  type OutlierChange,
  OutlierDetector,
  type ResolvedOutlierDetection,
} from "./features/outlier-detection/index.ts";
import type { ServiceEndpoints } from "./manager.ts";
import type { Outcome } from "./outcome.ts";
import type { ResolvedPolicy } from "./policy.ts";
import type { ServiceState, ServiceStates } from "./service-state.ts";
import type { ResolvedLeastRequest } from "./strategies/least-request/settings.ts";

export class OutcomeBook {
  private readonly states: ServiceStates;
  private readonly policyOf: (service: ServiceEndpoints, state: ServiceState) => ResolvedPolicy;
  private readonly now: () => number;

  constructor(
    states: ServiceStates,
    policyOf: (service: ServiceEndpoints, state: ServiceState) => ResolvedPolicy,
    now: () => number,
  ) {
    this.states = states;
    this.policyOf = policyOf;
    this.now = now;
  }

  /**
   * Counts the outcomes (of current endpoints; others are skipped) and returns the ejections
   * they caused, in order. With `detect` false only the latencies are kept: a replica that
   * does not decide ejections still picks by them.
   */
  record(service: ServiceEndpoints, outcomes: readonly Outcome[], detect = true): OutlierChange[] {
    const state = this.states.of(service.key);
    const detector = this.sync(service, state);
    const decayMs = (this.policyOf(service, state).leastRequest as ResolvedLeastRequest).decayMs;
    const now = this.now();
    const changes: OutlierChange[] = [];
    const known = identitiesOf(service.endpoints);
    for (const outcome of outcomes) {
      if (outcome.latencyMs !== undefined && known.has(outcome.identity)) {
        state.latencies.observe(outcome.identity, outcome.latencyMs, decayMs);
      }
      const change = detect ? detector?.record(outcome, now) : null;
      if (change) changes.push(change);
    }
    if (changes.length > 0) state.changes++;
    return changes;
  }

  /** The service's interval work (returns, success rates) when its interval is over. */
  evaluate(service: ServiceEndpoints): OutlierChange[] {
    const state = this.states.of(service.key);
    const changes = this.sync(service, state)?.evaluate(this.now()) ?? [];
    if (changes.length > 0) state.changes++;
    return changes;
  }

  /** Identities the service's detector has ejected now. */
  ejected(serviceKey: string): string[] {
    return this.states.get(serviceKey)?.outliers?.ejected() ?? [];
  }

  exportEjections(serviceKey: string): EjectionRecord[] {
    return this.states.get(serviceKey)?.outliers?.export() ?? [];
  }

  /** Takes another replica's ejections for the service (see OutlierDetector.import). */
  importEjections(service: ServiceEndpoints, records: readonly EjectionRecord[]): void {
    const state = this.states.of(service.key);
    this.sync(service, state)?.import(records);
    state.changes++;
  }

  /**
   * Brings the service's detector and latency estimates in line with its current endpoints and
   * policy: made when the policy asks for detection, dropped when it no longer does. Runs at
   * every version of the service, so its work follows the change: a version with the same
   * identities as the last one synced (a readiness or weight flip) touches no endpoint's entry,
   * and the policy is resolved again only when it changed (see PickerCache.policyOf).
   */
  sync(
    service: ServiceEndpoints,
    state: ServiceState = this.states.of(service.key),
  ): OutlierDetector | null {
    const synced = state.outcomesSynced;
    // The interval timer asks every 100 ms: an unchanged version (endpoints and policy alike)
    // needs no work.
    if (synced?.version === service.version) return state.outliers;
    const settings = this.policyOf(service, state)
      .outlierDetection as ResolvedOutlierDetection | null;
    const members =
      synced !== null && sameIdentities(synced.endpoints, service.endpoints)
        ? null
        : service.endpoints.map((endpoint) => endpoint.identity);
    if (members !== null) state.latencies.retain(new Set(members));
    if (settings === null) {
      state.outliers = null;
    } else if (state.outliers === null) {
      state.outliers = new OutlierDetector(settings);
      state.outliers.sync(members ?? service.endpoints.map((endpoint) => endpoint.identity));
    } else {
      state.outliers.configure(settings);
      if (members !== null) state.outliers.sync(members);
    }
    state.outcomesSynced = { version: service.version, endpoints: service.endpoints };
    return state.outliers;
  }
}

/**
 * Whether two endpoint lists hold the same identities in the same order. Consecutive versions
 * of a service share most endpoint objects, so this is mostly a comparison of references; a
 * list in another order counts as different, which costs a rebuild and nothing else.
 */
function sameIdentities(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Endpoint;
    const y = b[i] as Endpoint;
    if (x !== y && x.identity !== y.identity) return false;
  }
  return true;
}
