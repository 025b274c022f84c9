import type { KubeConfig } from "@kubernetes/client-node";
import { deepEqual, isHealthy } from "../balancer/index.ts";
import {
  type Catalog,
  type CatalogEndpoint,
  type CatalogEntry,
  type ServiceEntry,
  serviceKey,
} from "../catalog/catalog.ts";
import { type ParsedPolicy, type PolicyValidation, validatePolicy } from "../policy/validate.ts";
import type { Logger } from "../shared/logger.ts";
import { SERVICE_NAME_LABEL } from "../sources/kube-objects.ts";
import {
  comparePolicyAge,
  compareSlices,
  type Lookups,
  mergeSliceEndpoints,
  sliceEndpoints,
} from "../sources/translate.ts";
import {
  DEFAULT_INFORMER_TIMING,
  type InformerHooks,
  type InformerTiming,
  objectKey,
  ResilientInformer,
} from "./informer.ts";
import { RefIndex } from "./ref-index.ts";
import {
  type TrimmedNode,
  type TrimmedPod,
  type TrimmedPolicy,
  type TrimmedService,
  type TrimmedSlice,
  watchedKinds,
} from "./resources.ts";
import { type QueueObserver, WorkQueue } from "./workqueue.ts";

export interface KubernetesSourceOptions {
  readonly config: KubeConfig;
  readonly catalog: Catalog;
  readonly logger: Logger;
  readonly timing?: InformerTiming;
  readonly observer?: QueueObserver;
  readonly onWatchRestart?: InformerHooks["onWatchRestart"];
  /** Rewrites a translated entry before it enters the catalog (e.g. active probe results). */
  readonly decorate?: (entry: ServiceEntry) => ServiceEntry;
  /** Told after a service was reconciled, with the policies that target it. */
  readonly onServiceReconciled?: (service: string, policies: readonly string[]) => void;
  /** Told when a policy object changed or went away. */
  readonly onPolicyChanged?: (policy: string) => void;
}

/** What a slice contributes to the indexes, remembered so its old contribution can be undone. */
interface SliceLinks {
  readonly service: string | null;
  readonly pods: readonly string[];
  readonly nodes: readonly string[];
}

/** One slice's endpoints as last translated, and the slice object they came from. */
interface SliceTranslation {
  readonly slice: TrimmedSlice;
  readonly endpoints: readonly CatalogEndpoint[];
}

/** Whether two versions of a Pod or Node carry the same labels and annotations, as trimmed. */
function sameMetadata(
  a: TrimmedPod["metadata"] | TrimmedNode["metadata"],
  b: TrimmedPod["metadata"] | TrimmedNode["metadata"],
): boolean {
  return (
    deepEqual(a.labels, b.labels) &&
    deepEqual("annotations" in a ? a.annotations : null, "annotations" in b ? b.annotations : null)
  );
}

/** What the status writer needs to know about one policy. */
export interface PolicyView {
  readonly object: TrimmedPolicy;
  readonly validation: PolicyValidation;
  readonly service: string;
  /** The catalog entry of the target Service, or undefined when the Service does not exist. */
  readonly target: CatalogEntry | undefined;
  /** The older policy that applies to the same Service instead, if any. */
  readonly supersededBy: string | null;
}

/**
 * The Kubernetes source: informers on Services, EndpointSlices, Pods, Nodes and
 * LoadBalancingPolicies feed the catalog through the same translation the file source uses.
 * Informer handlers maintain indexes and enqueue service keys; a level-based reconcile reads
 * the current objects of one service and writes its catalog entry. A changed slice, or a Pod
 * whose status changed, is translated in the handler when its slice's last translation is at
 * hand, so that a change that leaves the endpoints as they are (a slice catching up with a
 * readiness the Pod already showed) costs no reconcile.
 */
export class KubernetesSource {
  private readonly catalog: Catalog;
  private readonly logger: Logger;
  private readonly decorate: ((entry: ServiceEntry) => ServiceEntry) | undefined;
  private readonly onServiceReconciled: KubernetesSourceOptions["onServiceReconciled"];
  private readonly onPolicyChanged: KubernetesSourceOptions["onPolicyChanged"];
  private readonly services: ResilientInformer<TrimmedService>;
  private readonly slices: ResilientInformer<TrimmedSlice>;
  private readonly pods: ResilientInformer<TrimmedPod>;
  private readonly nodes: ResilientInformer<TrimmedNode>;
  private readonly policies: ResilientInformer<TrimmedPolicy>;
  private readonly slicesByService = new RefIndex();
  private readonly slicesByPod = new RefIndex();
  private readonly servicesByNode = new RefIndex();
  private readonly policiesByService = new RefIndex();
  private readonly sliceLinks = new Map<string, SliceLinks>();
  private readonly validations = new Map<string, PolicyValidation>();
  /**
   * Each EndpointSlice's translated endpoints, valid while the slice object is the one the
   * informer holds: a flip of one pod translates its slice again, not the whole Service. The
   * endpoints are the frozen objects the catalog keeps, so the cache costs no copy. One entry per
   * slice in the informer; an entry goes with its slice.
   */
  private readonly translated = new Map<string, SliceTranslation>();
  private readonly queue: WorkQueue;
  private started = false;

  constructor(options: KubernetesSourceOptions) {
    this.catalog = options.catalog;
    this.logger = options.logger;
    this.decorate = options.decorate;
    this.onServiceReconciled = options.onServiceReconciled;
    this.onPolicyChanged = options.onPolicyChanged;
    const kinds = watchedKinds(options.config);
    const hooks: InformerHooks = { logger: options.logger, onWatchRestart: options.onWatchRestart };
    const timing = options.timing ?? DEFAULT_INFORMER_TIMING;
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      name: "services",
      observer: options.observer,
      onError: (key, error) => this.logger.error({ service: key, err: error }, "reconcile failed"),
    });
    this.services = new ResilientInformer(
      options.config,
      kinds.services,
      (key) => this.refresh([key]),
      hooks,
      timing,
    );
    this.slices = new ResilientInformer(
      options.config,
      kinds.endpointSlices,
      (key, _previous, current) => this.onSlice(key, current),
      hooks,
      timing,
    );
    this.pods = new ResilientInformer(
      options.config,
      kinds.pods,
      (key, previous, current) => {
        // A status update (IPs, conditions) comes back as an event too; only a change of what
        // translation reads counts: the labels, the weight annotation, the Ready condition's
        // status (a pod that fails readiness leaves before its slice says so) and its time, for
        // the Services whose policy has a slow start. Each is this pod's alone, so only the
        // slices that list the pod are translated again.
        if (previous && current && sameMetadata(previous.metadata, current.metadata)) {
          if (deepEqual(previous.status, current.status)) return;
          const readinessChanged = readyStatusOf(previous) !== readyStatusOf(current);
          this.translatePodAgain(key, (service) => readinessChanged || this.rampsOn(service), true);
          return;
        }
        this.translatePodAgain(key, () => true, false);
      },
      hooks,
      timing,
    );
    this.nodes = new ResilientInformer(
      options.config,
      kinds.nodes,
      (key, previous, current) => {
        // Kubelets renew Node status every few seconds; only the topology labels are read.
        if (previous && current && sameMetadata(previous.metadata, current.metadata)) return;
        this.refresh(this.servicesByNode.targets(key));
      },
      hooks,
      timing,
    );
    this.policies = new ResilientInformer(
      options.config,
      kinds.policies,
      (key, previous, current) => this.onPolicy(key, previous, current),
      hooks,
      timing,
    );
  }

  /** Starts every informer; resolves once all have listed and the catalog holds the result. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const informers = [this.services, this.slices, this.pods, this.nodes, this.policies];
    for (const informer of informers) informer.start();
    await Promise.all(informers.map((informer) => informer.whenSynced()));
    await this.queue.whenIdle();
    this.catalog.markSynced();
    this.logger.info(
      {
        services: this.services.size,
        endpointSlices: this.slices.size,
        pods: this.pods.size,
        nodes: this.nodes.size,
        policies: this.policies.size,
      },
      "synced with the cluster",
    );
  }

  stop(): void {
    for (const informer of [this.services, this.slices, this.pods, this.nodes, this.policies])
      informer.stop();
    this.queue.stop();
  }

  /** Reconciles services whose Pods, Nodes or policy changed: every slice is translated again. */
  private refresh(services: readonly string[]): void {
    for (const service of services) {
      for (const slice of this.slicesByService.targets(service)) this.translated.delete(slice);
      this.enqueue(service);
    }
  }

  /**
   * Translates again only the slices that list the pod, for its Services that `concerns`. A
   * change of the pod's status is compared at once (see changesEndpoints); a new or changed Pod
   * leaves the translation to the reconcile, which a burst of Pods (a sync, a rollout) then
   * shares.
   */
  private translatePodAgain(
    pod: string,
    concerns: (service: string) => boolean,
    compareNow: boolean,
  ): void {
    for (const sliceKey of this.slicesByPod.targets(pod)) {
      const service = this.sliceLinks.get(sliceKey)?.service;
      const slice = this.slices.get(sliceKey);
      if (!service || !slice || !concerns(service)) continue;
      if (!compareNow) {
        this.translated.delete(sliceKey);
        this.enqueue(service);
      } else if (this.changesEndpoints(service, sliceKey, slice, true)) {
        this.enqueue(service);
      }
    }
  }

  /** Whether a valid policy of the service asks for a slow start, which reads Pods' Ready times. */
  private rampsOn(service: string): boolean {
    return this.policiesByService.targets(service).some((policyKey) => {
      const validation = this.validations.get(policyKey);
      return validation?.ok === true && validation.policy.balancer.slowStart !== undefined;
    });
  }

  /** Reconciles a service again (e.g. after an active probe changed its verdict). */
  enqueue(service: string): void {
    this.queue.add(service);
  }

  /** Resolves when no reconcile is pending. */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  /** Keys of every policy in the cluster. */
  policyKeys(): string[] {
    return [...this.policies.values()].map((policy) => objectKey(policy.metadata));
  }

  policyView(key: string): PolicyView | undefined {
    const object = this.policies.get(key);
    const validation = this.validations.get(key);
    if (!object || !validation) return undefined;
    const namespace = object.metadata.namespace ?? "default";
    const targetName = targetNameOf(object) ?? "";
    const service = serviceKey(namespace, targetName);
    const rivals = this.policiesByService
      .targets(service)
      .map((rivalKey) => this.validations.get(rivalKey))
      .flatMap((rival) => (rival?.ok ? [rival.policy] : []));
    let supersededBy: string | null = null;
    if (validation.ok && rivals.length > 1) {
      const winner = winnerOf(rivals);
      if (winner && serviceKey(winner.namespace, winner.name) !== key) {
        supersededBy = serviceKey(winner.namespace, winner.name);
      }
    }
    return {
      object,
      validation,
      service,
      target: this.catalog.get(namespace, targetName),
      supersededBy,
    };
  }

  private onSlice(key: string, current: TrimmedSlice | undefined): void {
    const namespace = current?.metadata.namespace ?? "default";
    const serviceName = current?.metadata.labels[SERVICE_NAME_LABEL];
    const service = serviceName ? serviceKey(namespace, serviceName) : null;
    const before = this.sliceLinks.get(key);
    if (before) {
      if (before.service) {
        this.slicesByService.remove(before.service, key);
        for (const pod of before.pods) this.slicesByPod.remove(pod, key);
        for (const node of before.nodes) this.servicesByNode.remove(node, before.service);
        if (before.service !== service) this.enqueue(before.service);
      }
      this.sliceLinks.delete(key);
    }
    if (!current) {
      this.translated.delete(key);
      return;
    }
    const pods: string[] = [];
    const nodes: string[] = [];
    for (const endpoint of current.endpoints ?? []) {
      const ref = endpoint.targetRef;
      if (ref?.kind === "Pod" && ref.name)
        pods.push(serviceKey(ref.namespace ?? namespace, ref.name));
      if (endpoint.nodeName) nodes.push(endpoint.nodeName);
    }
    this.sliceLinks.set(key, { service, pods, nodes });
    if (service) {
      this.slicesByService.add(service, key);
      for (const pod of pods) this.slicesByPod.add(pod, key);
      for (const node of nodes) this.servicesByNode.add(node, service);
      if (before?.service !== service) this.translated.delete(key);
      if (this.changesEndpoints(service, key, current)) this.enqueue(service);
    }
  }

  /**
   * Translates a slice of `service` again at once when its last translation is at hand, and says
   * whether its endpoints changed. When they did not — as when the slice catches up with a Pod's
   * readiness already applied, or a slice is written again unchanged — the Service is not
   * reconciled at all. A slice is at most a few hundred endpoints, so this costs the handler
   * little; without a translation at hand (a new slice, or one whose Pods, Nodes, Service or
   * policy changed) the reconcile translates it. `podChanged`: a Pod the slice lists changed,
   * so the same slice object may translate differently.
   */
  private changesEndpoints(
    service: string,
    sliceKey: string,
    slice: TrimmedSlice,
    podChanged = false,
  ): boolean {
    const cached = this.translated.get(sliceKey);
    const object = this.services.get(service);
    if (cached === undefined || object === undefined) {
      this.translated.delete(sliceKey);
      return true;
    }
    if (cached.slice === slice && !podChanged) return false;
    const warnings = new Set<string>();
    const endpoints = sliceEndpoints(
      object,
      slice,
      this.policyOf(service),
      this.lookups(warnings),
      cached.endpoints,
    );
    for (const warning of warnings) this.logger.debug({ service }, warning);
    const same =
      endpoints.length === cached.endpoints.length &&
      endpoints.every((endpoint, i) => deepEqual(endpoint, cached.endpoints[i]));
    // The catalog holds the cached endpoints; keeping them keeps one copy.
    this.translated.set(sliceKey, { slice, endpoints: same ? cached.endpoints : endpoints });
    return !same;
  }

  /** The policy that applies to a Service: the oldest valid one that targets it. */
  private policyOf(service: string): ParsedPolicy | null {
    const policies = this.policiesByService.targets(service).flatMap((policyKey) => {
      const validation = this.validations.get(policyKey);
      return validation?.ok ? [validation.policy] : [];
    });
    return winnerOf(policies) ?? null;
  }

  private lookups(warnings: Set<string>): Lookups {
    return {
      pod: (podKey) => this.pods.get(podKey),
      node: (name) => this.nodes.get(name),
      warnings,
    };
  }

  private onPolicy(
    key: string,
    previous: TrimmedPolicy | undefined,
    current: TrimmedPolicy | undefined,
  ): void {
    const specChanged =
      previous?.metadata.generation !== current?.metadata.generation ||
      targetNameOf(previous) !== targetNameOf(current);
    if (previous && current && !specChanged) {
      // A status write (ours, most often) changes nothing the Services read.
      this.onPolicyChanged?.(key);
      return;
    }
    const services = new Set<string>();
    if (previous) {
      const service = serviceKey(
        previous.metadata.namespace ?? "default",
        targetNameOf(previous) ?? "",
      );
      this.policiesByService.remove(service, key);
      services.add(service);
    }
    if (current) {
      const namespace = current.metadata.namespace ?? "default";
      const service = serviceKey(namespace, targetNameOf(current) ?? "");
      this.policiesByService.add(service, key);
      services.add(service);
      // Only a change of spec needs validating again; a status write comes back as an event too.
      if (
        previous?.metadata.generation !== current.metadata.generation ||
        !this.validations.has(key)
      ) {
        this.validations.set(
          key,
          validatePolicy(
            {
              name: current.metadata.name,
              namespace,
              creationTimestamp: current.metadata.creationTimestamp,
            },
            current.spec,
          ),
        );
      }
    } else {
      this.validations.delete(key);
    }
    for (const service of services) {
      this.refresh([service]);
      // A policy coming or going can change which rival policy applies.
      for (const rival of this.policiesByService.targets(service)) this.onPolicyChanged?.(rival);
    }
    this.onPolicyChanged?.(key);
  }

  /** Level-based: reads the service's current objects and writes its catalog entry. */
  private reconcile(key: string): void {
    const [namespace = "", name = ""] = key.split("/");
    const service = this.services.get(key);
    const policyKeys = this.policiesByService.targets(key);
    if (!service) {
      this.catalog.remove(namespace, name);
      this.onServiceReconciled?.(key, policyKeys);
      return;
    }
    const policy = this.policyOf(key);
    const slices: { key: string; slice: TrimmedSlice }[] = [];
    for (const sliceKey of this.slicesByService.targets(key)) {
      const slice = this.slices.get(sliceKey);
      if (slice) slices.push({ key: sliceKey, slice });
    }
    slices.sort((a, b) => compareSlices(a.slice, b.slice));
    const warnings = new Set<string>();
    const lookups = this.lookups(warnings);
    const perSlice = slices.map(({ key: sliceKey, slice }) => {
      const cached = this.translated.get(sliceKey);
      if (cached?.slice === slice) return cached.endpoints;
      const endpoints = sliceEndpoints(service, slice, policy, lookups, cached?.endpoints);
      this.translated.set(sliceKey, { slice, endpoints });
      return endpoints;
    });
    for (const warning of warnings) this.logger.debug({ service: key }, warning);
    const entry: ServiceEntry = {
      namespace: service.metadata.namespace ?? "default",
      name: service.metadata.name,
      endpoints: mergeSliceEndpoints(perSlice),
      policy,
    };
    this.catalog.upsert(this.decorate ? this.decorate(entry) : entry);
    this.onServiceReconciled?.(key, policyKeys);
  }
}

/** The status of the pod's Ready condition ("True", "False", "Unknown"), if it has one. */
function readyStatusOf(pod: TrimmedPod): string | undefined {
  return pod.status.conditions.find((condition) => condition.type === "Ready")?.status;
}

function winnerOf(policies: readonly ParsedPolicy[]): ParsedPolicy | undefined {
  return [...policies].sort(comparePolicyAge)[0];
}

function targetNameOf(policy: TrimmedPolicy | undefined): string | undefined {
  const name = (policy?.spec as { targetRef?: { name?: unknown } } | null)?.targetRef?.name;
  return typeof name === "string" ? name : undefined;
}

/** Healthy and ejected (outlier detection) endpoints of a catalog entry, for status. */
export function endpointCounts(entry: CatalogEntry | undefined): {
  total: number;
  healthy: number;
  ejected: number;
} {
  if (!entry) return { total: 0, healthy: 0, ejected: 0 };
  return {
    total: entry.endpoints.length,
    healthy: entry.endpoints.filter(isHealthy).length,
    ejected: entry.endpoints.filter((endpoint) => endpoint.ejected === true).length,
  };
}
