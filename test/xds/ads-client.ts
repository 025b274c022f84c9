/**
 * A bare ADS client for protocol tests: it sends DiscoveryRequests as written and hands back
 * every DiscoveryResponse decoded, with each resource decoded to its message, so a test can see
 * exactly what konsul-lb puts on the wire (and do what a well-behaved client would not).
 */
import { Client, type ClientDuplexStream, credentials, type ServiceError } from "@grpc/grpc-js";
import { MESSAGE_NAMES, type MessageKey, messageType, typeUrl } from "../../src/xds/protos.ts";

export type Kind = "listener" | "route" | "cluster" | "endpoint";
export const MESSAGE_OF: Record<Kind, MessageKey> = {
  listener: "listener",
  route: "routeConfiguration",
  cluster: "cluster",
  endpoint: "clusterLoadAssignment",
};

// Absent repeated fields stay absent, so a test can tell an empty list from none sent.
const DECODE = { longs: Number, enums: String, defaults: false } as const;

export interface Response {
  readonly version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  /** Each resource decoded to its message (with nested Any left as {type_url, value}). */
  readonly resources: Record<string, unknown>[];
}

export interface RequestFields {
  readonly resource_names?: string[];
  readonly response_nonce?: string;
  readonly version_info?: string;
  readonly error_detail?: { code: number; message: string };
  readonly node?: Record<string, unknown>;
}

/** Decodes an Any by its type URL, with the definitions konsul-lb encodes with. */
export function unpack(any: { type_url: string; value: Uint8Array }): Record<string, unknown> {
  const name = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
  const key = (Object.keys(MESSAGE_NAMES) as MessageKey[]).find((k) => MESSAGE_NAMES[k] === name);
  if (key === undefined) throw new Error(`no message for ${any.type_url}`);
  const type = messageType(key);
  return type.toObject(type.decode(any.value), DECODE);
}

export class AdsTestClient {
  private readonly client: Client;
  private readonly stream: ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
  private readonly queue: Response[] = [];
  private waiters: ((response: Response) => void)[] = [];
  /** The status the stream ended with, once it has. */
  ended: ServiceError | null = null;
  private readonly endWaiters: (() => void)[] = [];

  private readonly node: Record<string, unknown>;

  /** `ownConnection`: a TCP connection of its own, as separate client processes have. */
  constructor(
    port: number,
    node: Record<string, unknown> = { id: "ads-test" },
    ownConnection = false,
  ) {
    this.node = node;
    const request = messageType("discoveryRequest");
    const response = messageType("discoveryResponse");
    this.client = new Client(
      `127.0.0.1:${port}`,
      credentials.createInsecure(),
      ownConnection ? { "grpc.use_local_subchannel_pool": 1 } : {},
    );
    this.stream = this.client.makeBidiStreamRequest(
      "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
      (value: Record<string, unknown>) =>
        Buffer.from(request.encode(request.fromObject(value)).finish()),
      (bytes: Buffer) => response.toObject(response.decode(bytes), DECODE),
    );
    this.stream.on("data", (raw: Record<string, unknown>) => {
      const resources = ((raw.resources as { type_url: string; value: Uint8Array }[]) ?? []).map(
        unpack,
      );
      const decoded = {
        version_info: String(raw.version_info ?? ""),
        type_url: String(raw.type_url ?? ""),
        nonce: String(raw.nonce ?? ""),
        resources,
      };
      const waiter = this.waiters.shift();
      if (waiter) waiter(decoded);
      else this.queue.push(decoded);
    });
    this.stream.on("error", (error: ServiceError) => {
      this.ended = error;
      for (const done of this.endWaiters.splice(0)) done();
    });
    this.stream.on("end", () => {
      for (const done of this.endWaiters.splice(0)) done();
    });
  }

  private first = true;

  send(kind: Kind, fields: RequestFields = {}): void {
    const node = this.first ? { node: this.node } : {};
    this.first = false;
    this.stream.write({ type_url: typeUrl(MESSAGE_OF[kind]), ...node, ...fields });
  }

  /** The next response, or a failure after `timeoutMs`. */
  next(timeoutMs = 3000): Promise<Response> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`no xDS response within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (response: Response) => {
        clearTimeout(timer);
        resolve(response);
      };
      this.waiters.push(done);
    });
  }

  /** Resolves to true when no response arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  /** Waits (bounded) for the stream to end; the status error, or null for OK. */
  async end(timeoutMs = 3000): Promise<ServiceError | null> {
    if (this.ended !== null) return this.ended;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the stream did not end")), timeoutMs);
      this.endWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.ended;
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}
