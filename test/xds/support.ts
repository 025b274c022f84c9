/**
 * Real gRPC on loopback for the xDS tests: backends on 127.0.0.x that answer with their own
 * name and count their hits, and proxyless clients (@grpc/grpc-js-xds) that dial
 * xds:///<service>.<namespace> with a bootstrap pointing at a konsul-lb.
 */
import {
  Client,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { register } from "@grpc/grpc-js-xds";
import { type EndpointSpec, manifestYaml, type ServiceSpec } from "../support/manifests.ts";

register();

const WHO_PATH = "/konsul.test.Who/Name";
const raw = (value: Buffer) => value;

/** `Hold` answers like `Name`, after the backend's `holdMs`: a backend with long calls. */
export const HOLD_PATH = "/konsul.test.Who/Hold";

const rawMethod = (path: string) => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: raw,
  requestDeserialize: raw,
  responseSerialize: raw,
  responseDeserialize: raw,
});

const WHO_SERVICE: ServiceDefinition = { Name: rawMethod(WHO_PATH), Hold: rawMethod(HOLD_PATH) };

export interface Backend {
  readonly name: string;
  readonly ip: string;
  hits: number;
  /** How long `Hold` waits before answering. */
  holdMs: number;
  readonly server: Server;
}

export interface Backends {
  readonly port: number;
  readonly list: readonly Backend[];
  /** Hits per backend name since the last reset. */
  hits(): Record<string, number>;
  reset(): void;
  stop(): Promise<void>;
}

async function bind(server: Server, address: string): Promise<number> {
  return await new Promise((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
}

/** `count` backends named `${prefix}-i` on 127.0.0.(i+2), all on one port (an EndpointSlice's). */
export async function startBackends(prefix: string, count: number): Promise<Backends> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const list: Backend[] = [];
    let port = 0;
    try {
      for (let i = 0; i < count; i++) {
        const ip = `127.0.0.${i + 2}`;
        const backend: Backend = {
          name: `${prefix}-${i}`,
          ip,
          hits: 0,
          holdMs: 0,
          server: new Server(),
        };
        backend.server.addService(WHO_SERVICE, {
          Name: (_call: ServerUnaryCall<Buffer, Buffer>, done: sendUnaryData<Buffer>) => {
            backend.hits++;
            done(null, Buffer.from(backend.name));
          },
          Hold: (_call: ServerUnaryCall<Buffer, Buffer>, done: sendUnaryData<Buffer>) => {
            backend.hits++;
            setTimeout(() => done(null, Buffer.from(backend.name)), backend.holdMs);
          },
        });
        list.push(backend);
        port = await bind(backend.server, `${ip}:${port}`);
      }
    } catch (error) {
      for (const backend of list) backend.server.forceShutdown();
      if (attempt === 4) throw error;
      continue;
    }
    return {
      port,
      list,
      hits: () => Object.fromEntries(list.map((b) => [b.name, b.hits])),
      reset: () => {
        for (const backend of list) backend.hits = 0;
      },
      async stop() {
        for (const backend of list) backend.server.forceShutdown();
      },
    };
  }
  throw new Error("unreachable");
}

/** Endpoint specs of the backends: pod name = backend name, address = its loopback IP. */
export function backendEndpoints(
  backends: Backends,
  extra: (i: number) => Partial<EndpointSpec> = () => ({}),
): EndpointSpec[] {
  return backends.list.map((backend, i) => ({ pod: backend.name, ip: backend.ip, ...extra(i) }));
}

export function serviceYaml(services: readonly ServiceSpec[]): string {
  return manifestYaml(services);
}

export interface BootstrapOptions {
  readonly nodeId?: string;
  readonly region?: string;
  /** Calls wait for a connection within their deadline (default) rather than fail at once. */
  readonly waitForReady?: boolean;
}

/** A gRPC xDS bootstrap pointing at the konsul-lb at `port`. */
export function bootstrap(port: number, options: BootstrapOptions = {}): object {
  return {
    xds_servers: [
      {
        server_uri: `127.0.0.1:${port}`,
        channel_creds: [{ type: "insecure" }],
        server_features: ["xds_v3"],
      },
    ],
    node: {
      id: options.nodeId ?? "test-client",
      locality: options.region === undefined ? {} : { region: options.region },
    },
  };
}

export interface XdsClient {
  /** One call; resolves to the name of the backend that answered. */
  call(sessionKey?: string): Promise<string>;
  /** `count` calls one after another; hits per backend name. */
  calls(count: number, sessionKey?: (i: number) => string): Promise<Record<string, number>>;
  close(): void;
}

const CALL_DEADLINE_MS = 5000;

/**
 * A proxyless client of `target` with its own xDS client (the bootstrap travels as a channel
 * option, so that every test has its own konsul-lb and its own ADS stream).
 */
export function xdsClient(
  target: string,
  xdsPort: number,
  options: BootstrapOptions = {},
): XdsClient {
  const client = new Client(`xds:///${target}`, credentials.createInsecure(), {
    "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(
      bootstrap(xdsPort, options),
    ),
  });
  const call = (sessionKey?: string) =>
    new Promise<string>((resolve, reject) => {
      // wait-for-ready: a fresh process's first calls wait for the connections (grpc-js 1.14 under
      // wrr_locality otherwise fails them at once with "No connection established"); the deadline
      // still bounds them.
      const metadata = new Metadata({ waitForReady: options.waitForReady ?? true });
      if (sessionKey !== undefined) metadata.set("x-session-key", sessionKey);
      client.makeUnaryRequest(
        WHO_PATH,
        raw,
        raw,
        Buffer.alloc(0),
        metadata,
        { deadline: Date.now() + CALL_DEADLINE_MS },
        (error, value) => (error ? reject(error) : resolve((value as Buffer).toString())),
      );
    });
  return {
    call,
    async calls(count, sessionKey) {
      const hits: Record<string, number> = {};
      for (let i = 0; i < count; i++) {
        const name = await call(sessionKey?.(i));
        hits[name] = (hits[name] ?? 0) + 1;
      }
      return hits;
    },
    close: () => client.close(),
  };
}

export { status };
