import type { CatalogEndpoint, ServiceEntry } from "../../src/catalog/catalog.ts";

export function endpoint(
  identity: string,
  overrides: Partial<CatalogEndpoint> = {},
): CatalogEndpoint {
  return {
    identity,
    address: "10.42.1.1",
    port: 8080,
    ports: { http: 8080 },
    weight: 1,
    zone: "us-east-1a",
    region: "us-east",
    node: "node-use1-a",
    ready: true,
    serving: true,
    terminating: false,
    probeHealthy: null,
    labels: { app: identity.split("-")[0] ?? "" },
    podName: identity,
    ...overrides,
  };
}

export function service(
  namespace: string,
  name: string,
  endpoints: CatalogEndpoint[] = [],
  policy: ServiceEntry["policy"] = null,
): ServiceEntry {
  return { namespace, name, endpoints, policy };
}
