import { stringify } from "yaml";

export interface EndpointSpec {
  readonly pod: string;
  readonly ip: string;
  readonly ready?: boolean;
  readonly terminating?: boolean;
  readonly node?: string;
  readonly zone?: string;
  readonly labels?: Record<string, string>;
  readonly weightAnnotation?: string;
  /** The pod's Ready condition's lastTransitionTime (RFC 3339), for slow start. */
  readonly readySince?: string;
}

export interface ServiceSpec {
  readonly namespace: string;
  readonly name: string;
  readonly port?: number;
  readonly endpoints: readonly EndpointSpec[];
  /** A LoadBalancingPolicy spec without targetRef (added here). */
  readonly policy?: Record<string, unknown>;
}

export interface NodeSpec {
  readonly name: string;
  readonly region: string;
  readonly zone: string;
}

/** Kubernetes objects for services, as a manifest file or the API would hold them. */
export function objectsFor(
  services: readonly ServiceSpec[],
  nodes: readonly NodeSpec[] = [],
): object[] {
  const objects: object[] = nodes.map((node) => ({
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: node.name,
      labels: {
        "topology.kubernetes.io/region": node.region,
        "topology.kubernetes.io/zone": node.zone,
      },
    },
  }));
  for (const service of services) {
    const port = service.port ?? 8080;
    const { namespace, name } = service;
    objects.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace, name },
      spec: { selector: { app: name }, ports: [{ name: "http", port: 80, targetPort: port }] },
    });
    for (const e of service.endpoints) {
      objects.push({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          namespace,
          name: e.pod,
          labels: { app: name, ...e.labels },
          ...(e.weightAnnotation
            ? { annotations: { "lb.konsul.io/weight": e.weightAnnotation } }
            : {}),
        },
        spec: { nodeName: e.node ?? null, containers: [{ name: "app", image: "app:1" }] },
        status: {
          podIP: e.ip,
          ...(e.readySince
            ? {
                conditions: [{ type: "Ready", status: "True", lastTransitionTime: e.readySince }],
              }
            : {}),
        },
      });
    }
    if (service.endpoints.length > 0) {
      objects.push({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          namespace,
          name: `${name}-abc12`,
          labels: { "kubernetes.io/service-name": name },
        },
        addressType: "IPv4",
        ports: [{ name: "http", port, protocol: "TCP" }],
        endpoints: service.endpoints.map((e) => ({
          addresses: [e.ip],
          conditions: {
            ready: e.ready ?? true,
            serving: e.ready ?? true,
            terminating: e.terminating ?? false,
          },
          targetRef: { kind: "Pod", namespace, name: e.pod },
          ...(e.node ? { nodeName: e.node } : {}),
          ...(e.zone ? { zone: e.zone } : {}),
        })),
      });
    }
    if (service.policy) {
      objects.push({
        apiVersion: "lb.konsul.io/v1alpha1",
        kind: "LoadBalancingPolicy",
        metadata: { namespace, name: `${name}-lb` },
        spec: { targetRef: { kind: "Service", name }, ...service.policy },
      });
    }
  }
  return objects;
}

/** A multi-document YAML file of the objects. */
export function manifestYaml(
  services: readonly ServiceSpec[],
  nodes: readonly NodeSpec[] = [],
): string {
  return objectsFor(services, nodes)
    .map((object) => stringify(object))
    .join("---\n");
}

/** n endpoints of one service: pods `${prefix}-0..n-1` at 10.1.x.y. */
export function endpointSpecs(
  prefix: string,
  n: number,
  extra: (i: number) => Partial<EndpointSpec> = () => ({}),
): EndpointSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    pod: `${prefix}-${i}`,
    ip: `10.1.${(i >> 8) & 255}.${i & 255}`,
    ...extra(i),
  }));
}
