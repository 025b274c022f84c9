import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { ManifestParse } from "../../src/sources/manifests.ts";
import {
  ManifestCache,
  parseManifests,
  parseManifestsInSlices,
  splitDocuments,
} from "../../src/sources/manifests.ts";
import type { KubernetesSnapshot } from "../../src/sources/translate.ts";
import { countTurns } from "../support/event-loop.ts";

function snapshotOf(result: ManifestParse): KubernetesSnapshot {
  if (!result.ok) throw new Error(`unexpected errors:\n${result.errors.join("\n")}`);
  return result.snapshot;
}

function errorsOf(result: ManifestParse): readonly string[] {
  if (result.ok) throw new Error("expected errors");
  return result.errors;
}

const multiDocument = `# leading comment
apiVersion: v1
kind: Service
metadata:
  name: checkout
  namespace: shop
spec:
  ports: [{name: http, port: 80}]
---
---
# a document of comments only
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: knative-one}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: checkout-abc
  namespace: shop
  labels: {kubernetes.io/service-name: checkout}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.42.1.1]
  targetRef: {kind: Pod, name: checkout-1, namespace: shop}
---
apiVersion: v1
kind: Pod
metadata:
  name: checkout-1
  namespace: shop
  labels: {app: checkout}
  creationTimestamp: null
---
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {topology.kubernetes.io/region: us-east}}
---
apiVersion: lb.konsul.io/v1alpha1
kind: LoadBalancingPolicy
metadata: {name: checkout-lb, namespace: shop, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  targetRef: {name: checkout}
  strategy: ring-hash
`;

describe("parseManifests: reading", () => {
  it("reads the kinds it knows from multi-document YAML and skips the rest", () => {
    const snapshot = snapshotOf(parseManifests(multiDocument, "cluster.yaml"));
    expect(snapshot.services.map((s) => s.metadata?.name)).toEqual(["checkout"]);
    expect(snapshot.endpointSlices.map((s) => s.metadata?.name)).toEqual(["checkout-abc"]);
    expect(snapshot.pods.map((p) => p.metadata?.name)).toEqual(["checkout-1"]);
    expect(snapshot.nodes.map((n) => n.metadata?.name)).toEqual(["node-1"]);
    expect(snapshot.policies).toEqual([
      expect.objectContaining({
        name: "checkout-lb",
        namespace: "shop",
        creationTimestamp: "2025-01-01T00:00:00Z",
        strategy: "ring-hash",
        targetRef: { kind: "Service", name: "checkout" },
      }),
    ]);
  });

  it("puts objects without a namespace in default", () => {
    const snapshot = snapshotOf(
      parseManifests("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n", "x.yaml"),
    );
    expect(snapshot.services[0]?.metadata?.namespace).toBe("default");
  });

  it("reads a List as kubectl get -o yaml prints it", () => {
    const list = `apiVersion: v1
items:
- apiVersion: v1
  kind: Service
  metadata:
    creationTimestamp: "2025-01-01T00:00:00Z"
    name: checkout
    namespace: shop
    resourceVersion: "1234"
    uid: 2f0e9f7c-0000-4000-8000-000000000001
  spec:
    clusterIP: 10.96.12.7
    ports:
    - name: http
      port: 80
      protocol: TCP
      targetPort: http
    type: ClusterIP
  status:
    loadBalancer: {}
- apiVersion: v1
  kind: Pod
  metadata: {name: checkout-1, namespace: shop}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata: {name: checkout-6f7b9c, namespace: shop}
kind: List
metadata:
  resourceVersion: ""
`;
    const snapshot = snapshotOf(parseManifests(list, "list.yaml"));
    expect(snapshot.services.map((s) => s.metadata?.name)).toEqual(["checkout"]);
    expect(snapshot.pods.map((p) => p.metadata?.name)).toEqual(["checkout-1"]);
  });

  it("reads a typed list whose items carry no kind, as the raw API prints it", () => {
    const list = `apiVersion: v1
kind: NodeList
items:
- metadata: {name: node-1}
- metadata: {name: node-2}
`;
    expect(
      snapshotOf(parseManifests(list, "nodes.yaml")).nodes.map((n) => n.metadata?.name),
    ).toEqual(["node-1", "node-2"]);
  });

  it("reads an empty file as an empty snapshot", () => {
    for (const text of ["", "\n", "# nothing yet\n", "---\n---\n"]) {
      expect(snapshotOf(parseManifests(text, "empty.yaml"))).toEqual({
        services: [],
        endpointSlices: [],
        pods: [],
        nodes: [],
        policies: [],
      });
    }
  });
});

describe("parseManifests: errors say where, counting documents and lines from 1", () => {
  it("a policy that fails validation: document number and the offending field's line", () => {
    const text = `apiVersion: v1
kind: Service
metadata: {name: checkout, namespace: shop}
---
apiVersion: lb.konsul.io/v1alpha1
kind: LoadBalancingPolicy
metadata:
  name: checkout-lb
  namespace: shop
spec:
  targetRef: {kind: Service, name: checkout}
  strategy: fastest
  ringHash:
    virtualNodes: 0
`;
    expect(errorsOf(parseManifests(text, "examples/demo.yaml"))).toEqual([
      'examples/demo.yaml: document 2 of 2 (line 12): LoadBalancingPolicy shop/checkout-lb: spec.strategy: "fastest" ' +
        "is not allowed; expected one of round-robin, weighted-round-robin, random, weighted-random, " +
        "least-connections, least-request, ip-hash, ring-hash, maglev, latency-based",
      "examples/demo.yaml: document 2 of 2 (line 14): LoadBalancingPolicy shop/checkout-lb: " +
        "spec.ringHash.virtualNodes: 0 is not allowed; expected an integer from 1 to 10000",
    ]);
  });

  it("a missing field points at the nearest line that exists", () => {
    const text =
      "apiVersion: lb.konsul.io/v1alpha1\nkind: LoadBalancingPolicy\nmetadata: {name: p}\nspec:\n  strategy: maglev\n";
    expect(errorsOf(parseManifests(text, "p.yaml"))).toEqual([
      expect.stringMatching(
        /^p\.yaml: document 1 of 1 \(line 5\): LoadBalancingPolicy default\/p: spec\.targetRef: is required/,
      ),
    ]);
  });

  it("bad YAML", () => {
    const text =
      "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod: x\nmetadata: {name: b}\n";
    expect(errorsOf(parseManifests(text, "bad.yaml"))).toEqual([
      "bad.yaml: document 2 of 2 (line 6): invalid YAML: Nested mappings are not allowed in compact mappings",
    ]);
    const tabs = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n\tlabels: {}\n";
    expect(errorsOf(parseManifests(tabs, "tabs.yaml"))).toEqual([
      "tabs.yaml: document 1 of 1 (line 5): invalid YAML: Tabs are not allowed as indentation",
    ]);
  });

  it("a duplicate key, which YAML forbids", () => {
    const text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nkind: Node\n";
    expect(errorsOf(parseManifests(text, "dup.yaml"))[0]).toMatch(
      /^dup\.yaml: document 1 of 1 \(line 4\): invalid YAML: Map keys must be unique/,
    );
  });

  it("a document without kind, apiVersion or metadata.name", () => {
    const text = `apiVersion: v1
metadata: {name: a}
---
kind: Service
metadata: {name: b}
---
apiVersion: v1
kind: Service
metadata:
  namespace: shop
---
apiVersion: v1
kind: ConfigMap
data: {}
`;
    expect(errorsOf(parseManifests(text, "m.yaml"))).toEqual([
      "m.yaml: document 1 of 4 (line 1): kind: is required; expected the object's kind, such as Service",
      'm.yaml: document 2 of 4 (line 4): Service: apiVersion: is required; expected an API version such as "v1"',
      // The nearest line to a missing name: its metadata block.
      "m.yaml: document 3 of 4 (line 10): Service: metadata.name: is required; expected the object's name",
      "m.yaml: document 4 of 4 (line 12): ConfigMap: metadata.name: is required; expected the object's name",
    ]);
  });

  it("a document that is not an object", () => {
    expect(
      errorsOf(
        parseManifests("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n- 1\n- 2\n", "s.yaml"),
      ),
    ).toEqual([
      "s.yaml: document 2 of 2 (line 5): expected a Kubernetes object (a mapping with apiVersion, kind and metadata)",
    ]);
  });

  it("an item of a List, numbered within the List", () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: s, namespace: shop}
  endpoints:
  - addresses: 10.42.1.1
`;
    expect(errorsOf(parseManifests(text, "l.yaml"))).toEqual([
      "l.yaml: document 1 of 1, item 2 of 2 (line 11): EndpointSlice shop/s: endpoints[0].addresses: " +
        '"10.42.1.1" is not allowed; expected a list, each item a string',
    ]);
  });

  it("an old API version of a kind it reads", () => {
    const text = "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s}\n";
    expect(errorsOf(parseManifests(text, "o.yaml"))).toEqual([
      'o.yaml: document 1 of 1 (line 1): EndpointSlice default/s: apiVersion "discovery.k8s.io/v1beta1" is not supported; expected discovery.k8s.io/v1',
    ]);
  });

  it("labels that are not strings, as Kubernetes would refuse them", () => {
    const text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    version: 2\n";
    expect(errorsOf(parseManifests(text, "p.yaml"))).toEqual([
      "p.yaml: document 1 of 1 (line 6): Pod default/a: metadata.labels.version: 2 is not allowed; expected a string",
    ]);
  });

  it("the same object twice", () => {
    const text =
      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: default}\n";
    expect(errorsOf(parseManifests(text, "d.yaml"))).toEqual([
      "d.yaml: document 2 of 2 (line 5): Service default/a is defined twice; the first is at d.yaml: document 1 of 2 (line 1)",
    ]);
  });

  it("reports every error of the file, not just the first", () => {
    const text = "kind: Pod\n---\nkind: Pod\n---\nkind: Pod\n";
    expect(errorsOf(parseManifests(text, "x.yaml"))).toHaveLength(3);
  });
});

describe("cutting the stream into documents", () => {
  it.each([
    "",
    "# only a comment\n",
    "a: 1",
    "---\na: 1",
    "# c\n---\na: 1",
    "a: 1\n---\n",
    "a: 1\n---\n# c\n---\nb: 2",
    "---\n---\na: 1",
    "a: 1\n--- # marker comment\nb: 2",
    "\n\n---\na: 1\n---",
    "a: |\n  ---\n  not a marker\n---\nb: 2\n",
    "a: 1\r\n---\r\nb: 2\r\n",
  ])("%j has as many documents as the full parser counts", (text) => {
    const documents = splitDocuments(text);
    expect(documents).not.toBeNull();
    expect(documents?.length).toBe([...parseAllDocuments(text)].length);
  });

  it("lets the event loop run while it cuts a long stream, not only between documents", async () => {
    // One document of 60,000 lines: read in slices of no time at all, the cut itself pauses.
    const lines = Array.from({ length: 60_000 }, (_, i) => `# line ${i}`).join("\n");
    const text = `${lines}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n`;
    const turns = countTurns();
    const result = await parseManifestsInSlices(text, "big.yaml", undefined, 0);
    const turned = turns.stop();
    expect(result.ok).toBe(true);
    // Two documents' steps alone would let it turn about twice.
    expect(turned).toBeGreaterThanOrEqual(6);
  });

  it.each(["%YAML 1.2\n---\na: 1", "a: 1\n...\n", "--- {a: 1}\n"])(
    "leaves %j, which the cut does not follow, to the full parser",
    (text) => {
      expect(splitDocuments(text)).toBeNull();
    },
  );

  it("reads a stream the cut leaves to the full parser all the same", () => {
    const text = "%YAML 1.2\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n";
    expect(snapshotOf(parseManifests(text, "y.yaml")).services).toHaveLength(1);
  });
});

describe("a manifest cache", () => {
  const service = (name: string) =>
    `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: shop\n`;

  it("gives back the same objects for documents read before, and new ones for changed ones", () => {
    const cache = new ManifestCache();
    const first = snapshotOf(
      parseManifests(`${service("a")}---\n${service("b")}`, "c.yaml", cache),
    );
    const second = snapshotOf(
      parseManifests(`${service("a")}---\n${service("c")}`, "c.yaml", cache),
    );
    expect(second.services[0]).toBe(first.services[0]);
    expect(second.services[1]).not.toBe(first.services[1]);
    expect(second.services[1]?.metadata?.name).toBe("c");
    // Only the documents of the latest read are kept.
    expect(cache.size).toBe(2);
  });

  it("still reports a document defined twice when both were read before", () => {
    const cache = new ManifestCache();
    snapshotOf(parseManifests(`${service("a")}---\n${service("b")}`, "c.yaml", cache));
    const errors = errorsOf(
      parseManifests(`${service("a")}---\n${service("b")}---\n${service("a")}`, "c.yaml", cache),
    );
    expect(errors).toEqual([
      "c.yaml: document 3 of 3 (line 13): Service shop/a is defined twice; the first is at c.yaml: document 1 of 3 (line 1)",
    ]);
  });

  it("reports an error again on every read of the document", () => {
    const cache = new ManifestCache();
    const text = `${service("a")}---\nkind: Pod\n`;
    expect(errorsOf(parseManifests(text, "c.yaml", cache))[0]).toMatch(
      /document 2 of 2 \(line 7\)/,
    );
    expect(errorsOf(parseManifests(text, "c.yaml", cache))[0]).toMatch(
      /document 2 of 2 \(line 7\)/,
    );
  });
});

describe("parseManifestsInSlices", () => {
  it("reads what parseManifests reads, letting other work run between documents", async () => {
    const text = Array.from(
      { length: 20 },
      (_, i) => `apiVersion: v1\nkind: Service\nmetadata:\n  name: s${i}\n  namespace: shop\n`,
    ).join("---\n");
    let ranBetween = 0;
    const other = setInterval(() => ranBetween++, 0);
    const result = await parseManifestsInSlices(text, "s.yaml", undefined, 0);
    clearInterval(other);
    expect(result).toStrictEqual(parseManifests(text, "s.yaml"));
    expect(snapshotOf(result).services).toHaveLength(20);
    expect(ranBetween).toBeGreaterThan(0);
  });

  it("reports errors with their documents as parseManifests does", async () => {
    const text = "kind: Pod\n---\napiVersion: v1\nkind: Pod\nmetadata: {}\n";
    expect(errorsOf(await parseManifestsInSlices(text, "e.yaml", undefined, 0))).toEqual(
      errorsOf(parseManifests(text, "e.yaml")),
    );
  });
});
