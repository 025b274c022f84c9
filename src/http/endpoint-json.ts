import { type Endpoint, isHealthy } from "../balancer/index.ts";

export interface EndpointJson {
  address: string;
  port: number | null;
  ports: Readonly<Record<string, number>>;
  identity: string;
  zone: string | null;
  region: string | null;
  node: string | null;
  weight: number;
  healthy: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export function endpointJson(endpoint: Endpoint): EndpointJson {
  return {
    address: endpoint.address,
    port: endpoint.port,
    ports: endpoint.ports,
    identity: endpoint.identity,
    zone: endpoint.zone,
    region: endpoint.region,
    node: endpoint.node,
    weight: endpoint.weight,
    healthy: isHealthy(endpoint),
    ready: endpoint.ready,
    serving: endpoint.serving,
    terminating: endpoint.terminating,
  };
}
