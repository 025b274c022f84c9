import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { type OutlierChange, rampingAt } from "../balancer/index.ts";
import {
  POLICY_API_VERSION,
  POLICY_GROUP,
  POLICY_KIND,
  POLICY_PLURAL,
  POLICY_VERSION,
} from "../policy/schema.ts";
import type { TrimmedPolicy } from "./resources.ts";
import { endpointCounts, type PolicyView } from "./source.ts";
import { type QueueObserver, WorkQueue } from "./workqueue.ts";

export const FIELD_MANAGER = "konsul-lb";
/** The most often one policy's status is written. */
export const STATUS_WRITE_INTERVAL_MS = 1000;

export type ConditionType = "Accepted" | "ResolvedRefs" | "Ready";

export interface Condition {
  readonly type: ConditionType;
  readonly status: "True" | "False" | "Unknown";
  readonly observedGeneration: number;
  readonly lastTransitionTime: string;
  readonly reason: string;
  readonly message: string;
}

export interface PolicyStatus {
  readonly observedGeneration: number;
  readonly conditions: readonly Condition[];
  readonly endpoints: {
    readonly total: number;
    readonly healthy: number;
    /** Ejected by outlier detection now (they count as not healthy). */
    readonly ejected: number;
    readonly summary: string;
    /** Endpoints within their slow-start window when the status was written. */
    readonly rampingUp: number;
  };
}

/**
 * The endpoints of the policy's Service in a slow-start ramp at `now`, and when the first ramp
 * ends (null when none ramps, or the policy sets no slowStart).
 */
export function rampOf(view: PolicyView, now: Date): { ramping: number; firstEnd: number | null } {
  const windowMs = (view.validation.ok ? view.validation.policy.balancer.slowStart : undefined) as
    | { windowMs?: number }
    | undefined;
  if (windowMs?.windowMs === undefined || !view.target) return { ramping: 0, firstEnd: null };
  return rampingAt(view.target.endpoints, windowMs.windowMs, now.getTime());
}

type Verdict = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

/**
 * The conditions of a policy, as Gateway API policies (and KEP-1623) shape them:
 * Accepted — the spec is valid and this policy is the one that applies to its Service;
 * ResolvedRefs — the target Service exists; Ready — accepted, resolved, with healthy endpoints.
 */
export function verdicts(view: PolicyView, now: Date = new Date()): Verdict[] {
  const counts = endpointCounts(view.target);
  const { ramping } = rampOf(view, now);
  let accepted: Verdict;
  if (!view.validation.ok) {
    accepted = {
      type: "Accepted",
      status: "False",
      reason: "Invalid",
      message: view.validation.errors.join("; "),
    };
  } else if (view.supersededBy) {
    accepted = {
      type: "Accepted",
      status: "False",
      reason: "Conflicted",
      message: `LoadBalancingPolicy ${view.supersededBy} also targets Service ${view.service} and applies, being older (by creationTimestamp, then name)`,
    };
  } else {
    accepted = {
      type: "Accepted",
      status: "True",
      reason: "Accepted",
      message: "The policy is valid and applies to its Service",
    };
  }
  const resolved: Verdict = view.target
    ? {
        type: "ResolvedRefs",
        status: "True",
        reason: "ResolvedRefs",
        message: `Service ${view.service} exists`,
      }
    : {
        type: "ResolvedRefs",
        status: "False",
        reason: "ServiceNotFound",
        message: `Service ${view.service} does not exist; the policy applies once it is created`,
      };
  let ready: Verdict;
  if (accepted.status !== "True" || resolved.status !== "True") {
    ready = {
      type: "Ready",
      status: "False",
      reason: "NotApplied",
      message: "The policy is not accepted or its Service is missing",
    };
  } else if (counts.healthy === 0) {
    ready = {
      type: "Ready",
      status: "False",
      reason: "NoHealthyEndpoints",
      message: `Service ${view.service} has ${counts.total} endpoints, none healthy`,
    };
  } else {
    ready = {
      type: "Ready",
      status: "True",
      reason: "Ready",
      message:
        `${counts.healthy} of ${counts.total} endpoints are healthy` +
        (ramping > 0 ? `; ${ramping} ramping up (slow start)` : ""),
    };
  }
  return [accepted, resolved, ready];
}

/** The status to write, keeping transition times of conditions whose status did not change. */
export function desiredStatus(view: PolicyView, now: Date): PolicyStatus {
  const generation = view.object.metadata.generation;
  const previous = currentConditions(view.object);
  const counts = endpointCounts(view.target);
  const { ramping } = rampOf(view, now);
  return {
    observedGeneration: generation,
    conditions: verdicts(view, now).map((verdict) => {
      const before = previous.find((condition) => condition.type === verdict.type);
      return {
        ...verdict,
        observedGeneration: generation,
        lastTransitionTime:
          before && before.status === verdict.status
            ? before.lastTransitionTime
            : now.toISOString().replace(/\.\d+Z$/, "Z"),
      };
    }),
    endpoints: { ...counts, summary: `${counts.healthy}/${counts.total}`, rampingUp: ramping },
  };
}

function currentConditions(policy: TrimmedPolicy): Condition[] {
  const conditions = (policy.status as { conditions?: unknown } | null)?.conditions;
  return Array.isArray(conditions) ? (conditions as Condition[]) : [];
}

/** Equal for writing purposes: what is there already needs no write. */
export function sameStatus(current: unknown, desired: PolicyStatus): boolean {
  const status = current as Partial<PolicyStatus> | null;
  if (!status || status.observedGeneration !== desired.observedGeneration) return false;
  const endpoints = status.endpoints;
  if (
    endpoints?.total !== desired.endpoints.total ||
    endpoints.healthy !== desired.endpoints.healthy ||
    endpoints.ejected !== desired.endpoints.ejected ||
    endpoints.summary !== desired.endpoints.summary ||
    (endpoints.rampingUp ?? 0) !== desired.endpoints.rampingUp
  ) {
    return false;
  }
  const conditions = status.conditions ?? [];
  if (conditions.length !== desired.conditions.length) return false;
  return desired.conditions.every((want) => {
    const have = conditions.find((condition) => condition.type === want.type);
    return (
      have?.status === want.status &&
      have.reason === want.reason &&
      have.message === want.message &&
      have.observedGeneration === want.observedGeneration
    );
  });
}

export interface PolicyStatusWriterOptions {
  readonly config: KubeConfig;
  readonly view: (key: string) => PolicyView | undefined;
  /** Only the leader writes; a follower keeps its queue and writes nothing. */
  readonly canWrite?: () => boolean;
  readonly observer?: QueueObserver;
  readonly logger: {
    warn(fields: object, message: string): void;
    error(fields: object, message: string): void;
  };
  readonly now?: () => Date;
}

/**
 * Writes LoadBalancingPolicy status with server-side apply (field manager konsul-lb), only
 * when it differs from what the object already says, and records a Kubernetes Event for each
 * condition that changes.
 */
export class PolicyStatusWriter {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly view: (key: string) => PolicyView | undefined;
  private readonly canWrite: () => boolean;
  private readonly logger: PolicyStatusWriterOptions["logger"];
  private readonly now: () => Date;
  private readonly queue: WorkQueue;
  /**
   * By policy: a write due when the first of its endpoints' slow-start ramps ends, since no
   * object changes then. One per policy, replaced at each write.
   */
  private readonly rampTimers = new Map<string, NodeJS.Timeout>();

  constructor(options: PolicyStatusWriterOptions) {
    this.custom = options.config.makeApiClient(CustomObjectsApi);
    this.core = options.config.makeApiClient(CoreV1Api);
    this.view = options.view;
    this.canWrite = options.canWrite ?? (() => true);
    this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
    this.queue = new WorkQueue((key) => this.write(key), {
      name: "policy-status",
      concurrency: 4,
      // Endpoint counts change with every readiness flip; one write a second per policy keeps
      // the API server's load flat during a rollout, and the last count is always written.
      minIntervalMs: STATUS_WRITE_INTERVAL_MS,
      observer: options.observer,
      onError: (key, error) =>
        this.logger.warn({ policy: key, err: error }, "writing policy status failed; retrying"),
    });
  }

  enqueue(policy: string): void {
    this.queue.add(policy);
  }

  /**
   * Writes the policy's status as soon as it can: for a replica that has just become leader,
   * whose earlier passes wrote nothing, so the one-a-second spacing must not delay the first.
   */
  enqueueNow(policy: string): void {
    this.queue.addNow(policy);
  }

  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  stop(): void {
    this.queue.stop();
    for (const timer of this.rampTimers.values()) clearTimeout(timer);
    this.rampTimers.clear();
  }

  private async write(key: string): Promise<void> {
    if (!this.canWrite()) return;
    const view = this.view(key);
    if (!view) return;
    const now = this.now();
    this.scheduleRampEnd(key, rampOf(view, now).firstEnd, now);
    const desired = desiredStatus(view, now);
    if (sameStatus(view.object.status, desired)) return;
    const { name, namespace = "default" } = view.object.metadata;
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: POLICY_GROUP,
        version: POLICY_VERSION,
        namespace,
        plural: POLICY_PLURAL,
        name,
        body: {
          apiVersion: POLICY_API_VERSION,
          kind: POLICY_KIND,
          metadata: { name, namespace },
          status: desired,
        },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
    );
    await this.recordTransitions(view, desired);
  }

  private scheduleRampEnd(key: string, firstEnd: number | null, now: Date): void {
    clearTimeout(this.rampTimers.get(key));
    this.rampTimers.delete(key);
    if (firstEnd === null) return;
    // A second late, so that the ramp has surely ended when the count is taken again.
    const timer = setTimeout(
      () => {
        this.rampTimers.delete(key);
        this.queue.add(key);
      },
      Math.max(0, firstEnd - now.getTime()) + 1000,
    );
    timer.unref();
    this.rampTimers.set(key, timer);
  }

  /**
   * An Event on the policy for an ejection or a return that outlier detection decided (leader
   * only); the status's ejected count follows through `enqueue`.
   */
  recordOutlierChange(key: string, change: OutlierChange): void {
    if (!this.canWrite()) return;
    const view = this.view(key);
    if (!view) return;
    const message =
      change.kind === "ejected"
        ? `Endpoint ${change.identity} ejected (${change.reason}, ejection ${change.ejections}) until ${new Date(change.until).toISOString()}`
        : `Endpoint ${change.identity} returned after its ejection`;
    void this.recordEvent(
      view,
      change.kind === "ejected" ? "Warning" : "Normal",
      change.kind === "ejected" ? "EndpointEjected" : "EndpointReturned",
      message,
    );
  }

  private async recordTransitions(view: PolicyView, desired: PolicyStatus): Promise<void> {
    const before = currentConditions(view.object);
    for (const condition of desired.conditions) {
      const previous = before.find((c) => c.type === condition.type);
      if (previous?.status === condition.status && previous.reason === condition.reason) continue;
      await this.recordEvent(
        view,
        condition.status === "True" ? "Normal" : "Warning",
        condition.reason,
        `${condition.type}=${condition.status}: ${condition.message}`,
      );
    }
  }

  private async recordEvent(
    view: PolicyView,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const { name, namespace = "default", uid } = view.object.metadata;
    const time = this.now();
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: {
            apiVersion: POLICY_API_VERSION,
            kind: POLICY_KIND,
            name,
            namespace,
            uid,
          },
          type,
          reason,
          message,
          source: { component: FIELD_MANAGER },
          firstTimestamp: time,
          lastTimestamp: time,
          count: 1,
        },
      });
    } catch (error) {
      // An event is a courtesy; failing to record one must not fail the status write.
      this.logger.warn({ policy: `${namespace}/${name}`, err: error }, "recording an event failed");
    }
  }
}
