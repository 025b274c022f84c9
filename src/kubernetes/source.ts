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
 * Informer handlers only maintain indexes and enqueue service keys; a level-based reconcile
 * reads the current objects of one service and writes its catalog entry.
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
  private readonly servicesByPod = new RefIndex();
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
        // A status update (readiness, IPs) comes back as an event too; its EndpointSlice says
        // what changed for the Service, so only a change of what translation reads counts: the
        // labels, the weight annotation, and the Ready condition's time for the Services whose
        // policy has a slow start (for the others the slice's own event is the one reconcile).
        const targets = this.servicesByPod.targets(key);
        if (previous && current && sameMetadata(previous.metadata, current.metadata)) {
          if (deepEqual(previous.status, current.status)) return;
          this.refresh(targets.filter((service) => this.rampsOn(service)));
          return;
        }
        this.refresh(targets);
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
    const before = this.sliceLinks.get(key);
    if (before) {
      if (before.service) {
        this.slicesByService.remove(before.service, key);
        for (const pod of before.pods) this.servicesByPod.remove(pod, before.service);
        for (const node of before.nodes) this.servicesByNode.remove(node, before.service);
        this.enqueue(before.service);
      }
      this.sliceLinks.delete(key);
    }
    if (!current) {
      this.translated.delete(key);
      return;
    }
    const namespace = current.metadata.namespace ?? "default";
    const serviceName = current.metadata.labels[SERVICE_NAME_LABEL];
    const service = serviceName ? serviceKey(namespace, serviceName) : null;
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
      for (const pod of pods) this.servicesByPod.add(pod, service);
      for (const node of nodes) this.servicesByNode.add(node, service);
      this.enqueue(service);
    }
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
    const policies = policyKeys.flatMap((policyKey) => {
      const validation = this.validations.get(policyKey);
      return validation?.ok ? [validation.policy] : [];
    });
    const policy = winnerOf(policies) ?? null;
    const slices: { key: string; slice: TrimmedSlice }[] = [];
    for (const sliceKey of this.slicesByService.targets(key)) {
      const slice = this.slices.get(sliceKey);
      if (slice) slices.push({ key: sliceKey, slice });
    }
    slices.sort((a, b) => compareSlices(a.slice, b.slice));
    const warnings = new Set<string>();
    const lookups: Lookups = {
      pod: (podKey) => this.pods.get(podKey),
      node: (name) => this.nodes.get(name),
      warnings,
    };
    const perSlice = slices.map(({ key: sliceKey, slice }) => {
      const cached = this.translated.get(sliceKey);
      if (cached?.slice === slice) return cached.endpoints;
      const endpoints = sliceEndpoints(service, slice, policy, lookups);
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
