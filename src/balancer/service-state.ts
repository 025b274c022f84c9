import type { Endpoint } from "./endpoint.ts";
import type { OutlierDetector } from "./features/outlier-detection/detector.ts";
import { LoadTracker } from "./loads.ts";
import type { ServiceEndpoints } from "./manager.ts";
import type { BalancerPolicy, ResolvedPolicy } from "./policy.ts";
import { LatencyTracker } from "./strategies/least-request/peak-ewma.ts";
import type { CarriedState, Picker } from "./strategy.ts";

export interface CachedPicker {
  /** The service as the picker was built for it (its version, endpoints and policy). */
  readonly service: ServiceEndpoints;
  readonly version: number;
  readonly picker: Picker;
  readonly excluded: number;
  readonly panic: boolean;
  /** Milliseconds since the epoch after which the picker is rebuilt (a slow-start step). */
  readonly validUntil: number;
  /** The catalog's endpoint by the copy the picker holds (ramped weights); null = no copies. */
  readonly originals: ReadonlyMap<Endpoint, Endpoint> | null;
  /**
   * The exported state of a picker whose state is only a table fingerprint: that never changes
   * for one picker, and hashing a large table at every export would cost more than the export.
   */
  fixedState?: CarriedState;
}

export interface PickerSlots {
  healthy?: CachedPicker;
  all?: CachedPicker;
  /** Table builds under way off the event loop, by health filter (see PickerCache.offload). */
  building?: { healthy?: SlotBuild; all?: SlotBuild };
}

/** A slot's table build in flight: at most one per slot. */
export interface SlotBuild {
  /** The newest version asked for while it was in flight: built next (latest wins). */
  latest: ServiceEndpoints | null;
}

/**
 * What the engine keeps for one service between requests: its pickers (picker-cache.ts) and
 * its connection counts (connection-book.ts), which pickers read through `loads`.
 */
export interface ServiceState {
  readonly loads: LoadTracker;
  /** Reported latencies by endpoint (least-request's peak-ewma cost reads them). */
  readonly latencies: LatencyTracker;
  /** Outlier detection's counters and ejections; null while the policy has none. */
  outliers: OutlierDetector | null;
  /**
   * The service's policy resolved once per version, not once per request, and resolved again
   * only when the policy itself changed: a readiness flip is a new version with the same policy.
   */
  policy: {
    readonly version: number;
    /** The policy as the version gave it, to tell the next version's apart. */
    readonly given: BalancerPolicy | undefined;
    readonly resolved: ResolvedPolicy;
  } | null;
  /**
   * The version and endpoints the outcome book last brought its detector and latencies in line
   * with (outcome-book.ts), so that the next version is compared with them rather than rebuilt.
   */
  outcomesSynced: { readonly version: number; readonly endpoints: readonly Endpoint[] } | null;
  /** Ids of the service's open connections. */
  readonly connections: Set<string>;
  /** State handed in by importState for slots not built yet, applied at their first build. */
  imported: Map<string, CarriedState> | null;
  /** Grows at every decision or connection change: exporters skip services where it did not. */
  changes: number;
  /**
   * By strategy (or "<strategy>/<subset>" for a subset's), then by health filter. Two levels rather than one "strategy|filter" string key:
   * building that string on every request cost more than the pick itself.
   */
  readonly pickers: Map<string, PickerSlots>;
  /** What routing features (locality) remember for one version, by narrowing and health filter. */
  routes: {
    readonly version: number;
    /** By narrowing name ("" for the whole service), then healthy [0] or all [1]. */
    readonly parts: Map<string, [Map<string, unknown>, Map<string, unknown>]>;
    /** Routed picker slots made since the version changed or they were last dropped. */
    slots: number;
  } | null;
}

/** Every service's state, by service key, shared by the picker cache and the connection book. */
export class ServiceStates {
  private readonly services = new Map<string, ServiceState>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  get(key: string): ServiceState | undefined {
    return this.services.get(key);
  }

  /** The service's state, made empty when it has none. */
  of(key: string): ServiceState {
    let state = this.services.get(key);
    if (!state) {
      state = {
        loads: new LoadTracker(),
        latencies: new LatencyTracker(this.now),
        outliers: null,
        pickers: new Map(),
        policy: null,
        outcomesSynced: null,
        connections: new Set(),
        imported: null,
        changes: 0,
        routes: null,
      };
      this.services.set(key, state);
    }
    return state;
  }

  keys(): string[] {
    return [...this.services.keys()];
  }

  /** Drops the service's state, disposing of its pickers. */
  delete(key: string): void {
    const state = this.services.get(key);
    if (!state) return;
    for (const slots of state.pickers.values()) {
      slots.healthy?.picker.dispose();
      slots.all?.picker.dispose();
    }
    this.services.delete(key);
  }
}
