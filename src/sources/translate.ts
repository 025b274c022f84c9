/**
 * From Kubernetes objects to catalog entries, written once for every source: the manifest file
 * and the Kubernetes API both hand their objects here. Pure: the same snapshot always gives the
 * same entries, in the same order, with the same warnings.
 */

import { DEFAULT_WEIGHT, deepEqual, MAX_WEIGHT, MIN_WEIGHT } from "../balancer/index.ts";
import type { CatalogEndpoint, ServiceEntry } from "../catalog/catalog.ts";
import { serviceKey } from "../catalog/catalog.ts";
import { matchesSelector } from "../policy/selector.ts";
import type { ParsedPolicy } from "../policy/validate.ts";
import { runInSlices, runToEnd, type Steps } from "../shared/slices.ts";
import type {
  EndpointSlice,
  KubeObject,
  Node,
  Pod,
  Service,
  SliceEndpoint,
} from "./kube-objects.ts";
import {
  DEFAULT_NAMESPACE,
  REGION_LABEL,
  SERVICE_NAME_LABEL,
  WEIGHT_ANNOTATION,
  ZONE_LABEL,
} from "./kube-objects.ts";

export interface KubernetesSnapshot {
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly pods: readonly Pod[];
  readonly nodes: readonly Node[];
  readonly policies: readonly ParsedPolicy[];
}

export interface Translation {
  /** One entry per Service, sorted by namespace, then name. */
  readonly entries: ServiceEntry[];
  /** Things that did not stop the translation but deserve a look; each names the objects. */
  readonly warnings: string[];
}

type Labels = Readonly<Record<string, string>>;

function namespaceOf(object: KubeObject): string {
  return object.metadata?.namespace ?? DEFAULT_NAMESPACE;
}

function nameOf(object: KubeObject): string {
  return object.metadata?.name ?? "";
}

function keyOf(object: KubeObject): string {
  return serviceKey(namespaceOf(object), nameOf(object));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Milliseconds since the epoch, or null when absent or unreadable. */
function createdAt(policy: ParsedPolicy): number | null {
  if (policy.creationTimestamp === null) return null;
  const ms = Date.parse(policy.creationTimestamp);
  return Number.isNaN(ms) ? null : ms;
}

/** Oldest first; objects without a creation time (not yet created, as in a file) come last. */
export function comparePolicyAge(a: ParsedPolicy, b: ParsedPolicy): number {
  const ta = createdAt(a);
  const tb = createdAt(b);
  if (ta !== tb) {
    if (ta === null) return 1;
    if (tb === null) return -1;
    return ta - tb;
  }
  return compareText(a.name, b.name);
}

/** The policy of each Service key: the oldest of those targeting it, as with Gateway API policies. */
function policiesByService(
  policies: readonly ParsedPolicy[],
  serviceKeys: ReadonlySet<string>,
  warnings: string[],
): Map<string, ParsedPolicy> {
  const candidates = new Map<string, ParsedPolicy[]>();
  for (const policy of policies) {
    const key = serviceKey(policy.namespace, policy.targetRef.name);
    if (!serviceKeys.has(key)) {
      warnings.push(
        `LoadBalancingPolicy ${serviceKey(policy.namespace, policy.name)} targets Service ${key}, ` +
          "which does not exist; the policy has no effect",
      );
      continue;
    }
    const list = candidates.get(key) ?? [];
    list.push(policy);
    candidates.set(key, list);
  }
  const chosen = new Map<string, ParsedPolicy>();
  for (const key of [...candidates.keys()].sort(compareText)) {
    const [winner, ...losers] = (candidates.get(key) ?? []).sort(comparePolicyAge);
    if (winner === undefined) continue;
    chosen.set(key, winner);
    const winnerKey = serviceKey(winner.namespace, winner.name);
    for (const loser of losers) {
      warnings.push(
        `LoadBalancingPolicy ${serviceKey(loser.namespace, loser.name)} conflicts with ` +
          `LoadBalancingPolicy ${winnerKey}: both target Service ${key}; ` +
          `${winnerKey} applies, being the older (by creationTimestamp, then name)`,
      );
    }
  }
  return chosen;
}

// Dual-stack services have one slice per address family listing the same pods; the pod's
// IPv4 address is the one kept, then IPv6, then anything else.
const ADDRESS_TYPE_RANK: Readonly<Record<string, number>> = { IPv4: 0, IPv6: 1 };

export function compareSlices(a: EndpointSlice, b: EndpointSlice): number {
  const ra = ADDRESS_TYPE_RANK[a.addressType ?? ""] ?? 2;
  const rb = ADDRESS_TYPE_RANK[b.addressType ?? ""] ?? 2;
  return ra !== rb ? ra - rb : compareText(nameOf(a), nameOf(b));
}

function slicesByService(slices: readonly EndpointSlice[]): Map<string, EndpointSlice[]> {
  const byService = new Map<string, EndpointSlice[]>();
  for (const slice of slices) {
    const serviceName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (serviceName === undefined) continue;
    const key = serviceKey(namespaceOf(slice), serviceName);
    const list = byService.get(key) ?? [];
    list.push(slice);
    byService.set(key, list);
  }
  for (const list of byService.values()) list.sort(compareSlices);
  return byService;
}

/** Named ports of a slice; an unnamed port is keyed "". Ports without a number are skipped. */
function slicePorts(slice: EndpointSlice): Record<string, number> {
  const ports: Record<string, number> = {};
  for (const port of slice.ports ?? []) {
    const name = port.name ?? "";
    if (typeof port.port === "number" && !Object.hasOwn(ports, name)) ports[name] = port.port;
  }
  return ports;
}

/** The port matching the Service's first port by name, else the slice's first port. */
function primaryPort(
  service: Service,
  slice: EndpointSlice,
  ports: Record<string, number>,
): number | null {
  const firstServicePort = service.spec?.ports?.[0];
  if (firstServicePort !== undefined) {
    const byName = ports[firstServicePort.name ?? ""];
    if (byName !== undefined) return byName;
  }
  const first = (slice.ports ?? []).find((port) => typeof port.port === "number");
  return first?.port ?? null;
}

function identityOf(endpoint: SliceEndpoint, address: string, port: number | null): string {
  const podName = podReference(endpoint)?.name;
  if (podName !== undefined) return podName;
  const host = address.includes(":") ? `[${address}]` : address;
  return port === null ? host : `${host}:${port}`;
}

function podReference(
  endpoint: SliceEndpoint,
): { namespace: string | null; name: string } | undefined {
  const ref = endpoint.targetRef;
  if (ref?.kind !== "Pod" || typeof ref.name !== "string" || ref.name === "") return undefined;
  return { namespace: ref.namespace ?? null, name: ref.name };
}

const INTEGER = /^[0-9]+$/;

/** Where the translation of a slice finds the Pods and Nodes its endpoints name. */
export interface Lookups {
  /** A Pod by "namespace/name". */
  pod(key: string): Pod | undefined;
  node(name: string): Node | undefined;
  /** A Set, because a pod behind two services would otherwise be reported twice. */
  readonly warnings: Set<string>;
}

const NO_LABELS: Labels = Object.freeze({});

/** Policy weight, else the pod's annotation, else the default. */
function weightOf(
  policy: ParsedPolicy | null,
  pod: Pod | undefined,
  labels: Labels,
  lookups: Lookups,
): number {
  for (const rule of policy?.weights ?? []) {
    if (matchesSelector(rule.selector, labels)) return rule.weight;
  }
  const annotation = pod?.metadata?.annotations?.[WEIGHT_ANNOTATION];
  if (annotation === undefined || pod === undefined) return DEFAULT_WEIGHT;
  const weight = INTEGER.test(annotation) ? Number(annotation) : Number.NaN;
  if (weight >= MIN_WEIGHT && weight <= MAX_WEIGHT) return weight;
  lookups.warnings.add(
    `Pod ${keyOf(pod)}: annotation ` +
      `${WEIGHT_ANNOTATION} ${JSON.stringify(annotation)} is not allowed; expected an integer ` +
      `from ${MIN_WEIGHT} to ${MAX_WEIGHT}; using weight ${DEFAULT_WEIGHT}`,
  );
  return DEFAULT_WEIGHT;
}

/**
 * Whether the pod's own Ready condition says it is not ready (False or Unknown). The EndpointSlice
 * controller derives the slice's `ready` from this very condition, but writes the slice only after
 * its own queue, from milliseconds to seconds later in a busy cluster; a pod known to have failed
 * its readiness leaves the rotation now. The other way round waits for the slice: an address is
 * only ever served as ready when its slice says so. A pod with no Ready condition (not started,
 * or a manifest without status) says nothing.
 */
function podSaysNotReady(service: Service, pod: Pod | undefined): boolean {
  if (pod === undefined || service.spec?.publishNotReadyAddresses === true) return false;
  const ready = pod.status?.conditions?.find((condition) => condition?.type === "Ready");
  return ready?.status !== undefined && ready.status !== null && ready.status !== "True";
}

/**
 * When the pod last became ready, from its Ready condition's transition time, in milliseconds
 * since the epoch; null when unknown. An object's own timestamp, so a restart of the operator
 * does not restart anyone's slow-start ramp. (EndpointSlice conditions carry no times.)
 */
function readySinceOf(pod: Pod | undefined): number | null {
  const ready = pod?.status?.conditions?.find((condition) => condition?.type === "Ready");
  if (ready?.status !== "True") return null;
  const time = ready.lastTransitionTime;
  if (time === undefined || time === null) return null;
  const ms = time instanceof Date ? time.getTime() : Date.parse(time);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * The endpoints one EndpointSlice gives its Service, each frozen, in the slice's order; an
 * address listed twice in the slice is kept once. A source that keeps these per slice only has to
 * translate again the slices that changed (see mergeSliceEndpoints).
 */
export function sliceEndpoints(
  service: Service,
  slice: EndpointSlice,
  policy: ParsedPolicy | null,
  lookups: Lookups,
  previous?: readonly CatalogEndpoint[],
): readonly CatalogEndpoint[] {
  // The ports of the slice's last translation when they are unchanged: every endpoint holds
  // them, so comparing this translation with that one (see the Kubernetes source) finds them
  // identical at once instead of once per endpoint.
  const listed = slicePorts(slice);
  const before = previous?.[0]?.ports;
  const ports = before !== undefined && deepEqual(before, listed) ? before : Object.freeze(listed);
  const port = primaryPort(service, slice, ports);
  const seen = new Set<string>();
  const endpoints: CatalogEndpoint[] = [];
  for (const endpoint of slice.endpoints ?? []) {
    // Kubernetes lists one address per endpoint today; the field is a list for the future.
    const address = endpoint.addresses?.[0];
    if (address === undefined || address === "") continue;
    const identity = identityOf(endpoint, address, port);
    if (seen.has(identity)) continue;
    seen.add(identity);
    const ref = podReference(endpoint);
    const pod =
      ref === undefined
        ? undefined
        : lookups.pod(serviceKey(ref.namespace ?? namespaceOf(slice), ref.name));
    // Shared with the pod's own (frozen) labels: one copy per pod, however many endpoints.
    const labels: Labels = pod?.metadata?.labels
      ? Object.isFrozen(pod.metadata.labels)
        ? pod.metadata.labels
        : Object.freeze({ ...pod.metadata.labels })
      : NO_LABELS;
    const nodeName = endpoint.nodeName ?? null;
    const nodeLabels = nodeName === null ? undefined : lookups.node(nodeName)?.metadata?.labels;
    const podNotReady = podSaysNotReady(service, pod);
    const ready = !podNotReady && (endpoint.conditions?.ready ?? true);
    const readySince = ready ? readySinceOf(pod) : null;
    endpoints.push(
      Object.freeze({
        identity,
        address,
        port,
        ports,
        weight: weightOf(policy, pod, labels, lookups),
        zone: endpoint.zone ?? nodeLabels?.[ZONE_LABEL] ?? null,
        region: nodeLabels?.[REGION_LABEL] ?? null,
        node: nodeName,
        ready,
        // Serving follows the pod's readiness even while it terminates, as in the slice.
        serving: !podNotReady && (endpoint.conditions?.serving ?? ready),
        terminating: endpoint.conditions?.terminating ?? false,
        probeHealthy: null,
        labels,
        podName: ref?.name ?? null,
        // Only where known: most endpoints have no ramp to run.
        ...(readySince === null ? {} : { readySince }),
      }),
    );
  }
  return endpoints;
}

/**
 * A Service's endpoints from its slices' endpoints, the slices in compareSlices order. The same
 * endpoint in two slices (as during a slice rebalance) is one endpoint: the copy in the first
 * slice by address family, then name, is kept. Sorted by identity.
 */
export function mergeSliceEndpoints(
  perSlice: readonly (readonly CatalogEndpoint[])[],
): CatalogEndpoint[] {
  const byIdentity = new Map<string, CatalogEndpoint>();
  for (const endpoints of perSlice) {
    for (const endpoint of endpoints) {
      if (!byIdentity.has(endpoint.identity)) byIdentity.set(endpoint.identity, endpoint);
    }
  }
  return [...byIdentity.values()].sort((a, b) => compareText(a.identity, b.identity));
}

/** What a slice's endpoints were made of, and what they were: see TranslationCache. */
interface SliceTranslation {
  readonly service: Service;
  readonly policy: ParsedPolicy | null;
  /** Every Pod and Node looked up, with what the lookup gave. */
  readonly pods: readonly (readonly [string, Pod | undefined])[];
  readonly nodes: readonly (readonly [string, Node | undefined])[];
  readonly warnings: readonly string[];
  readonly endpoints: readonly CatalogEndpoint[];
  /** The translation (TranslationCache's count) that last gave these endpoints. */
  usedIn: number;
}

/** What a Service's entry was made of, and the entry: see TranslationCache. */
interface ServiceTranslation {
  readonly service: Service;
  readonly policy: ParsedPolicy | null;
  /** Its slices' endpoints, in compareSlices order, as TranslationCache.endpointsOf gave them. */
  readonly perSlice: readonly (readonly CatalogEndpoint[])[];
  readonly entry: ServiceEntry;
}

/**
 * The endpoints of each slice translated before, for a source that hands the same objects again
 * when they did not change (the manifest file's cache of documents): a slice is translated again
 * only when it, its Service, its policy, or a Pod or Node it names is another object than last
 * time. The endpoints then stay the same objects, which the catalog compares in no time. A
 * Service none of whose parts changed gets the very entry it got last time, so an edit of one
 * Service merges and sorts the endpoints of that Service alone.
 */
export class TranslationCache {
  readonly #slices = new WeakMap<EndpointSlice, SliceTranslation>();
  /** The Services of the latest translation, by key: a Service that left it leaves the cache. */
  #services = new Map<string, ServiceTranslation>();
  /** Translations begun, counting this one. */
  #translation = 0;
  /** The Pods and Nodes of the translation before, and whether this one has the same objects. */
  #pods: ReadonlyMap<string, Pod> = new Map();
  #nodes: ReadonlyMap<string, Node> = new Map();
  #samePods = false;
  #sameNodes = false;

  /**
   * Begins a translation with these Pods and Nodes. When they are the same objects as in the
   * translation before, a slice that was used in that one needs no lookup checked again: with
   * 100,000 endpoints that is 200,000 lookups saved on an edit that touched no Pod or Node.
   */
  begin(pods: ReadonlyMap<string, Pod>, nodes: ReadonlyMap<string, Node>): void {
    this.#translation++;
    this.#samePods = sameObjects(this.#pods, pods);
    this.#sameNodes = sameObjects(this.#nodes, nodes);
    this.#pods = pods;
    this.#nodes = nodes;
  }

  /** The entry made last time from exactly these parts, if any. */
  entryOf(
    key: string,
    service: Service,
    policy: ParsedPolicy | null,
    perSlice: readonly (readonly CatalogEndpoint[])[],
  ): ServiceEntry | undefined {
    const cached = this.#services.get(key);
    if (
      cached === undefined ||
      cached.service !== service ||
      cached.policy !== policy ||
      cached.perSlice.length !== perSlice.length ||
      cached.perSlice.some((endpoints, i) => endpoints !== perSlice[i])
    ) {
      return undefined;
    }
    return cached.entry;
  }

  /** Keeps exactly the Services of the latest translation. */
  replaceServices(services: Map<string, ServiceTranslation>): void {
    this.#services = services;
  }

  endpointsOf(
    service: Service,
    slice: EndpointSlice,
    policy: ParsedPolicy | null,
    lookups: Lookups,
  ): readonly CatalogEndpoint[] {
    const cached = this.#slices.get(slice);
    const usedBefore = cached?.usedIn === this.#translation - 1;
    if (
      cached !== undefined &&
      cached.service === service &&
      cached.policy === policy &&
      ((usedBefore && this.#samePods) ||
        cached.pods.every(([key, pod]) => lookups.pod(key) === pod)) &&
      ((usedBefore && this.#sameNodes) ||
        cached.nodes.every(([name, node]) => lookups.node(name) === node))
    ) {
      cached.usedIn = this.#translation;
      for (const warning of cached.warnings) lookups.warnings.add(warning);
      return cached.endpoints;
    }
    const pods: [string, Pod | undefined][] = [];
    const nodes: [string, Node | undefined][] = [];
    const recording: Lookups = {
      pod: (key) => {
        const pod = lookups.pod(key);
        pods.push([key, pod]);
        return pod;
      },
      node: (name) => {
        const node = lookups.node(name);
        nodes.push([name, node]);
        return node;
      },
      warnings: new Set(),
    };
    const endpoints = sliceEndpoints(service, slice, policy, recording);
    for (const warning of recording.warnings) lookups.warnings.add(warning);
    this.#slices.set(slice, {
      service,
      policy,
      pods,
      nodes,
      warnings: [...recording.warnings],
      endpoints,
      usedIn: this.#translation,
    });
    return endpoints;
  }
}

/** Whether two maps hold the same keys with the same objects. */
function sameObjects<T>(a: ReadonlyMap<string, T>, b: ReadonlyMap<string, T>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

function newEntry(
  service: Service,
  policy: ParsedPolicy | null,
  endpoints: readonly CatalogEndpoint[],
): ServiceEntry {
  // Frozen, endpoint list included: the same entry may be handed to the catalog on several
  // loads, and the catalog then knows it as unchanged without comparing it.
  return Object.freeze({
    namespace: namespaceOf(service),
    name: nameOf(service),
    endpoints: Object.freeze(endpoints),
    policy,
    ...(service.spec?.trafficDistribution
      ? { trafficDistribution: service.spec.trafficDistribution }
      : {}),
  });
}

/** `cache`: the slices translated before, reused where nothing they were made of changed. */
export function translateSnapshot(
  snapshot: KubernetesSnapshot,
  cache?: TranslationCache,
): Translation {
  return runToEnd(translateInSteps(snapshot, cache));
}

/**
 * translateSnapshot in slices of about `sliceMs` of work, letting the event loop run between
 * them: the file source translates 100,000 endpoints while it serves.
 */
export function translateSnapshotInSlices(
  snapshot: KubernetesSnapshot,
  cache: TranslationCache | undefined,
  sliceMs: number,
): Promise<Translation> {
  return runInSlices(translateInSteps(snapshot, cache), sliceMs);
}

/** Objects indexed between pauses: about a millisecond of work. */
const INDEXED_PER_STEP = 5_000;

/** The translation, pausing (yield) after each Service and every few thousand objects indexed. */
function* translateInSteps(
  snapshot: KubernetesSnapshot,
  cache: TranslationCache | undefined,
): Steps<Translation> {
  const warnings: string[] = [];
  const services = new Map<string, Service>();
  for (const service of snapshot.services) {
    const key = keyOf(service);
    if (!services.has(key)) services.set(key, service);
  }
  const policies = policiesByService(snapshot.policies, new Set(services.keys()), warnings);
  const slices = slicesByService(snapshot.endpointSlices);
  yield;
  const pods = new Map<string, Pod>();
  for (const pod of snapshot.pods) {
    pods.set(keyOf(pod), pod);
    if (pods.size % INDEXED_PER_STEP === 0) yield;
  }
  const nodes = new Map(snapshot.nodes.map((node) => [nameOf(node), node]));
  yield;
  cache?.begin(pods, nodes);
  yield;
  const lookups: Lookups = {
    pod: (key) => pods.get(key),
    node: (name) => nodes.get(name),
    warnings: new Set(),
  };
  // Namespace first, then name: sorting the "namespace/name" keys would put "a-b/x" before "a/x".
  const ordered = [...services].sort(
    ([, a], [, b]) =>
      compareText(namespaceOf(a), namespaceOf(b)) || compareText(nameOf(a), nameOf(b)),
  );
  const entries: ServiceEntry[] = [];
  const translated = new Map<string, ServiceTranslation>();
  for (const [key, service] of ordered) {
    const policy = policies.get(key) ?? null;
    const serviceSlices = slices.get(key) ?? [];
    if (cache === undefined) {
      const perSlice = serviceSlices.map((slice) =>
        sliceEndpoints(service, slice, policy, lookups),
      );
      entries.push(newEntry(service, policy, mergeSliceEndpoints(perSlice)));
      yield;
      continue;
    }
    const perSlice = serviceSlices.map((slice) =>
      cache.endpointsOf(service, slice, policy, lookups),
    );
    const entry =
      cache.entryOf(key, service, policy, perSlice) ??
      newEntry(service, policy, mergeSliceEndpoints(perSlice));
    translated.set(key, { service, policy, perSlice, entry });
    entries.push(entry);
    yield;
  }
  cache?.replaceServices(translated);
  return { entries, warnings: [...warnings, ...lookups.warnings] };
}
