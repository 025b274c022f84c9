/**
 * A cluster dump as `kubectl get endpointslices,services,pods,nodes,lbp -A -o yaml` prints it:
 * one `kind: List`, keys sorted, with the uids, resource versions, timestamps and status
 * blocks a real API server adds. Built from objects so that tests can vary it.
 */
import { createHash } from "node:crypto";
import { stringify } from "yaml";

const CREATED = "2026-03-02T09:15:00Z";
let resourceVersion = 41_000;

function uid(seed: string): string {
  const hex = createHash("sha256").update(seed).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function metadata(kind: string, name: string, namespace: string | null, extra: object = {}) {
  resourceVersion += 7;
  return {
    creationTimestamp: CREATED,
    name,
    ...(namespace === null ? {} : { namespace }),
    resourceVersion: String(resourceVersion),
    uid: uid(`${kind}/${namespace}/${name}`),
    ...extra,
  };
}

export interface PodSpec {
  readonly name: string;
  readonly node: string;
  readonly ip: string;
  readonly labels?: Record<string, string>;
  readonly weight?: number;
  readonly ready?: boolean;
}

export interface ServiceSpec {
  readonly namespace: string;
  readonly name: string;
  readonly pods: readonly PodSpec[];
  /** The LoadBalancingPolicy spec without targetRef; absent = no policy. */
  readonly policy?: Record<string, unknown>;
}

export interface NodeSpec {
  readonly name: string;
  readonly region: string;
  readonly zone: string;
}

function node({ name, region, zone }: NodeSpec) {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: metadata("Node", name, null, {
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
      },
    }),
    spec: { podCIDR: "10.244.0.0/24" },
    status: {
      addresses: [{ address: name, type: "Hostname" }],
      conditions: [{ status: "True", type: "Ready", reason: "KubeletReady" }],
      nodeInfo: { kubeletVersion: "v1.37.2", osImage: "Debian GNU/Linux 12 (bookworm)" },
    },
  };
}

function service(spec: ServiceSpec) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadata("Service", spec.name, spec.namespace),
    spec: {
      clusterIP: "10.96.12.34",
      clusterIPs: ["10.96.12.34"],
      internalTrafficPolicy: "Cluster",
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: "http" }],
      selector: { app: spec.name },
      sessionAffinity: "None",
      type: "ClusterIP",
    },
    status: { loadBalancer: {} },
  };
}

function pod(spec: ServiceSpec, p: PodSpec) {
  const ready = p.ready ?? true;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: metadata("Pod", p.name, spec.namespace, {
      generateName: `${p.name.slice(0, p.name.lastIndexOf("-"))}-`,
      labels: { app: spec.name, ...p.labels },
      ...(p.weight === undefined
        ? {}
        : { annotations: { "lb.konsul.io/weight": String(p.weight) } }),
    }),
    spec: {
      containers: [
        {
          image: `registry.example.com/${spec.namespace}/${spec.name}:1.0.0`,
          name: spec.name,
          ports: [{ containerPort: 8080, name: "http", protocol: "TCP" }],
        },
      ],
      nodeName: p.node,
      restartPolicy: "Always",
    },
    status: {
      conditions: [{ status: ready ? "True" : "False", type: "Ready" }],
      phase: "Running",
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
    },
  };
}

function endpointSlice(spec: ServiceSpec, zones: ReadonlyMap<string, string>) {
  return {
    addressType: "IPv4",
    apiVersion: "discovery.k8s.io/v1",
    endpoints: spec.pods.map((p) => {
      const ready = p.ready ?? true;
      return {
        addresses: [p.ip],
        conditions: { ready, serving: ready, terminating: false },
        nodeName: p.node,
        targetRef: {
          kind: "Pod",
          name: p.name,
          namespace: spec.namespace,
          uid: uid(`Pod/${spec.namespace}/${p.name}`),
        },
        zone: zones.get(p.node),
      };
    }),
    kind: "EndpointSlice",
    metadata: metadata("EndpointSlice", `${spec.name}-x7k2p`, spec.namespace, {
      generateName: `${spec.name}-`,
      generation: 1,
      labels: {
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "kubernetes.io/service-name": spec.name,
      },
      ownerReferences: [
        {
          apiVersion: "v1",
          blockOwnerDeletion: true,
          controller: true,
          kind: "Service",
          name: spec.name,
          uid: uid(`Service/${spec.namespace}/${spec.name}`),
        },
      ],
    }),
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

function policy(spec: ServiceSpec) {
  return {
    apiVersion: "lb.konsul.io/v1alpha1",
    kind: "LoadBalancingPolicy",
    metadata: metadata("LoadBalancingPolicy", `${spec.name}-lb`, spec.namespace, {
      generation: 1,
    }),
    spec: { targetRef: { kind: "Service", name: spec.name }, ...spec.policy },
    status: {
      conditions: [
        {
          lastTransitionTime: CREATED,
          message: "the policy is valid",
          observedGeneration: 1,
          reason: "Accepted",
          status: "True",
          type: "Accepted",
        },
      ],
    },
  };
}

/** The dump of these nodes and services, in the order kubectl lists the kinds asked for. */
export function kubectlDump(nodes: readonly NodeSpec[], services: readonly ServiceSpec[]): string {
  const zones = new Map(nodes.map((n) => [n.name, n.zone]));
  const items = [
    ...services.map((s) => endpointSlice(s, zones)),
    ...services.map(service),
    ...services.flatMap((s) => s.pods.map((p) => pod(s, p))),
    ...nodes.map(node),
    ...services.filter((s) => s.policy !== undefined).map(policy),
  ];
  return stringify(
    { apiVersion: "v1", items, kind: "List", metadata: { resourceVersion: "" } },
    { sortMapEntries: true },
  );
}

export const NODES: readonly NodeSpec[] = [
  { name: "node-use1-a", region: "us-east", zone: "us-east-1a" },
  { name: "node-use1-b", region: "us-east", zone: "us-east-1b" },
  { name: "node-euw1-a", region: "eu-west", zone: "eu-west-1a" },
  { name: "node-euw1-b", region: "eu-west", zone: "eu-west-1b" },
];

function pods(prefix: string, count: number, extra: (i: number) => Partial<PodSpec> = () => ({})) {
  return Array.from({ length: count }, (_, i) => ({
    name: `${prefix}-${String(i).padStart(2, "0")}`,
    node: (NODES[i % NODES.length] as NodeSpec).name,
    ip: `10.244.${i % NODES.length}.${10 + i}`,
    ...extra(i),
  }));
}

/**
 * web/front: ring-hash over 8 pods (8 x 150 virtual nodes is above the minimum ring size, so
 * removing one pod leaves the others' points where they were); web/api: weights 1, 2, 3;
 * web/static: no policy, 5 pods; geo/edge: latency-based, pods in both regions.
 */
export const SERVICES: readonly ServiceSpec[] = [
  {
    namespace: "geo",
    name: "edge",
    pods: pods("edge-7c9d4", 4),
    policy: {
      strategy: "latency-based",
      latency: {
        map: {
          "us-east": { "us-east": "2ms", "eu-west": "75ms" },
          "eu-west": { "eu-west": "2ms", "us-east": "75ms" },
        },
      },
    },
  },
  {
    namespace: "web",
    name: "api",
    pods: pods("api-5b8f6", 3, (i) => ({ weight: i + 1 })),
    policy: { strategy: "weighted-round-robin" },
  },
  {
    namespace: "web",
    name: "front",
    pods: pods("front-6d4c8", 8),
    policy: { strategy: "ring-hash", ringHash: { virtualNodes: 150, hashOn: "session-key" } },
  },
  { namespace: "web", name: "static", pods: pods("static-9f2a1", 5) },
];

export const DUMP = kubectlDump(NODES, SERVICES);
