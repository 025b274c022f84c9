/**
 * Reading Kubernetes manifests: multi-document YAML, or a List as `kubectl get -o yaml` prints
 * it. Services, EndpointSlices, Pods, Nodes and LoadBalancingPolicies are kept; other kinds are
 * skipped. Every error says where it is: "document 3 of 7 (line 41)" counts documents from 1,
 * like line numbers, and a List's items likewise ("document 1 of 1, item 4 of 9 (line 57)").
 */

import type { Document, YAMLError } from "yaml";
import { isNode, LineCounter, parseAllDocuments } from "yaml";
import type { PathSegment, SchemaProblem } from "../policy/field-path.ts";
import { POLICY_GROUP, POLICY_KIND, POLICY_VERSION } from "../policy/schema.ts";
import type { ParsedPolicy } from "../policy/validate.ts";
import { validatePolicy } from "../policy/validate.ts";
import type { EndpointSlice, Node, Pod, Service } from "./kube-objects.ts";
import { DEFAULT_NAMESPACE } from "./kube-objects.ts";
import { checkMetadataShape, OBJECT_SHAPE_CHECKS } from "./object-shapes.ts";
import type { KubernetesSnapshot } from "./translate.ts";

export type ManifestParse =
  | { readonly ok: true; readonly snapshot: KubernetesSnapshot }
  | { readonly ok: false; readonly errors: readonly string[] };

interface KindInfo {
  readonly group: string;
  readonly version: string;
  readonly namespaced: boolean;
}

/** The kinds read, by kind, with the one API version each is read in. */
const READ_KINDS: Readonly<Record<string, KindInfo>> = {
  Service: { group: "", version: "v1", namespaced: true },
  EndpointSlice: { group: "discovery.k8s.io", version: "v1", namespaced: true },
  Pod: { group: "", version: "v1", namespaced: true },
  Node: { group: "", version: "v1", namespaced: false },
  [POLICY_KIND]: { group: POLICY_GROUP, version: POLICY_VERSION, namespaced: true },
};

function apiVersionOf(info: KindInfo): string {
  return info.group === "" ? info.version : `${info.group}/${info.version}`;
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf("/");
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

type PlainObject = Record<string, unknown>;

/** "is required" for a missing field, else the value that is not allowed. */
function presence(value: unknown): string {
  return value === undefined || value === null
    ? "is required"
    : `${JSON.stringify(value)} is not allowed`;
}

function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Where an object sits in the stream: its document, and its item if it came from a List. */
interface Location {
  readonly document: Document.Parsed;
  readonly documentNumber: number;
  readonly documentCount: number;
  readonly item: { readonly number: number; readonly count: number } | null;
  /** The YAML path of the object inside its document: [] or ["items", n]. */
  readonly yamlPath: readonly PathSegment[];
}

class ManifestReader {
  readonly errors: string[] = [];
  readonly services: Service[] = [];
  readonly endpointSlices: EndpointSlice[] = [];
  readonly pods: Pod[] = [];
  readonly nodes: Node[] = [];
  readonly policies: ParsedPolicy[] = [];
  readonly #seen = new Map<string, string>();
  readonly #sourceName: string;
  readonly #lines: LineCounter;

  constructor(sourceName: string, lines: LineCounter) {
    this.#sourceName = sourceName;
    this.#lines = lines;
  }

  /** The line of the deepest node along `path` that exists, 1-based. */
  lineOf(location: Location, path: readonly PathSegment[]): number {
    const full = [...location.yamlPath, ...path];
    for (let length = full.length; length >= 0; length--) {
      const node = location.document.getIn(full.slice(0, length), true);
      if (isNode(node) && node.range !== undefined && node.range !== null) {
        return this.#lines.linePos(node.range[0]).line;
      }
    }
    return this.#lines.linePos(location.document.range[0]).line;
  }

  describe(location: Location, line: number): string {
    const item =
      location.item === null ? "" : `, item ${location.item.number} of ${location.item.count}`;
    return (
      `${this.#sourceName}: document ${location.documentNumber} of ${location.documentCount}` +
      `${item} (line ${line})`
    );
  }

  report(location: Location, path: readonly PathSegment[], message: string): void {
    this.errors.push(`${this.describe(location, this.lineOf(location, path))}: ${message}`);
  }

  reportYamlError(number: number, count: number, error: YAMLError): void {
    const line = error.linePos?.[0].line ?? this.#lines.linePos(error.pos[0]).line;
    // The library's message ends with its own position and a code excerpt; the line is given above.
    const summary = (error.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
    this.errors.push(
      `${this.#sourceName}: document ${number} of ${count} (line ${line}): invalid YAML: ${summary}`,
    );
  }

  readDocument(document: Document.Parsed, number: number, count: number): void {
    const base: Location = {
      document,
      documentNumber: number,
      documentCount: count,
      item: null,
      yamlPath: [],
    };
    if (document.errors.length > 0) {
      // In the order of the text, which is not always the order the parser noticed them in.
      const errors = [...document.errors].sort((a, b) => a.pos[0] - b.pos[0]);
      for (const error of errors) this.reportYamlError(number, count, error);
      return;
    }
    // A document holding only comments, or nothing, is not an object.
    if (document.contents === null) return;
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return;
    if (!isPlainObject(value)) {
      this.report(
        base,
        [],
        "expected a Kubernetes object (a mapping with apiVersion, kind and metadata)",
      );
      return;
    }
    const kind = value.kind;
    const items = value.items;
    if (typeof kind === "string" && kind.endsWith("List") && Array.isArray(items)) {
      this.readList(base, value, kind, items);
      return;
    }
    this.readObject(base, value);
  }

  /**
   * `kubectl get -o yaml` prints a List whose items carry their own apiVersion and kind; the raw
   * API prints a typed list ("ServiceList") whose items carry neither, so they are taken from it.
   */
  readList(base: Location, list: PlainObject, kind: string, items: unknown[]): void {
    const itemKind = kind === "List" ? undefined : kind.slice(0, -"List".length);
    items.forEach((item, index) => {
      const location: Location = {
        ...base,
        item: { number: index + 1, count: items.length },
        yamlPath: ["items", index],
      };
      if (!isPlainObject(item)) {
        this.report(
          location,
          [],
          "expected a Kubernetes object (a mapping with apiVersion, kind and metadata)",
        );
        return;
      }
      const filled =
        itemKind === undefined ? item : { apiVersion: list.apiVersion, kind: itemKind, ...item };
      this.readObject(location, filled);
    });
  }

  readObject(location: Location, object: PlainObject): void {
    const { kind, apiVersion } = object;
    if (typeof kind !== "string" || kind === "") {
      this.report(
        location,
        ["kind"],
        `kind: ${presence(kind)}; expected the object's kind, such as Service`,
      );
      return;
    }
    if (typeof apiVersion !== "string" || apiVersion === "") {
      this.report(
        location,
        ["apiVersion"],
        `${kind}: apiVersion: ${presence(apiVersion)}; expected an API version such as "v1"`,
      );
      return;
    }
    const metadata = isPlainObject(object.metadata) ? object.metadata : {};
    const name = metadata.name;
    if (typeof name !== "string" || name === "") {
      this.report(
        location,
        ["metadata", "name"],
        `${kind}: metadata.name: ${presence(name)}; expected the object's name`,
      );
      return;
    }
    const info = READ_KINDS[kind];
    if (info === undefined) return;
    const { group, version } = splitApiVersion(apiVersion);
    // Same kind in another API group is another resource (a Knative Service, say): not ours.
    if (group !== info.group) return;
    const namespace = info.namespaced ? this.namespaceOf(metadata) : null;
    const label = `${kind} ${namespace === null ? name : `${namespace}/${name}`}`;
    if (version !== info.version) {
      this.report(
        location,
        ["apiVersion"],
        `${label}: apiVersion ${JSON.stringify(apiVersion)} is not supported; expected ${apiVersionOf(info)}`,
      );
      return;
    }
    const check = kind === POLICY_KIND ? checkMetadataShape : OBJECT_SHAPE_CHECKS[kind];
    const problems = check === undefined ? [] : check(object, []);
    if (problems.length > 0) {
      this.reportProblems(location, label, problems);
      return;
    }
    const seenAt = this.#seen.get(label);
    const here = this.describe(location, this.lineOf(location, []));
    if (seenAt !== undefined) {
      this.errors.push(`${here}: ${label} is defined twice; the first is at ${seenAt}`);
      return;
    }
    this.#seen.set(label, here);
    this.keep(location, label, kind, object, namespace ?? DEFAULT_NAMESPACE);
  }

  namespaceOf(metadata: PlainObject): string {
    const namespace = metadata.namespace;
    return typeof namespace === "string" && namespace !== "" ? namespace : DEFAULT_NAMESPACE;
  }

  reportProblems(location: Location, label: string, problems: readonly SchemaProblem[]): void {
    for (const problem of problems) {
      this.report(location, problem.path, `${label}: ${problem.message}`);
    }
  }

  keep(
    location: Location,
    label: string,
    kind: string,
    object: PlainObject,
    namespace: string,
  ): void {
    // The shape checks above make these casts hold for every field the operator reads.
    const withNamespace = {
      ...object,
      metadata: { ...(object.metadata as PlainObject), namespace },
    };
    switch (kind) {
      case "Service":
        this.services.push(withNamespace as unknown as Service);
        return;
      case "EndpointSlice":
        this.endpointSlices.push(withNamespace as unknown as EndpointSlice);
        return;
      case "Pod":
        this.pods.push(withNamespace as unknown as Pod);
        return;
      case "Node":
        this.nodes.push(object as unknown as Node);
        return;
      case POLICY_KIND: {
        const metadata = object.metadata as PlainObject;
        const created = metadata.creationTimestamp;
        const result = validatePolicy(
          {
            name: metadata.name as string,
            namespace,
            creationTimestamp: typeof created === "string" ? created : null,
          },
          object.spec,
        );
        if (result.ok) this.policies.push(result.policy);
        else this.reportProblems(location, label, result.problems);
        return;
      }
    }
  }
}

/** Reads every object of a manifest stream; `sourceName` prefixes messages (usually the path). */
export function parseManifests(text: string, sourceName: string): ManifestParse {
  const lines = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter: lines });
  const reader = new ManifestReader(sourceName, lines);
  const list = [...documents];
  list.forEach((document, index) => {
    reader.readDocument(document, index + 1, list.length);
  });
  if (reader.errors.length > 0) return { ok: false, errors: reader.errors };
  return {
    ok: true,
    snapshot: {
      services: reader.services,
      endpointSlices: reader.endpointSlices,
      pods: reader.pods,
      nodes: reader.nodes,
      policies: reader.policies,
    },
  };
}
