/**
 * `createClient({ url })` → `service(namespace, name)` → `pick`, `endpoints`, `withConnection`
 * and `connect`: the discovery API for Node services, with the route table's types.
 */
import {
  type ConnectionOptions,
  type Endpoint,
  type EndpointsAnswer,
  type EndpointsOptions,
  type OpenedConnection,
  type PickAnswer,
  type PickOptions,
  parameterName,
  type ServicesAnswer,
} from "./api.ts";
import { ConnectionNotFound } from "./errors.ts";
import { ServiceWatch } from "./thick.ts";
import { servicePath, Transport } from "./transport.ts";

export interface ClientOptions {
  /** The server's base URL, e.g. http://konsul-lb.konsul-lb.svc:8080. */
  readonly url: string;
  /** The longest one attempt of a call may take; default 5000 ms. */
  readonly timeoutMs?: number;
  /**
   * Attempts after the first for failures another attempt may cure (unreachable, timed out, a
   * server fault); default 2. Calls that change state (opening a connection) are retried only
   * when the server certainly did not receive them.
   */
  readonly retries?: number;
  /**
   * Thick mode: keep each Service current with blocking queries and decide picks and lists
   * locally with the server's engine (counted connections, least-connections and least-request
   * still go to the server). At most `maxServices` are watched (default 100); further Services
   * are asked remotely.
   */
  readonly thick?: boolean | { readonly maxServices?: number };
}

export const DEFAULT_TIMEOUT_MS = 5_000;
export const DEFAULT_RETRIES = 2;
export const DEFAULT_MAX_WATCHED_SERVICES = 100;
export const MAX_WATCHED_SERVICES = 10_000;

export interface Client {
  /** Every service in the catalog with its strategy, policy and endpoint counts. */
  services(): Promise<ServicesAnswer["services"]>;
  service(namespace: string, name: string): ServiceClient;
  /** Stops thick mode's watches; the client still answers remotely afterwards. */
  close(): void;
}

/**
 * How a counted connection's request ended, sent with its release: the server's outlier
 * detection (spec.outlierDetection) ejects endpoints that keep failing.
 */
export type ConnectionOutcome = "success" | "failure" | "timeout";

export interface ServiceClient {
  readonly namespace: string;
  readonly name: string;
  /** One endpoint chosen by the service's strategy. */
  pick(options?: PickOptions): Promise<PickAnswer>;
  /** The service's endpoints, best first. */
  endpoints(options?: EndpointsOptions): Promise<EndpointsAnswer>;
  /**
   * Opens a counted connection (least-connections unless `lb` says otherwise), runs `fn` with
   * its endpoint, and releases it whatever `fn` does; answers what `fn` answers.
   */
  withConnection<T>(
    fn: (endpoint: Endpoint) => Promise<T> | T,
    options?: ConnectionOptions,
  ): Promise<T>;
  /** Opens a counted connection; release it, or let `await using` do it. */
  connect(options?: ConnectionOptions): Promise<ConnectionHandle>;
}

export interface ConnectionHandle extends AsyncDisposable {
  readonly id: string;
  readonly endpoint: Endpoint;
  /** When the server releases it by itself. */
  readonly expiresAt: Date;
  /**
   * Releases the connection, reporting how its request ended and how long it took (in
   * milliseconds) when given; a second call does nothing. A connection the server no longer
   * knows (expired, or released by a server restart) counts as released.
   */
  release(outcome?: ConnectionOutcome, latencyMs?: number): Promise<void>;
}

export function createClient(options: ClientOptions): Client {
  const transport = new Transport({
    url: options.url,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retries: options.retries ?? DEFAULT_RETRIES,
  });
  const maxServices = maxWatched(options.thick);
  const watches = new Map<string, ServiceWatch>();
  const watchOf = (namespace: string, name: string): ServiceWatch | null => {
    const key = `${namespace}/${name}`;
    let watch = watches.get(key);
    if (watch === undefined && watches.size < maxServices) {
      watch = new ServiceWatch(transport, namespace, name);
      watches.set(key, watch);
    }
    return watch ?? null;
  };
  return {
    close() {
      for (const watch of watches.values()) watch.stop();
      watches.clear();
    },
    async services() {
      const answer = await transport.send<ServicesAnswer>({
        method: "GET",
        path: "/v1/services",
        idempotent: true,
      });
      return answer.body.services;
    },
    service: (namespace, name) => {
      const remote = new RemoteService(transport, namespace, name);
      const watch = maxServices > 0 ? watchOf(namespace, name) : null;
      return watch === null ? remote : new ThickService(remote, watch);
    },
  };
}

function maxWatched(thick: ClientOptions["thick"]): number {
  if (thick === undefined || thick === false) return 0;
  const max =
    thick === true
      ? DEFAULT_MAX_WATCHED_SERVICES
      : (thick.maxServices ?? DEFAULT_MAX_WATCHED_SERVICES);
  if (!Number.isInteger(max) || max < 1 || max > MAX_WATCHED_SERVICES) {
    throw new TypeError(
      `thick.maxServices: ${JSON.stringify(max)} is not allowed; expected an integer from 1 to ${MAX_WATCHED_SERVICES}`,
    );
  }
  return max;
}

/** Picks and lists decided locally where the watch can; everything else as RemoteService. */
class ThickService implements ServiceClient {
  private readonly remote: RemoteService;
  private readonly watch: ServiceWatch;
  readonly namespace: string;
  readonly name: string;

  constructor(remote: RemoteService, watch: ServiceWatch) {
    this.remote = remote;
    this.watch = watch;
    this.namespace = remote.namespace;
    this.name = remote.name;
  }

  async pick(options?: PickOptions): Promise<PickAnswer> {
    return (await this.watch.pick(options)) ?? this.remote.pick(options);
  }

  async endpoints(options?: EndpointsOptions): Promise<EndpointsAnswer> {
    return (await this.watch.endpoints(options)) ?? this.remote.endpoints(options);
  }

  withConnection<T>(
    fn: (endpoint: Endpoint) => Promise<T> | T,
    options?: ConnectionOptions,
  ): Promise<T> {
    return this.remote.withConnection(fn, options);
  }

  connect(options?: ConnectionOptions): Promise<ConnectionHandle> {
    return this.remote.connect(options);
  }
}

/** Query parameters from a call's options: `sessionKey: "a"` → `session-key=a`. */
export function queryOf(options: object | undefined): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [option, value] of Object.entries(options ?? {})) {
    if (value !== undefined) query[parameterName(option)] = String(value);
  }
  return query;
}

class RemoteService implements ServiceClient {
  readonly namespace: string;
  readonly name: string;
  private readonly transport: Transport;

  constructor(transport: Transport, namespace: string, name: string) {
    this.transport = transport;
    this.namespace = namespace;
    this.name = name;
  }

  async pick(options?: PickOptions): Promise<PickAnswer> {
    const answer = await this.transport.send<PickAnswer>({
      method: "GET",
      path: servicePath(this.namespace, this.name, "pick"),
      query: queryOf(options),
      idempotent: true,
    });
    return answer.body;
  }

  async endpoints(options?: EndpointsOptions): Promise<EndpointsAnswer> {
    const answer = await this.transport.send<EndpointsAnswer>({
      method: "GET",
      path: servicePath(this.namespace, this.name, "endpoints"),
      query: queryOf(options),
      idempotent: true,
    });
    return answer.body;
  }

  async withConnection<T>(
    fn: (endpoint: Endpoint) => Promise<T> | T,
    options?: ConnectionOptions,
  ): Promise<T> {
    const connection = await this.connect(options);
    let outcome: ConnectionOutcome = "failure";
    const started = performance.now();
    try {
      const result = await fn(connection.endpoint);
      outcome = "success";
      return result;
    } finally {
      await connection.release(outcome, Math.round(performance.now() - started));
    }
  }

  async connect(options?: ConnectionOptions): Promise<ConnectionHandle> {
    const { body } = await this.transport.send<OpenedConnection>({
      method: "POST",
      path: servicePath(this.namespace, this.name, "connections"),
      query: queryOf(options),
      idempotent: false,
    });
    const transport = this.transport;
    let released: Promise<void> | null = null;
    const release = (outcome?: ConnectionOutcome, latencyMs?: number): Promise<void> => {
      released ??= releaseConnection(transport, body.id, outcome, latencyMs);
      return released;
    };
    return {
      id: body.id,
      endpoint: body.endpoint,
      expiresAt: new Date(body.expiresAt),
      release,
      [Symbol.asyncDispose]: () => release(),
    };
  }
}

async function releaseConnection(
  transport: Transport,
  id: string,
  outcome: ConnectionOutcome | undefined,
  latencyMs: number | undefined,
): Promise<void> {
  const query: Record<string, string> = {};
  if (outcome !== undefined) {
    query.outcome = outcome;
    if (latencyMs !== undefined && Number.isFinite(latencyMs) && latencyMs >= 0) {
      query.latency = `${latencyMs}ms`;
    }
  }
  try {
    await transport.send({
      method: "DELETE",
      path: `/v1/connections/${encodeURIComponent(id)}`,
      ...(outcome === undefined ? {} : { query }),
      idempotent: true,
    });
  } catch (error) {
    // Released already: a retry after a lost answer, its timeout, or a restarted server.
    if (!(error instanceof ConnectionNotFound)) throw error;
  }
}
