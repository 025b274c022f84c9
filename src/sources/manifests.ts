/**
 * Reading Kubernetes manifests: multi-document YAML, or a List as `kubectl get -o yaml` prints
 * it. Services, EndpointSlices, Pods, Nodes and LoadBalancingPolicies are kept; other kinds are
 * skipped. Every error says where it is: "document 3 of 7 (line 41)" counts documents from 1,
 * like line numbers, and a List's items likewise ("document 1 of 1, item 4 of 9 (line 57)").
 *
 * Big files are read fast: the stream is cut at its `---` lines, each document is read by the
 * plain-YAML reader unless it needs the full parser, and with a ManifestCache a document whose
 * text was read before gives back the objects it gave then (the same objects, so that the
 * translation can tell what did not change). The full parser's view of a document, with its
 * lines, is only made when an error needs a line.
 */

import type { Document, YAMLError } from "yaml";
import { isNode, LineCounter, parseAllDocuments, parseDocument } from "yaml";
import type { PathSegment, SchemaProblem } from "../policy/field-path.ts";
import { POLICY_GROUP, POLICY_KIND, POLICY_VERSION } from "../policy/schema.ts";
import type { ParsedPolicy } from "../policy/validate.ts";
import { validatePolicy } from "../policy/validate.ts";
import { digestOf } from "../shared/digest.ts";
import { runInSlices, runToEnd, type Steps } from "../shared/slices.ts";
import type { EndpointSlice, Node, Pod, Service } from "./kube-objects.ts";
import { DEFAULT_NAMESPACE } from "./kube-objects.ts";
import { checkMetadataShape, OBJECT_SHAPE_CHECKS } from "./object-shapes.ts";
import { NOT_PLAIN, readPlainYaml } from "./plain-yaml.ts";
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

/** A document as the full parser reads it, with the line of each of its positions. */
interface ParsedDocument {
  readonly document: Document.Parsed;
  /** The 1-based line in the whole stream of a position in the document's text. */
  lineAt(position: number): number;
}

/** One document of the stream: its text and where it starts. */
interface DocumentSource {
  /** The full parser's view, made when first asked for (an error needs a line). */
  parsed(): ParsedDocument;
  /** The document's text, when it was cut from the stream (and can be cached by it). */
  readonly text: string | null;
}

/** Where an object sits in the stream: its document, and its item if it came from a List. */
interface Location {
  readonly source: DocumentSource;
  readonly documentNumber: number;
  readonly documentCount: number;
  readonly item: { readonly number: number; readonly count: number } | null;
  /** The YAML path of the object inside its document: [] or ["items", n]. */
  readonly yamlPath: readonly PathSegment[];
}

/** An object read from a document, ready for the snapshot. */
type KeptObject =
  | { readonly kind: "Service"; readonly value: Service }
  | { readonly kind: "EndpointSlice"; readonly value: EndpointSlice }
  | { readonly kind: "Pod"; readonly value: Pod }
  | { readonly kind: "Node"; readonly value: Node }
  | { readonly kind: typeof POLICY_KIND; readonly value: ParsedPolicy };

/** What a document without errors gave: its objects, each with its label and place. */
interface ReadDocument {
  readonly objects: readonly {
    readonly label: string;
    readonly item: Location["item"];
    readonly yamlPath: readonly PathSegment[];
    readonly kept: KeptObject;
  }[];
}

/** Documents most recently read without errors, by a hash of their text. */
export class ManifestCache {
  #documents = new Map<string, ReadDocument>();

  get(key: string): ReadDocument | undefined {
    return this.#documents.get(key);
  }

  /** Keeps exactly the documents of the latest read: a removed document leaves the cache. */
  replace(documents: Map<string, ReadDocument>): void {
    this.#documents = documents;
  }

  get size(): number {
    return this.#documents.size;
  }
}

class ManifestReader {
  readonly errors: string[] = [];
  readonly services: Service[] = [];
  readonly endpointSlices: EndpointSlice[] = [];
  readonly pods: Pod[] = [];
  readonly nodes: Node[] = [];
  readonly policies: ParsedPolicy[] = [];
  /** Where each label was first defined: described only when it is defined again. */
  readonly #seen = new Map<string, Location>();
  readonly #sourceName: string;
  /** The objects of the document being read, when it has no error. */
  #objects: ReadDocument["objects"][number][] = [];
  #documentErrors = 0;

  constructor(sourceName: string) {
    this.#sourceName = sourceName;
  }

  /** The line of the deepest node along `path` that exists, 1-based. */
  lineOf(location: Location, path: readonly PathSegment[]): number {
    const { document, lineAt } = location.source.parsed();
    const full = [...location.yamlPath, ...path];
    for (let length = full.length; length >= 0; length--) {
      const node = document.getIn(full.slice(0, length), true);
      if (isNode(node) && node.range !== undefined && node.range !== null) {
        return lineAt(node.range[0]);
      }
    }
    return lineAt(document.range[0]);
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
    this.#documentErrors++;
    this.errors.push(`${this.describe(location, this.lineOf(location, path))}: ${message}`);
  }

  reportYamlError(number: number, count: number, parsed: ParsedDocument, error: YAMLError): void {
    this.#documentErrors++;
    const line = parsed.lineAt(error.pos[0]);
    // The library's message ends with its own position and a code excerpt; the line is given above.
    const summary = (error.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
    this.errors.push(
      `${this.#sourceName}: document ${number} of ${count} (line ${line}): invalid YAML: ${summary}`,
    );
  }

  /** Reads one document; returns what it gave when it had no error, to be cached. */
  readDocument(source: DocumentSource, number: number, count: number): ReadDocument | null {
    const base: Location = {
      source,
      documentNumber: number,
      documentCount: count,
      item: null,
      yamlPath: [],
    };
    this.#objects = [];
    this.#documentErrors = 0;
    let value: unknown = source.text === null ? NOT_PLAIN : readPlainYaml(source.text);
    if (value === NOT_PLAIN) {
      const parsed = source.parsed();
      const { document } = parsed;
      if (document.errors.length > 0) {
        // In the order of the text, which is not always the order the parser noticed them in.
        const errors = [...document.errors].sort((a, b) => a.pos[0] - b.pos[0]);
        for (const error of errors) this.reportYamlError(number, count, parsed, error);
        return null;
      }
      // A document holding only comments, or nothing, is not an object.
      value = document.contents === null ? null : document.toJS();
    }
    if (value !== null && value !== undefined) this.readValue(base, value);
    return this.#documentErrors === 0 ? { objects: this.#objects } : null;
  }

  /** Takes the objects a document gave when it was read before. */
  reuseDocument(source: DocumentSource, number: number, count: number, read: ReadDocument): void {
    for (const { label, item, yamlPath, kept } of read.objects) {
      const location: Location = {
        source,
        documentNumber: number,
        documentCount: count,
        item,
        yamlPath,
      };
      if (this.firstDefinition(location, label)) this.add(kept);
    }
  }

  readValue(base: Location, value: unknown): void {
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
    if (!this.firstDefinition(location, label)) return;
    this.keep(location, label, kind, object, namespace ?? DEFAULT_NAMESPACE);
  }

  /** Whether `label` is defined here for the first time; reports it when it is not. */
  firstDefinition(location: Location, label: string): boolean {
    const first = this.#seen.get(label);
    if (first === undefined) {
      this.#seen.set(label, location);
      return true;
    }
    const here = this.describe(location, this.lineOf(location, []));
    const seenAt = this.describe(first, this.lineOf(first, []));
    this.#documentErrors++;
    this.errors.push(`${here}: ${label} is defined twice; the first is at ${seenAt}`);
    return false;
  }

  add(kept: KeptObject): void {
    switch (kept.kind) {
      case "Service":
        this.services.push(kept.value);
        return;
      case "EndpointSlice":
        this.endpointSlices.push(kept.value);
        return;
      case "Pod":
        this.pods.push(kept.value);
        return;
      case "Node":
        this.nodes.push(kept.value);
        return;
      case POLICY_KIND:
        this.policies.push(kept.value);
        return;
    }
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
    const keep = (kept: KeptObject) => {
      this.#objects.push({ label, item: location.item, yamlPath: location.yamlPath, kept });
      this.add(kept);
    };
    switch (kind) {
      case "Service":
        keep({ kind, value: withNamespace as unknown as Service });
        return;
      case "EndpointSlice":
        keep({ kind, value: withNamespace as unknown as EndpointSlice });
        return;
      case "Pod":
        keep({ kind, value: withNamespace as unknown as Pod });
        return;
      case "Node":
        keep({ kind, value: object as unknown as Node });
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
        if (result.ok) keep({ kind, value: result.policy });
        else this.reportProblems(location, label, result.problems);
        return;
      }
    }
  }
}

/** A document cut from the stream: its text and the line it starts on (0-based). */
interface DocumentText {
  readonly text: string;
  readonly firstLine: number;
}

/**
 * The stream cut at its `---` lines, each document with its `---` line, as the full parser
 * counts them: what comes before the first `---` is a document only if it holds more than
 * comments. Null when the stream has what this cut does not follow (directives, `...`, content
 * on a `---` line): the full parser then reads the whole stream.
 */
export function splitDocuments(text: string): DocumentText[] | null {
  return runToEnd(cutDocuments(text));
}

/** Lines the cut reads between pauses: about a millisecond of work. */
const CUT_LINES_PER_STEP = 10_000;

/**
 * splitDocuments, pausing (yield) every CUT_LINES_PER_STEP lines: cutting a 20 MB stream in one
 * piece held every answer for tens of milliseconds.
 */
function* cutDocuments(text: string): Steps<DocumentText[] | null> {
  const documents: DocumentText[] = [];
  let start = 0;
  let startLine = 0;
  let line = 0;
  let hasContent = false;
  let at = 0;
  while (at <= text.length) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    const first = text.charCodeAt(at);
    // Only lines starting with "-", "." or "%" can be markers or directives.
    const rest =
      first === 45 /* - */ && text.startsWith("---", at) ? text.slice(at + 3, end) : null;
    if (rest !== null && (rest === "" || /^\s/.test(rest))) {
      const after = rest.trim();
      // `--- value` or `--- !tag`: left to the full parser.
      if (after !== "" && !after.startsWith("#")) return null;
      if (at > start && (documents.length > 0 || hasContent)) {
        documents.push({ text: text.slice(start, at), firstLine: startLine });
      }
      start = at;
      startLine = line;
      hasContent = true;
    } else if ((first === 46 /* . */ && text.startsWith("...", at)) || first === 37 /* % */) {
      return null;
    } else if (!hasContent) {
      const content = text.slice(at, end).trim();
      if (content !== "" && !content.startsWith("#")) hasContent = true;
    }
    at = end + 1;
    line++;
    if (line % CUT_LINES_PER_STEP === 0) yield;
  }
  if (hasContent) documents.push({ text: text.slice(start), firstLine: startLine });
  return documents;
}

function fullParse(text: string, firstLine: number): ParsedDocument {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, keepSourceTokens: false });
  return { document, lineAt: (position) => lines.linePos(position).line + firstLine };
}

/**
 * A copy of a document's text that shares no memory with the stream's: the strings read from it
 * are slices of the text they came from, and would otherwise keep the whole stream alive for as
 * long as one of its objects is cached (a stream per reload, after a few edits).
 */
function ownCopy(text: string): string {
  return Buffer.from(text, "utf8").toString("utf8");
}

/**
 * Reads every object of a manifest stream; `sourceName` prefixes messages (usually the path).
 * With a cache, documents read before are not read again, and the cache then holds this
 * stream's documents.
 */
export function parseManifests(
  text: string,
  sourceName: string,
  cache?: ManifestCache,
): ManifestParse {
  return runToEnd(readManifests(text, sourceName, cache));
}

/**
 * parseManifests in slices of about `sliceMs` of work, letting the event loop run between them:
 * a big file read while the operator serves stalls no answer for the whole read.
 */
export function parseManifestsInSlices(
  text: string,
  sourceName: string,
  cache: ManifestCache | undefined,
  sliceMs: number,
): Promise<ManifestParse> {
  return runInSlices(readManifests(text, sourceName, cache), sliceMs);
}

/** Reads the stream, pausing (yield) after each document. */
function* readManifests(
  text: string,
  sourceName: string,
  cache: ManifestCache | undefined,
): Steps<ManifestParse> {
  const reader = new ManifestReader(sourceName);
  const documents = yield* cutDocuments(text);
  if (documents === null) {
    const lines = new LineCounter();
    const list = [...parseAllDocuments(text, { lineCounter: lines })];
    for (const [index, document] of list.entries()) {
      const parsed = { document, lineAt: (position: number) => lines.linePos(position).line };
      reader.readDocument({ text: null, parsed: () => parsed }, index + 1, list.length);
      yield;
    }
  } else {
    const read = new Map<string, ReadDocument>();
    for (const [index, { text: streamSlice, firstLine }] of documents.entries()) {
      const key = cache === undefined ? null : digestOf(streamSlice);
      const cached = key === null ? undefined : cache?.get(key);
      const documentText = cached === undefined ? ownCopy(streamSlice) : streamSlice;
      let parsed: ParsedDocument | null = null;
      const source: DocumentSource = {
        text: documentText,
        parsed: () => {
          parsed ??= fullParse(documentText, firstLine);
          return parsed;
        },
      };
      if (cached !== undefined) {
        reader.reuseDocument(source, index + 1, documents.length, cached);
        if (key !== null) read.set(key, cached);
      } else {
        const result = reader.readDocument(source, index + 1, documents.length);
        if (result !== null && key !== null) read.set(key, result);
      }
      yield;
    }
    cache?.replace(read);
  }
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
