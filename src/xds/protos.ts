/**
 * The Envoy xDS API messages, loaded once from the .proto files that @grpc/grpc-js-xds ships
 * (the same definitions its client decodes with), so that what we encode is what it reads.
 */
import { accessSync, constants } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join } from "node:path";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);

export const TYPE_URL_PREFIX = "type.googleapis.com/";

/** The message types konsul-lb reads or writes, by their full protobuf name. */
export const MESSAGE_NAMES = {
  discoveryRequest: "envoy.service.discovery.v3.DiscoveryRequest",
  discoveryResponse: "envoy.service.discovery.v3.DiscoveryResponse",
  listener: "envoy.config.listener.v3.Listener",
  routeConfiguration: "envoy.config.route.v3.RouteConfiguration",
  cluster: "envoy.config.cluster.v3.Cluster",
  clusterLoadAssignment: "envoy.config.endpoint.v3.ClusterLoadAssignment",
  httpConnectionManager:
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  router: "envoy.extensions.filters.http.router.v3.Router",
  roundRobin: "envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin",
  ringHash: "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash",
  maglev: "envoy.extensions.load_balancing_policies.maglev.v3.Maglev",
  leastRequest: "envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest",
  random: "envoy.extensions.load_balancing_policies.random.v3.Random",
  wrrLocality: "envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality",
} as const;

export type MessageKey = keyof typeof MESSAGE_NAMES;

const PROTO_FILES = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto",
  "envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto",
  "envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto",
  "envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto",
  "envoy/extensions/load_balancing_policies/random/v3/random.proto",
  "envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto",
];

/** The include directories: the package's vendored Envoy, xDS, googleapis and validate protos. */
function includeDirs(): string[] {
  const packageDir = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
  return ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((dir) =>
    join(packageDir, "deps", dir),
  );
}

/** Well-known Google types that protobufjs does not bundle but the Envoy files import. */
function registerWellKnownTypes(): void {
  for (const name of ["api", "descriptor", "source_context", "type"]) {
    const json = require(`protobufjs/google/protobuf/${name}.json`) as {
      nested: { google: { nested: { protobuf: { nested: protobuf.INamespace["nested"] } } } };
    };
    protobuf.common(name, json.nested.google.nested.protobuf.nested ?? {});
  }
}

function loadRoot(): protobuf.Root {
  registerWellKnownTypes();
  const dirs = includeDirs();
  const root = new protobuf.Root();
  const fallback = root.resolvePath.bind(root);
  root.resolvePath = (origin, target) => {
    if (isAbsolute(target)) return target;
    for (const dir of dirs) {
      const path = join(dir, target);
      try {
        accessSync(path, constants.R_OK);
        return path;
      } catch {}
    }
    return fallback(origin, target);
  };
  // keepCase: the objects use the proto field names (snake_case), as the xDS docs write them.
  root.loadSync(PROTO_FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

let loaded: protobuf.Root | null = null;

/** The loaded definitions; the first call parses the files (about half a second of CPU). */
export function xdsRoot(): protobuf.Root {
  loaded ??= loadRoot();
  return loaded;
}

export function messageType(key: MessageKey): protobuf.Type {
  return xdsRoot().lookupType(MESSAGE_NAMES[key]);
}

export function typeUrl(key: MessageKey): string {
  return `${TYPE_URL_PREFIX}${MESSAGE_NAMES[key]}`;
}

export interface AnyMessage {
  readonly type_url: string;
  readonly value: Uint8Array;
}

/**
 * Encodes `object` as the message `key`, wrapped in a google.protobuf.Any. Unknown fields are
 * an error here, not silently dropped as protobufjs's fromObject would, so a misspelt field
 * fails the first test that builds it.
 */
export function packAny(key: MessageKey, object: Record<string, unknown>): AnyMessage {
  const type = messageType(key);
  checkKnownFields(type, object, MESSAGE_NAMES[key]);
  return { type_url: typeUrl(key), value: type.encode(type.fromObject(object)).finish() };
}

function checkKnownFields(type: protobuf.Type, object: unknown, path: string): void {
  if (typeof object !== "object" || object === null || object instanceof Uint8Array) return;
  for (const [name, value] of Object.entries(object)) {
    const field = type.fields[name];
    if (field === undefined) throw new Error(`${path}: ${type.fullName} has no field ${name}`);
    const resolved = field.resolve().resolvedType;
    if (!(resolved instanceof protobuf.Type)) continue;
    if (resolved.fullName === ".google.protobuf.Any") continue;
    const items = Array.isArray(value) ? value : field.map ? Object.values(value) : [value];
    for (const item of items) checkKnownFields(resolved, item, `${path}.${name}`);
  }
}
