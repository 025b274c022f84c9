/**
 * A state-of-the-world Aggregated Discovery Service (envoy.service.discovery.v3) on
 * @grpc/grpc-js. Each stream subscribes to resource names per type; every response carries the
 * catalog index as version_info and a fresh nonce, and the client answers with an ACK (the nonce
 * and the version) or a NACK (the nonce, its last good version and an error_detail). A catalog
 * change is pushed to the streams subscribed to the changed Services.
 *
 * Bounded: at most `maxStreams` streams and `maxNamesPerStream` names on one stream; a stream
 * beyond either limit ends with RESOURCE_EXHAUSTED and a message that names the limit. A stream
 * that does not read its responses holds at most one pending response per type.
 */
import {
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServiceDefinition,
  status,
} from "@grpc/grpc-js";
import type { Logger } from "../observability/logger.ts";
import type { EngineView } from "./engine-view.ts";
import { knownClient, policyRunBy, policyShortName } from "./lb-policies.ts";
import { serviceKeyOf } from "./names.ts";
import { type AnyMessage, messageType, typeUrl } from "./protos.ts";
import {
  buildResources,
  type ClientFacts,
  RESOURCE_KINDS,
  type ResourceKind,
  type ResourceSource,
  type ServiceResources,
} from "./resources.ts";
import type { XdsMetrics } from "./xds-metrics.ts";

export const DEFAULT_MAX_STREAMS = 2000;
export const DEFAULT_MAX_NAMES_PER_STREAM = 1000;
/** Ending streams on shutdown: after this long the server stops without waiting for clients. */
const SHUTDOWN_GRACE_MS = 1000;

const ADS_METHOD =
  "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

const MESSAGE_OF_KIND = {
  listener: "listener",
  route: "routeConfiguration",
  cluster: "cluster",
  endpoint: "clusterLoadAssignment",
} as const;

const KIND_OF_TYPE_URL: ReadonlyMap<string, ResourceKind> = new Map(
  RESOURCE_KINDS.map((kind) => [typeUrl(MESSAGE_OF_KIND[kind]), kind]),
);

/** The fields of a DiscoveryRequest the server reads (proto field names). */
interface DiscoveryRequest {
  readonly version_info?: string;
  readonly node?: {
    readonly id?: string;
    readonly user_agent_name?: string;
    readonly locality?: { readonly region?: string };
  };
  readonly resource_names?: readonly string[];
  readonly type_url?: string;
  readonly response_nonce?: string;
  readonly error_detail?: { readonly code?: number; readonly message?: string };
}

interface DiscoveryResponse {
  readonly version_info: string;
  readonly resources: readonly AnyMessage[];
  readonly type_url: string;
  readonly nonce: string;
}

type AdsCall = ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

function serviceDefinition(): ServiceDefinition {
  const request = messageType("discoveryRequest");
  const response = messageType("discoveryResponse");
  const decodeOptions = { longs: String, enums: String, arrays: true };
  return {
    StreamAggregatedResources: {
      path: ADS_METHOD,
      requestStream: true,
      responseStream: true,
      requestSerialize: (value: DiscoveryRequest) =>
        Buffer.from(request.encode(request.fromObject(value)).finish()),
      requestDeserialize: (bytes: Buffer) =>
        request.toObject(request.decode(bytes), decodeOptions) as DiscoveryRequest,
      responseSerialize: (value: DiscoveryResponse) =>
        Buffer.from(response.encode(response.fromObject(value)).finish()),
      responseDeserialize: (bytes: Buffer) =>
        response.toObject(response.decode(bytes), decodeOptions) as DiscoveryResponse,
    },
  };
}

export interface XdsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly view: EngineView;
  readonly metrics: XdsMetrics;
  readonly logger: Logger;
  readonly maxStreams?: number;
  readonly maxNamesPerStream?: number;
  /** Builds a Service's resources; the default is the real mapping. */
  readonly resources?: ResourceSource;
}

export interface XdsListening {
  readonly host: string;
  readonly port: number;
  /** How many ADS streams are open. */
  streamCount(): number;
  /** Ends every stream (clients reconnect elsewhere) and stops listening. */
  close(): Promise<void>;
}

export async function startXdsServer(options: XdsServerOptions): Promise<XdsListening> {
  const ads = new AdsService(options);
  const server = new Server({
    // A dead peer's stream is noticed by keepalive rather than held until the socket times out.
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    // Requests hold names, not resources; a megabyte is far beyond a legitimate one.
    "grpc.max_receive_message_length": 1024 * 1024,
  });
  server.addService(serviceDefinition(), {
    StreamAggregatedResources: (call: AdsCall) => ads.open(call),
  });
  const bracketed = options.host.includes(":") ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${bracketed}:${options.port}`,
      ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    );
  });
  return {
    host: options.host,
    port,
    streamCount: () => ads.streamCount(),
    async close() {
      ads.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

/** Per stream and type: what the client subscribed to and the last response it was sent. */
interface Subscription {
  readonly names: Set<string>;
  /** LDS/CDS with no names on the first request (Envoy's legacy wildcard) or the name "*". */
  wildcard: boolean;
  /** The nonce of the latest response; a request naming another nonce is stale. */
  nonce: string;
  /** Whether the client has ACKed or NACKed that response; later requests only change names. */
  answered: boolean;
  /** The resources of the latest response, to skip a push that would change nothing. */
  sent: readonly AnyMessage[];
}

/** The streams, their subscriptions, and the pushes on catalog changes. */
class AdsService {
  private readonly options: XdsServerOptions;
  private readonly resources: ResourceSource;
  private readonly maxStreams: number;
  private readonly maxNames: number;
  private readonly streams = new Set<AdsStream>();
  /** Built resources per Service version object (the view hands out one object per version). */
  private readonly built = new WeakMap<object, ServiceResources | null>();
  private readonly stopListening: () => void;
  private changed = new Set<string>();
  private flushScheduled = false;
  private nextStreamId = 1;

  constructor(options: XdsServerOptions) {
    this.options = options;
    this.resources = options.resources ?? buildResources;
    this.maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
    this.maxNames = options.maxNamesPerStream ?? DEFAULT_MAX_NAMES_PER_STREAM;
    this.stopListening = options.view.onChange((keys) => {
      for (const key of keys) this.changed.add(key);
      // A burst of changes (a file reload, a relist) becomes one push per stream and type.
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  streamCount(): number {
    return this.streams.size;
  }

  open(call: AdsCall): void {
    const { metrics, logger } = this.options;
    if (this.streams.size >= this.maxStreams) {
      metrics.refused.inc({ reason: "stream-limit" });
      logger.warn(
        { streams: this.streams.size },
        "xDS stream refused: the stream limit is reached",
      );
      call.emit("error", {
        code: status.RESOURCE_EXHAUSTED,
        details:
          `this konsul-lb serves at most ${this.maxStreams} xDS streams and all are in use; ` +
          "retry later or connect to another replica",
      });
      return;
    }
    const stream = new AdsStream(this.nextStreamId++, call, this, this.maxNames, this.options);
    this.streams.add(stream);
    metrics.streams.set(this.streams.size);
    const closed = () => {
      if (this.streams.delete(stream)) metrics.streams.set(this.streams.size);
    };
    call.on("cancelled", closed);
    call.on("close", closed);
    call.on("finish", closed);
    call.on("error", closed);
    call.on("end", () => {
      closed();
      call.end();
    });
    call.on("data", (request: DiscoveryRequest) => {
      try {
        stream.request(request);
      } catch (error) {
        // A defect in building a resource: this stream ends, the server and other streams go on.
        logger.error({ err: error }, "xDS stream failed");
        stream.abort(`konsul-lb could not build the resources: ${(error as Error).message}`);
      }
    });
  }

  /** The resources of the Service an xDS name stands for, or null when there are none. */
  resourcesOf(resourceName: string): ServiceResources | null {
    const key = serviceKeyOf(resourceName);
    if (key === null) return null;
    const slash = key.indexOf("/");
    const service = this.options.view.service(key.slice(0, slash), key.slice(slash + 1));
    if (service === undefined) return null;
    let resources = this.built.get(service);
    if (resources === undefined) {
      resources = this.resources(service);
      this.built.set(service, resources);
    }
    // Names resolve to the Service's own resources only (an alias of another name is not served).
    return resources !== null && resources.name === resourceName ? resources : null;
  }

  /** Every Service's xDS name, for wildcard subscriptions. */
  allNames(): string[] {
    return this.options.view.keys().map((key) => {
      const slash = key.indexOf("/");
      return `${key.slice(slash + 1)}.${key.slice(0, slash)}`;
    });
  }

  version(): string {
    return String(this.options.view.index());
  }

  close(): void {
    this.stopListening();
    for (const stream of [...this.streams]) stream.end();
    this.streams.clear();
    this.options.metrics.streams.set(0);
  }

  private flush(): void {
    this.flushScheduled = false;
    const changed = this.changed;
    this.changed = new Set();
    for (const stream of this.streams) {
      try {
        stream.changed(changed);
      } catch (error) {
        this.options.logger.error({ err: error }, "xDS push failed");
        stream.abort(`konsul-lb could not build the resources: ${(error as Error).message}`);
      }
    }
  }
}

class AdsStream {
  private readonly id: number;
  private readonly call: AdsCall;
  private readonly service: AdsService;
  private readonly maxNames: number;
  private readonly options: XdsServerOptions;
  private readonly subscriptions = new Map<ResourceKind, Subscription>();
  private client: ClientFacts = { region: "", userAgent: "" };
  private nodeId = "";
  private userAgent = "";
  private nonce = 0;
  /** Types whose response waits for the transport to drain, and whether only if changed. */
  private readonly pending = new Map<ResourceKind, boolean>();
  private waitingForDrain = false;
  private ended = false;

  constructor(
    id: number,
    call: AdsCall,
    service: AdsService,
    maxNames: number,
    options: XdsServerOptions,
  ) {
    this.id = id;
    this.call = call;
    this.service = service;
    this.maxNames = maxNames;
    this.options = options;
  }

  request(request: DiscoveryRequest): void {
    if (this.ended) return;
    const { metrics, logger } = this.options;
    // The node is only required on the first request; later ones may leave it out.
    if (request.node !== undefined && this.nodeId === "") {
      this.nodeId = request.node.id ?? "";
      this.userAgent = request.node.user_agent_name ?? "";
      this.client = {
        region: request.node.locality?.region ?? "",
        userAgent: this.userAgent,
      };
    }
    const kind = KIND_OF_TYPE_URL.get(request.type_url ?? "");
    if (kind === undefined) {
      logger.debug({ client: this.nodeId, typeUrl: request.type_url }, "xDS type not served");
      return;
    }
    const nonce = request.response_nonce ?? "";
    let subscription = this.subscriptions.get(kind);
    if (subscription !== undefined && nonce !== "" && nonce !== subscription.nonce) {
      // An answer to a response already superseded: the client will answer the newer one.
      return;
    }
    if (subscription !== undefined && nonce !== "" && !subscription.answered) {
      subscription.answered = true;
      const error = request.error_detail;
      if (error !== undefined && error !== null && (error.message ?? "") !== "") {
        metrics.nacks.inc({ type: kind });
        logger.warn(
          {
            client: this.nodeId,
            type: kind,
            nonce,
            acceptedVersion: request.version_info ?? "",
            error: error.message,
          },
          `xDS client ${JSON.stringify(this.nodeId)} rejected the ${kind} resources: ${error.message}`,
        );
      } else {
        metrics.acks.inc({ type: kind });
      }
    }
    const names = request.resource_names ?? [];
    const first = subscription === undefined;
    const wildcard =
      names.includes("*") ||
      (first && names.length === 0 && (kind === "listener" || kind === "cluster")) ||
      (!first && subscription?.wildcard === true && names.length === 0);
    const requested = new Set(names.filter((name) => name !== "*"));
    if (subscription === undefined) {
      subscription = { names: requested, wildcard, nonce: "", answered: false, sent: [] };
      this.subscriptions.set(kind, subscription);
    } else if (sameNames(subscription.names, requested) && subscription.wildcard === wildcard) {
      return;
    } else {
      subscription.names.clear();
      for (const name of requested) subscription.names.add(name);
      subscription.wildcard = wildcard;
    }
    let total = 0;
    for (const each of this.subscriptions.values()) total += each.names.size;
    if (total > this.maxNames) {
      metrics.refused.inc({ reason: "name-limit" });
      logger.warn(
        { client: this.nodeId, names: total, limit: this.maxNames },
        "xDS stream ended: too many names subscribed",
      );
      this.fail(
        `this stream subscribes to ${total} resource names; at most ${this.maxNames} are ` +
          "allowed on one stream: open another stream for the rest",
      );
      return;
    }
    // A client that subscribes to nothing (an unsubscribe) gets no response of that type.
    if (first || subscription.wildcard || subscription.names.size > 0) this.send(kind);
  }

  /** Pushes every type one of whose names stands for a changed Service. */
  changed(keys: ReadonlySet<string>): void {
    for (const [kind, subscription] of this.subscriptions) {
      if (subscription.wildcard) {
        if (keys.size > 0) this.send(kind, true);
        continue;
      }
      for (const name of subscription.names) {
        const key = serviceKeyOf(name);
        if (key !== null && keys.has(key)) {
          this.send(kind, true);
          break;
        }
      }
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.call.end();
  }

  /** Ends the stream with INTERNAL: the client retries with backoff. */
  abort(message: string): void {
    this.fail(message, status.INTERNAL);
  }

  private fail(message: string, code: status = status.RESOURCE_EXHAUSTED): void {
    if (this.ended) return;
    this.ended = true;
    this.call.emit("error", { code, details: message });
  }

  /**
   * Sends the current resources of one type. A push after a catalog change (`onlyIfChanged`)
   * is skipped when it would carry the same resources as the last response: a Service change
   * usually changes its endpoints alone, and the other three types need not travel again.
   */
  private send(kind: ResourceKind, onlyIfChanged = false): void {
    if (this.ended) return;
    if (this.waitingForDrain) {
      this.pending.set(kind, (this.pending.get(kind) ?? true) && onlyIfChanged);
      return;
    }
    const subscription = this.subscriptions.get(kind);
    if (subscription === undefined) return;
    const { metrics, logger } = this.options;
    const names = subscription.wildcard ? this.service.allNames() : [...subscription.names];
    const resources: AnyMessage[] = [];
    const services: ServiceResources[] = [];
    for (const name of names) {
      const built = this.service.resourcesOf(name);
      if (built === null) continue;
      resources.push(built.resource(kind, this.client));
      services.push(built);
    }
    if (onlyIfChanged && sameResources(subscription.sent, resources)) return;
    if (kind === "cluster") for (const built of services) this.countFallback(built);
    const nonce = `${this.id}-${++this.nonce}`;
    subscription.nonce = nonce;
    subscription.answered = false;
    subscription.sent = resources;
    const response: DiscoveryResponse = {
      version_info: this.service.version(),
      resources,
      type_url: typeUrl(MESSAGE_OF_KIND[kind]),
      nonce,
    };
    metrics.responses.inc({ type: kind });
    logger.debug(
      { client: this.nodeId, type: kind, resources: resources.length, nonce },
      "xDS response",
    );
    if (!this.call.write(response)) {
      this.waitingForDrain = true;
      this.call.once("drain", () => {
        this.waitingForDrain = false;
        const again = [...this.pending];
        this.pending.clear();
        for (const [each, onlyIfChanged] of again) this.send(each, onlyIfChanged);
      });
    }
  }

  private countFallback(built: ServiceResources): void {
    const client = knownClient(this.userAgent);
    if (client === null) return;
    const run = policyRunBy(this.userAgent, built.balancing.policies);
    const first = built.balancing.policies[0];
    if (first === undefined || run === policyShortName(first)) return;
    this.options.metrics.fallbacks.inc({
      strategy: built.balancing.strategy,
      client,
      policy: run ?? "none",
    });
  }
}

function sameNames(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const name of a) if (!b.has(name)) return false;
  return true;
}

/** Whether two responses would carry the same resources (same objects, or the same bytes). */
function sameResources(a: readonly AnyMessage[], b: readonly AnyMessage[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as AnyMessage;
    const y = b[i] as AnyMessage;
    if (x === y) continue;
    if (x.type_url !== y.type_url || Buffer.compare(x.value, y.value) !== 0) return false;
  }
  return true;
}
