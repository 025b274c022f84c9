import {
  CoordinationV1Api,
  type KubeConfig,
  type V1Lease,
  V1MicroTime,
} from "@kubernetes/client-node";
import { isConflict, isNotFound, timeoutOptions } from "./api-calls.ts";
import type { ObjectOwner } from "./owner.ts";

/** The annotation where the holder publishes the URL of its HTTP API, for forwarding. */
export const LEADER_ADDRESS_ANNOTATION = "lb.konsul.io/leader-address";

/** What a Lease says, in the form the elector reasons about. */
export interface LeaseRecord {
  /** Empty when nobody holds it (released). */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  /** MicroTime text as the server stores it; only for people reading the object. */
  readonly acquireTime: string | null;
  readonly renewTime: string | null;
  /** How many times the Lease changed hands: the term of its holder, used as the state's epoch. */
  readonly leaseTransitions: number;
  /** The holder's HTTP API, or null. */
  readonly holderAddress: string | null;
}

export interface ObservedLease {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
}

/** Another writer changed or created the Lease first (HTTP 409): this attempt lost. */
export class LeaseConflictError extends Error {
  override readonly name = "LeaseConflictError";
}

/** Reads and writes one Lease; every write carries a precondition. */
export interface LeaseApi {
  /** Null when the Lease does not exist. */
  get(timeoutMs: number): Promise<ObservedLease | null>;
  /** Throws LeaseConflictError when it already exists. */
  create(record: LeaseRecord, timeoutMs: number): Promise<ObservedLease>;
  /** Throws LeaseConflictError when the Lease is no longer at `resourceVersion`. */
  update(record: LeaseRecord, resourceVersion: string, timeoutMs: number): Promise<ObservedLease>;
}

/** Times read back from the API may be Date objects or, for MicroTime fields, plain strings. */
function timeText(value: unknown): string | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  return typeof value === "string" && value !== "" ? value : null;
}

/** Kubernetes accepts MicroTime only with six fractional digits; a plain Date gives three. */
function microTime(text: string | null): V1MicroTime | undefined {
  return text === null ? undefined : new V1MicroTime(text);
}

export function toRecord(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  const annotations = lease.metadata?.annotations ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? "",
    leaseDurationSeconds: Number(spec.leaseDurationSeconds ?? 0),
    acquireTime: timeText(spec.acquireTime),
    renewTime: timeText(spec.renewTime),
    leaseTransitions: Number(spec.leaseTransitions ?? 0),
    holderAddress: annotations[LEADER_ADDRESS_ANNOTATION] || null,
  };
}

function observed(lease: V1Lease): ObservedLease {
  return { record: toRecord(lease), resourceVersion: lease.metadata?.resourceVersion ?? "" };
}

/** The Lease API of coordination.k8s.io/v1 for one named Lease. */
export class KubernetesLeaseApi implements LeaseApi {
  readonly namespace: string;
  readonly name: string;
  private readonly api: CoordinationV1Api;

  private readonly owner: ObjectOwner | undefined;

  constructor(config: KubeConfig, namespace: string, name: string, owner?: ObjectOwner) {
    this.api = config.makeApiClient(CoordinationV1Api);
    this.namespace = namespace;
    this.name = name;
    this.owner = owner;
  }

  async get(timeoutMs: number): Promise<ObservedLease | null> {
    try {
      const lease = await this.api.readNamespacedLease(
        { name: this.name, namespace: this.namespace },
        timeoutOptions(timeoutMs),
      );
      return observed(lease);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async create(record: LeaseRecord, timeoutMs: number): Promise<ObservedLease> {
    try {
      const lease = await this.api.createNamespacedLease(
        { namespace: this.namespace, body: this.body(record, undefined) },
        timeoutOptions(timeoutMs),
      );
      return observed(lease);
    } catch (error) {
      if (isConflict(error))
        throw new LeaseConflictError("the Lease was created by another replica");
      throw error;
    }
  }

  async update(
    record: LeaseRecord,
    resourceVersion: string,
    timeoutMs: number,
  ): Promise<ObservedLease> {
    try {
      const lease = await this.api.replaceNamespacedLease(
        { name: this.name, namespace: this.namespace, body: this.body(record, resourceVersion) },
        timeoutOptions(timeoutMs),
      );
      return observed(lease);
    } catch (error) {
      if (isConflict(error)) throw new LeaseConflictError("the Lease changed since it was read");
      throw error;
    }
  }

  private body(record: LeaseRecord, resourceVersion: string | undefined): V1Lease {
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: this.name,
        namespace: this.namespace,
        resourceVersion,
        annotations:
          record.holderAddress === null
            ? {}
            : { [LEADER_ADDRESS_ANNOTATION]: record.holderAddress },
        ownerReferences: this.owner?.referencesIn(this.namespace),
      },
      spec: {
        holderIdentity: record.holderIdentity === "" ? undefined : record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        acquireTime: microTime(record.acquireTime),
        renewTime: microTime(record.renewTime),
        leaseTransitions: record.leaseTransitions,
      },
    };
  }
}
