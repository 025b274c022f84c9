/**
 * The xDS resources of one Service version, encoded once as google.protobuf.Any and shared by
 * every stream that subscribes to them: Listener (an API listener for proxyless gRPC, routes
 * over ADS) → RouteConfiguration (hash policy) → Cluster (EDS, load-balancing policy) →
 * ClusterLoadAssignment (weights, health, localities, hash keys).
 */
import { isIP } from "node:net";
import type { XdsEndpoint, XdsService } from "./engine-view.ts";
import {
  hasClientQuirks,
  type PolicyChoice,
  policiesForClient,
  SESSION_KEY_HEADER,
  type XdsBalancing,
  xdsBalancing,
} from "./lb-policies.ts";
import { xdsName } from "./names.ts";
import { type AnyMessage, packAny } from "./protos.ts";

export type ResourceKind = "listener" | "route" | "cluster" | "endpoint";
export const RESOURCE_KINDS: readonly ResourceKind[] = ["listener", "route", "cluster", "endpoint"];

/** What the client tells about itself that changes its resources. */
export interface ClientFacts {
  /** node.locality.region; "" when it gave none. */
  readonly region: string;
  /** node.user_agent_name, e.g. "gRPC Node Pure JS", "gRPC Go", "envoy". */
  readonly userAgent: string;
}

export interface ServiceResources {
  readonly name: string;
  readonly balancing: XdsBalancing;
  resource(kind: ResourceKind, client: ClientFacts): AnyMessage;
}

/** The resources of one Service version, or null when nothing is served for it. */
export type ResourceSource = (service: XdsService) => ServiceResources | null;

const ADS = { ads: {}, resource_api_version: "V3" };
const HEALTH_STATUS = {
  healthy: "HEALTHY",
  unhealthy: "UNHEALTHY",
  draining: "DRAINING",
  // healthFilter false: the engine uses every endpoint, so the client must not filter either.
  unfiltered: "UNKNOWN",
} as const;

function policyConfig(choice: PolicyChoice): Record<string, unknown> {
  const config =
    choice.child === undefined
      ? choice.config
      : {
          ...choice.config,
          endpoint_picking_policy: { policies: [policyConfig(choice.child)] },
        };
  return {
    typed_extension_config: { name: choice.name, typed_config: packAny(choice.message, config) },
  };
}

function hashPolicy(balancing: XdsBalancing): Record<string, unknown>[] {
  if (balancing.hashOn === "session-key") return [{ header: { header_name: SESSION_KEY_HEADER } }];
  if (balancing.hashOn === "client-ip") {
    // Envoy hashes the source IP; gRPC cannot see it and hashes its channel instead, the
    // proxyless equivalent of one client.
    return [
      { connection_properties: { source_ip: true } },
      { filter_state: { key: "io.grpc.channel_id" } },
    ];
  }
  return [];
}

function listener(name: string): AnyMessage {
  const manager = packAny("httpConnectionManager", {
    rds: { config_source: ADS, route_config_name: name },
    http_filters: [{ name: "envoy.filters.http.router", typed_config: packAny("router", {}) }],
  });
  return packAny("listener", { name, api_listener: { api_listener: manager } });
}

function route(name: string, balancing: XdsBalancing): AnyMessage {
  return packAny("routeConfiguration", {
    name,
    virtual_hosts: [
      {
        name,
        domains: [name],
        routes: [
          {
            match: { prefix: "" },
            route: { cluster: name, hash_policy: hashPolicy(balancing) },
          },
        ],
      },
    ],
  });
}

function cluster(name: string, balancing: XdsBalancing, userAgent: string): AnyMessage {
  const policies = policiesForClient(balancing.policies, userAgent);
  return packAny("cluster", {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: ADS, service_name: name },
    load_balancing_policy: { policies: policies.map(policyConfig) },
  });
}

/**
 * Priorities by latency from the client's region: 0 for the nearest endpoints, then one per
 * further latency; endpoints of unknown latency last. Without a region all share priority 0.
 */
function priorities(
  endpoints: readonly XdsEndpoint[],
  region: string,
  latencyMap: XdsService["latencyMap"],
): number[] {
  const row = region === "" ? undefined : latencyMap[region];
  if (row === undefined) return endpoints.map(() => 0);
  const latency = endpoints.map((e) =>
    e.region === null ? Number.POSITIVE_INFINITY : (row[e.region] ?? Number.POSITIVE_INFINITY),
  );
  const ranks = [...new Set(latency)].sort((a, b) => a - b);
  return latency.map((value) => ranks.indexOf(value));
}

function loadAssignment(service: XdsService, balancing: XdsBalancing, region: string): AnyMessage {
  const name = xdsName(service.namespace, service.name);
  // EDS addresses must be IPs (gRPC rejects the whole assignment otherwise): FQDN endpoints of
  // an EndpointSlice are left out.
  const endpoints = service.endpoints.filter((e) => isIP(e.address) !== 0);
  const priority = balancing.latencyPriorities
    ? priorities(endpoints, region, service.latencyMap)
    : endpoints.map(() => 0);
  return packAny("clusterLoadAssignment", {
    cluster_name: name,
    endpoints: endpoints.map((endpoint, i) => {
      const weight = balancing.weights === "none" ? 1 : endpoint.weight;
      return {
        // One locality per endpoint: the only weighting grpc-js honours under round robin.
        locality: {
          ...(endpoint.region === null ? {} : { region: endpoint.region }),
          ...(endpoint.zone === null ? {} : { zone: endpoint.zone }),
          sub_zone: endpoint.identity,
        },
        load_balancing_weight: { value: balancing.weights === "locality" ? weight : 1 },
        priority: priority[i],
        lb_endpoints: [
          {
            endpoint: {
              address: { socket_address: { address: endpoint.address, port_value: endpoint.port } },
            },
            health_status: HEALTH_STATUS[endpoint.use],
            load_balancing_weight: { value: weight },
            // gRFC A76: hash the pod's identity, not its IP, so a rescheduled pod keeps its keys.
            // protobufjs's bundled google.protobuf.Value spells its fields in camelCase.
            metadata: {
              filter_metadata: {
                "envoy.lb": { fields: { hash_key: { stringValue: endpoint.identity } } },
              },
            },
          },
        ],
      };
    }),
  });
}

/** Builds resources lazily: a stream that never asks for a Cluster never pays for one. */
export const buildResources: ResourceSource = (service) => {
  if (service.strategy === null) return null;
  const name = xdsName(service.namespace, service.name);
  const balancing = xdsBalancing(service.strategy, service);
  const built = new Map<string, AnyMessage>();
  // Only latency-based tailors endpoints to the client, and only to regions of its latency map,
  // so the cache holds at most one assignment per region there.
  const regionKey = (client: ClientFacts) =>
    balancing.latencyPriorities && Object.hasOwn(service.latencyMap, client.region)
      ? client.region
      : "";
  return {
    name,
    balancing,
    resource(kind, client) {
      const key =
        kind === "endpoint"
          ? `endpoint/${regionKey(client)}`
          : kind === "cluster" && hasClientQuirks(client.userAgent)
            ? `cluster/${client.userAgent}`
            : kind;
      let any = built.get(key);
      if (any === undefined) {
        any =
          kind === "listener"
            ? listener(name)
            : kind === "route"
              ? route(name, balancing)
              : kind === "cluster"
                ? cluster(name, balancing, client.userAgent)
                : loadAssignment(service, balancing, regionKey(client));
        built.set(key, any);
      }
      return any;
    },
  };
};
