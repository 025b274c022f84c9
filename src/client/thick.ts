/**
 * Thick mode: the client keeps each watched Service (its endpoints and its policy's balancing
 * settings) current with blocking queries on GET /v1/services/{namespace}/{name}, and decides
 * picks and lists locally with the same engine as the server — for hash strategies the same
 * answer the server gives, with no network hop per request. The one module of the client that
 * loads the engine.
 */
import {
  BalancerError,
  BalancerManager,
  type BalancerPolicy,
  type Endpoint as EngineEndpoint,
  type SelectOptions,
  type ServiceEndpoints,
  type StrategyName,
} from "../balancer/index.ts";
import type {
  AnswerOf,
  Endpoint,
  EndpointsAnswer,
  EndpointsOptions,
  PickAnswer,
  PickOptions,
} from "./api.ts";
import { API_STATUS, ERROR_CLASSES, type KonsulLbError, ServiceNotFound } from "./errors.ts";
import { type Answer, servicePath, sleep, type Transport } from "./transport.ts";

export type ServiceState = AnswerOf<"getService", 200>;

/** The longest a blocking query is held; the server's cap is 5 minutes. */
export const WATCH_WAIT_MS = 60_000;
/** Backoff after failed watches grows to this at most. */
export const WATCH_BACKOFF_CAP_MS = 30_000;
/** Full jitter over a bound that doubles per failure from 100 ms up to the cap. */
export function watchBackoffMs(failures: number, random: () => number = Math.random): number {
  const bound = Math.min(WATCH_BACKOFF_CAP_MS, 100 * 2 ** Math.min(failures, 20));
  return Math.max(10, Math.round(random() * bound));
}

/** Strategies whose decision needs the server's own counts: thick mode asks the server. */
const SERVER_STATE_STRATEGIES: readonly StrategyName[] = ["least-connections", "least-request"];

/** The engine's view of a service from the server's answer. */
export function engineView(state: ServiceState): ServiceEndpoints {
  return {
    key: `${state.service.namespace}/${state.service.name}`,
    version: state.version,
    endpoints: state.endpoints.map(engineEndpoint),
    policy: state.balancer as BalancerPolicy,
    strategy: state.strategy,
  };
}

/**
 * The API says `healthy`; the engine derives it from readiness, termination and the probe. A
 * ready, running endpoint that is not healthy failed its probe; otherwise the probe is unknown.
 */
function engineEndpoint(endpoint: Endpoint): EngineEndpoint {
  const probeFailed = !endpoint.healthy && endpoint.ready && !endpoint.terminating;
  return {
    identity: endpoint.identity,
    address: endpoint.address,
    port: endpoint.port,
    ports: endpoint.ports,
    weight: endpoint.weight,
    zone: endpoint.zone,
    region: endpoint.region,
    node: endpoint.node,
    ready: endpoint.ready,
    serving: endpoint.serving,
    terminating: endpoint.terminating,
    probeHealthy: probeFailed ? false : null,
  };
}

function selectOptions(options: PickOptions | undefined): SelectOptions {
  return {
    strategy: options?.lb,
    limit: options?.limit,
    healthFilter: options?.healthFilter,
    clientIp: options?.clientIp,
    sessionKey: options?.sessionKey,
    clientRegion: options?.clientRegion,
    clientZone: options?.clientZone,
    clientNode: options?.clientNode,
    subset: options?.subset,
  };
}

/** The error the server would answer for an engine error. */
function apiErrorOf(error: unknown, request: string): unknown {
  if (!(error instanceof BalancerError)) return error;
  const code =
    error.code === "MissingClientIP"
      ? "InvalidParameter"
      : error.code === "InvalidEndpoint" || error.code === "InvalidPolicy"
        ? "Internal"
        : error.code;
  const Class = ERROR_CLASSES[code];
  return new (Class as new (c: string, s: number, m: string, r: string) => KonsulLbError)(
    code,
    API_STATUS[code],
    `${request}: ${error.message}`,
    request,
  );
}

/**
 * One Service kept current by a loop of blocking queries. After an error it waits a jittered,
 * growing backoff and starts again from no index, which also covers a restarted server or
 * another replica (their versions are not this one's).
 */
export class ServiceWatch {
  readonly namespace: string;
  readonly name: string;
  private readonly transport: Transport;
  private readonly stopping = new AbortController();
  private state: ServiceState | null = null;
  private stateText = "";
  private view: ServiceEndpoints | null = null;
  private byIdentity = new Map<string, Endpoint>();
  /** The last failure, while there is no state: what a pick then throws. */
  private failure: unknown = null;
  private readonly manager = new BalancerManager();
  private firstAnswer: Promise<void>;
  private settleFirst: () => void = () => {};
  /** Successful answers, for tests and metrics of the caller. */
  updates = 0;

  constructor(transport: Transport, namespace: string, name: string) {
    this.transport = transport;
    this.namespace = namespace;
    this.name = name;
    this.firstAnswer = new Promise((resolve) => {
      this.settleFirst = resolve;
    });
    void this.run();
  }

  /** The version the local decisions use; null before the first answer. */
  get version(): number | null {
    return this.state?.version ?? null;
  }

  stop(): void {
    this.stopping.abort();
    this.settleFirst();
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    let failures = 0;
    let resync = true;
    while (!signal.aborted) {
      const index = resync ? undefined : this.state?.version;
      try {
        const answer: Answer<ServiceState> = await this.transport.send<ServiceState>({
          method: "GET",
          path: servicePath(this.namespace, this.name),
          query: index === undefined ? {} : { index: String(index), wait: `${WATCH_WAIT_MS}ms` },
          idempotent: true,
          // Not retried here: a retry would repeat the index, which another server (the one
          // that replaced a failed one) may hold for a whole wait; the loop starts afresh.
          retries: 0,
          // the server may hold it for the wait plus 1/16
          timeoutMs: WATCH_WAIT_MS + WATCH_WAIT_MS / 8 + this.transport.options.timeoutMs,
          signal,
        });
        failures = 0;
        this.accept(answer.body);
        // A server that closes the connection is going away (a restart, a failover): the next
        // one's versions are not this one's, so ask it without an index.
        resync = answer.headers.get("connection")?.toLowerCase() === "close";
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        this.failure = error;
        // A service that is gone has nothing to decide on; any other failure keeps the last
        // state (the endpoints rarely change in the time a server restarts).
        if (error instanceof ServiceNotFound) {
          this.stateText = "";
          this.replace(null);
        }
        this.settleFirst();
        await sleep(watchBackoffMs(failures), signal);
        // After a failure, start over without an index: the server may be another one, whose
        // versions are not this one's.
        resync = true;
      }
    }
  }

  /**
   * Compared by content, not by version: another server (restarted, or another replica) numbers
   * its versions itself, so the same number may stand for another state.
   */
  private accept(state: ServiceState): void {
    this.updates++;
    this.failure = null;
    const text = JSON.stringify(state);
    if (text !== this.stateText) {
      this.stateText = text;
      this.replace(state);
    }
    this.settleFirst();
  }

  private replace(state: ServiceState | null): void {
    if (this.view !== null) this.manager.forget(this.view.key);
    this.state = state;
    this.view = state === null ? null : engineView(state);
    this.byIdentity = new Map((state?.endpoints ?? []).map((e) => [e.identity, e]));
  }

  /** The view to decide on, after the first answer; null when the server must decide. */
  private async ready(options: PickOptions | undefined): Promise<ServiceEndpoints | null> {
    await this.firstAnswer;
    if (this.view === null) {
      if (this.failure instanceof ServiceNotFound) throw this.failure;
      return null;
    }
    const strategy = options?.lb ?? this.view.strategy;
    return SERVER_STATE_STRATEGIES.includes(strategy as StrategyName) ? null : this.view;
  }

  /** A local pick, or null when the server must decide (no state yet, load-aware strategy). */
  async pick(options: PickOptions | undefined): Promise<PickAnswer | null> {
    const view = await this.ready(options);
    if (view === null || this.state === null) return null;
    const request = `GET ${servicePath(this.namespace, this.name, "pick")} (local)`;
    try {
      const chosen = this.manager.selectOne(view, selectOptions(options));
      return {
        service: this.state.service,
        strategy: chosen.strategy,
        version: this.state.version,
        endpoint: this.byIdentity.get(chosen.endpoint.identity) as Endpoint,
      };
    } catch (error) {
      throw apiErrorOf(error, request);
    }
  }

  /** A local list, or null when the server must decide. */
  async endpoints(options: EndpointsOptions | undefined): Promise<EndpointsAnswer | null> {
    const view = await this.ready(options);
    if (view === null || this.state === null) return null;
    const request = `GET ${servicePath(this.namespace, this.name, "endpoints")} (local)`;
    try {
      const selection = this.manager.select(view, selectOptions(options));
      return {
        service: this.state.service,
        strategy: selection.strategy,
        version: this.state.version,
        endpoints: selection.endpoints.map((e) => this.byIdentity.get(e.identity) as Endpoint),
      };
    } catch (error) {
      throw apiErrorOf(error, request);
    }
  }
}
