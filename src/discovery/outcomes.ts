/**
 * Outcomes clients report, joined to the catalog: endpoints named by identity or address are
 * resolved, the engine counts them (outlier detection, peak-EWMA latencies), and the endpoints
 * it ejects are marked in the catalog — a new version of the service, so that HTTP, DNS, xDS,
 * blocking queries and the pickers all leave them out at once, and panicThreshold counts them
 * as unhealthy. A timer ends ejections and compares success rates at each service's interval.
 *
 * With several replicas only the leader decides (`decides`); a follower forwards reports to it
 * (src/ha), keeps the latencies for its own peak-EWMA picks, and mirrors the leader's ejections
 * from its snapshots (`mirror`).
 */
import {
  type EjectionRecord,
  type Endpoint,
  identitiesOf,
  type Outcome,
  type OutcomeResult,
  type OutlierChange,
} from "../balancer/index.ts";
import { type CatalogEntry, serviceKey } from "../catalog/catalog.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Discovery } from "./discovery.ts";
import { ServiceNotFoundError } from "./discovery.ts";
import { ANONYMOUS_REPORTER, OutcomeMetrics } from "./outcome-metrics.ts";

/** One outcome as a client reports it: the endpoint by identity, address or address:port. */
export interface OutcomeReport {
  readonly endpoint: string;
  readonly result: OutcomeResult;
  readonly latencyMs?: number | undefined;
}

export interface OutcomeReceipt {
  /** Reports of endpoints the service has, counted. */
  readonly accepted: number;
  /** Reports of endpoints it does not have (any more), ignored. */
  readonly unknown: number;
}

export interface OutlierNotice {
  readonly namespace: string;
  readonly name: string;
  readonly change: OutlierChange;
}

export interface OutcomeIntakeOptions {
  readonly metrics?: Metrics;
  /** Whether this replica decides ejections: a single server, or the leader. Default: always. */
  readonly decides?: () => boolean;
  /** Told of each ejection and return this replica decides (events, logs). */
  readonly onOutlierChange?: (notice: OutlierNotice) => void;
  /** How often services with outlier detection are looked at; default 100 ms. */
  readonly tickMs?: number;
}

export class OutcomeIntake {
  private readonly discovery: Discovery;
  private readonly options: OutcomeIntakeOptions;
  private readonly metrics: OutcomeMetrics | null;
  /** Services whose policy asks for outlier detection: the only ones the timer visits. */
  private readonly detecting = new Set<string>();
  private readonly stopListening: () => void;
  private timer: NodeJS.Timeout | undefined;

  constructor(discovery: Discovery, options: OutcomeIntakeOptions = {}) {
    this.discovery = discovery;
    this.options = options;
    this.metrics = options.metrics ? new OutcomeMetrics(options.metrics) : null;
    for (const entry of discovery.catalog.list()) this.track(entry);
    this.stopListening = discovery.catalog.onChange((keys) => {
      for (const key of keys) {
        const [namespace = "", name = ""] = key.split("/");
        const entry = discovery.catalog.get(namespace, name);
        if (entry) this.track(entry);
        else {
          this.detecting.delete(key);
          this.metrics?.ejected.remove({ service: key });
        }
      }
    });
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.options.tickMs ?? 100);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.stopListening();
  }

  private decides(): boolean {
    return this.options.decides?.() ?? true;
  }

  private track(entry: CatalogEntry): void {
    const key = serviceKey(entry.namespace, entry.name);
    if (entry.policy?.balancer.outlierDetection !== undefined) this.detecting.add(key);
    else {
      this.detecting.delete(key);
      // Detection turned off: nothing stays ejected.
      // The catalog's own record rather than a look at every endpoint at every change.
      if (this.discovery.catalog.ejectedOf(entry.namespace, entry.name).length > 0) {
        this.discovery.catalog.setEjected(entry.namespace, entry.name, []);
      }
    }
  }

  /**
   * Counts a batch of reports for a service; throws ServiceNotFoundError for a service not in
   * the catalog. Reports of endpoints the service does not have are counted as such, not kept.
   * `metered` false: the replica the client called has counted them in the metrics already.
   */
  report(
    namespace: string,
    name: string,
    reports: readonly OutcomeReport[],
    reporter: string = ANONYMOUS_REPORTER,
    metered = true,
  ): OutcomeReceipt {
    const entry = this.discovery.find(namespace, name);
    if (entry === undefined) throw new ServiceNotFoundError(namespace, name);
    const resolve = endpointResolver(entry.endpoints);
    const outcomes: Outcome[] = [];
    const metrics = metered ? this.metrics : null;
    const label = metrics?.reporterLabel(reporter) ?? reporter;
    for (const report of reports) {
      const identity = resolve(report.endpoint);
      metrics?.reported.inc({
        reporter: label,
        result: identity === null ? "unknown-endpoint" : report.result,
      });
      if (identity === null) continue;
      outcomes.push({ identity, result: report.result, latencyMs: report.latencyMs });
    }
    this.record(entry, outcomes);
    return { accepted: outcomes.length, unknown: reports.length - outcomes.length };
  }

  /** The outcome of a released connection, whose endpoint is known by identity. */
  reportIdentity(
    service: string,
    identity: string,
    result: OutcomeResult,
    latencyMs: number | undefined,
    reporter: string = ANONYMOUS_REPORTER,
  ): void {
    const [namespace = "", name = ""] = service.split("/");
    const entry = this.discovery.find(namespace, name);
    if (entry === undefined) return;
    const known = entry.endpoints.some((endpoint) => endpoint.identity === identity);
    this.metrics?.reported.inc({
      reporter: this.metrics.reporterLabel(reporter),
      result: known ? result : "unknown-endpoint",
    });
    if (known) this.record(entry, [{ identity, result, latencyMs }]);
  }

  private record(entry: CatalogEntry, outcomes: readonly Outcome[]): void {
    if (outcomes.length === 0) return;
    const { manager } = this.discovery;
    const view = this.discovery.view(entry);
    const decides = this.decides();
    const changes = manager.recordOutcomes(view, outcomes, decides);
    if (decides) this.settle(entry, changes);
  }

  /** The interval work of every service with detection, on the replica that decides. */
  tick(): void {
    if (!this.decides()) return;
    for (const key of this.detecting) {
      const [namespace = "", name = ""] = key.split("/");
      const entry = this.discovery.find(namespace, name);
      if (entry === undefined) continue;
      try {
        this.settle(entry, this.discovery.manager.evaluateOutliers(this.discovery.view(entry)));
      } catch {
        // An invalid policy never reaches the catalog; a failing service must not stop the rest.
      }
    }
  }

  /**
   * Makes the service's ejections those of another replica (the leader's snapshot): its
   * detector continues from them should this replica lead, and its catalog marks them.
   */
  mirror(key: string, records: readonly EjectionRecord[]): void {
    const [namespace = "", name = ""] = key.split("/");
    const entry = this.discovery.find(namespace, name);
    if (entry === undefined) return;
    this.discovery.manager.importEjections(this.discovery.view(entry), records);
    this.mark(entry);
  }

  private settle(entry: CatalogEntry, changes: readonly OutlierChange[]): void {
    if (changes.length === 0) return;
    const key = serviceKey(entry.namespace, entry.name);
    for (const change of changes) {
      if (change.kind === "ejected")
        this.metrics?.ejections.inc({ service: key, reason: change.reason });
      else this.metrics?.returns.inc({ service: key });
      this.options.onOutlierChange?.({ namespace: entry.namespace, name: entry.name, change });
    }
    this.mark(entry);
  }

  private mark(entry: CatalogEntry): void {
    const key = serviceKey(entry.namespace, entry.name);
    const ejected = this.discovery.manager.ejectedEndpoints(key);
    this.metrics?.ejected.set({ service: key }, ejected.length);
    this.discovery.catalog.setEjected(entry.namespace, entry.name, ejected);
  }
}

/**
 * Finds an endpoint by identity, else by "address:port" ("[v6]:port"), else by address when
 * only one endpoint has it; null when none (or several) match.
 */
export function endpointResolver(endpoints: readonly Endpoint[]): (text: string) => string | null {
  const byIdentity = identitiesOf(endpoints);
  return (text) => {
    if (byIdentity.has(text)) return text;
    const withPort = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
    const address = withPort ? (withPort[1] as string) : text;
    const port = withPort ? Number(withPort[2]) : null;
    const matches = endpoints.filter(
      (endpoint) =>
        endpoint.address === address &&
        (port === null || endpoint.port === port || Object.values(endpoint.ports).includes(port)),
    );
    return matches.length === 1 ? (matches[0] as Endpoint).identity : null;
  };
}
