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

/**
 * Endpoints' JSON text by endpoint object. The catalog's endpoints are frozen and shared from
 * one version of a service to the next, so after a readiness flip an answer listing every
 * endpoint writes one of them afresh and copies the others' text.
 */
const ENDPOINT_TEXTS = new WeakMap<Endpoint, string>();

export function endpointText(endpoint: Endpoint): string {
  let text = ENDPOINT_TEXTS.get(endpoint);
  if (text === undefined) {
    text = JSON.stringify(endpointJson(endpoint));
    // Only a frozen endpoint cannot change under its text.
    if (Object.isFrozen(endpoint)) ENDPOINT_TEXTS.set(endpoint, text);
  }
  return text;
}

/** `JSON.stringify({...head, endpoints: endpoints.map(endpointJson)})`, from the kept texts. */
export function jsonWithEndpoints(head: object, endpoints: readonly Endpoint[]): string {
  const members = JSON.stringify(head).slice(1, -1);
  const list = endpoints.map(endpointText).join(",");
  return `{${members}${members === "" ? "" : ","}"endpoints":[${list}]}`;
}
