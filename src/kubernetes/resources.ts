import type { KubeConfig } from "@kubernetes/client-node";
import { POLICY_GROUP, POLICY_PLURAL, POLICY_VERSION } from "../policy/schema.ts";
import type { EndpointSlice, ObjectMeta } from "../sources/kube-objects.ts";
import {
  REGION_LABEL,
  SERVICE_NAME_LABEL,
  WEIGHT_ANNOTATION,
  ZONE_LABEL,
} from "../sources/kube-objects.ts";
import { metadataOnly, type ResourceKind, type Trimmed, type TrimmedMeta } from "./informer.ts";
import { jsonLister } from "./list-request.ts";

/**
 * The kinds the operator watches, each trimmed to the fields the translation and the status
 * writer read: a pod keeps its labels, weight annotation and Ready condition, a node its
 * topology labels. Nodes are listed and watched as metadata only (PartialObjectMetadata); Pods
 * are not, because slow start reads the time of their Ready condition, which only the full
 * object carries (EndpointSlice conditions have no times).
 */

export interface TrimmedService extends Trimmed {
  readonly spec: {
    readonly ports: readonly {
      name?: string | null;
      port?: number | null;
      protocol?: string | null;
    }[];
    readonly trafficDistribution: string | null;
    readonly publishNotReadyAddresses: boolean;
  };
}

export interface TrimmedSlice extends Trimmed, EndpointSlice {
  readonly metadata: TrimmedMeta & { readonly labels: Readonly<Record<string, string>> };
}

export interface TrimmedPod extends Trimmed {
  readonly metadata: TrimmedMeta & {
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  /** Only the Ready condition: its transition time starts a slow-start ramp. */
  readonly status: {
    readonly conditions: readonly {
      type: string;
      status: string;
      lastTransitionTime: string | null;
    }[];
  };
}

export interface TrimmedNode extends Trimmed {
  readonly metadata: TrimmedMeta & { readonly labels: Readonly<Record<string, string>> };
}

export interface TrimmedPolicy extends Trimmed {
  readonly metadata: TrimmedMeta & {
    readonly generation: number;
    readonly uid: string;
    readonly creationTimestamp: string | null;
  };
  readonly spec: unknown;
  readonly status: unknown;
}

type Json = Record<string, unknown>;

/** The pod's Ready condition alone, its time as RFC 3339 (a typed client hands a Date). */
function readyCondition(
  pod: unknown,
): { type: string; status: string; lastTransitionTime: string | null }[] {
  const conditions = ((pod as Json).status as Json | undefined)?.conditions;
  if (!Array.isArray(conditions)) return [];
  const ready = conditions.find((c) => (c as Json)?.type === "Ready") as Json | undefined;
  if (ready === undefined) return [];
  const time = ready.lastTransitionTime;
  return [
    {
      type: "Ready",
      status: String(ready.status ?? "Unknown"),
      lastTransitionTime:
        time instanceof Date ? time.toISOString() : typeof time === "string" ? time : null,
    },
  ];
}

function metaOf(
  object: unknown,
): ObjectMeta & { resourceVersion?: string; generation?: number; uid?: string } {
  return ((object as Json)?.metadata ?? {}) as ObjectMeta & { resourceVersion?: string };
}

function baseMeta(object: unknown): TrimmedMeta {
  const meta = metaOf(object);
  return {
    name: meta.name ?? "",
    ...(meta.namespace ? { namespace: meta.namespace } : {}),
    resourceVersion: meta.resourceVersion,
  };
}

function pick(
  labels: Readonly<Record<string, string>> | null | undefined,
  keys: readonly string[],
): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const key of keys) {
    const value = labels?.[key];
    if (value !== undefined) kept[key] = value;
  }
  return kept;
}

function timestamp(value: unknown): string | null {
  if (value instanceof Date) return value.toISOString();
  return typeof value === "string" ? value : null;
}

export interface WatchedKinds {
  readonly services: ResourceKind<TrimmedService>;
  readonly endpointSlices: ResourceKind<TrimmedSlice>;
  readonly pods: ResourceKind<TrimmedPod>;
  readonly nodes: ResourceKind<TrimmedNode>;
  readonly policies: ResourceKind<TrimmedPolicy>;
}

/** Only running pods back ready endpoints; finished Job pods and the like stay out of memory. */
const RUNNING_PODS = "status.phase=Running";

export function watchedKinds(config: KubeConfig): WatchedKinds {
  const lister = (path: string, fieldSelector?: string, asMetadata = false) => {
    const list = jsonLister(asMetadata ? metadataOnly(config, "list") : config, path);
    return (limit: number, continueToken: string | undefined) =>
      list({ limit, continueToken, fieldSelector });
  };
  const policiesPath = `/apis/${POLICY_GROUP}/${POLICY_VERSION}/${POLICY_PLURAL}`;
  return {
    services: {
      name: "services",
      path: "/api/v1/services",
      list: lister("/api/v1/services"),
      trim: (object) => ({
        metadata: baseMeta(object),
        spec: {
          ports:
            (
              ((object as Json).spec as Json | undefined)?.ports as
                | TrimmedService["spec"]["ports"]
                | undefined
            )?.map((p) => ({
              name: p.name ?? null,
              port: p.port ?? null,
              protocol: p.protocol ?? null,
            })) ?? [],
          trafficDistribution:
            (((object as Json).spec as Json | undefined)?.trafficDistribution as
              | string
              | undefined) ?? null,
          publishNotReadyAddresses:
            ((object as Json).spec as Json | undefined)?.publishNotReadyAddresses === true,
        },
      }),
    },
    endpointSlices: {
      name: "endpointslices",
      path: "/apis/discovery.k8s.io/v1/endpointslices",
      list: lister("/apis/discovery.k8s.io/v1/endpointslices"),
      trim: (object) => {
        const slice = object as EndpointSlice;
        return {
          metadata: {
            ...baseMeta(object),
            labels: pick(slice.metadata?.labels, [SERVICE_NAME_LABEL]),
          },
          addressType: slice.addressType ?? null,
          ports:
            slice.ports?.map((p) => ({
              name: p.name ?? null,
              port: p.port ?? null,
              protocol: p.protocol ?? null,
            })) ?? [],
          endpoints:
            slice.endpoints?.map((e) => ({
              addresses: e.addresses ?? [],
              conditions: {
                ready: e.conditions?.ready ?? null,
                serving: e.conditions?.serving ?? null,
                terminating: e.conditions?.terminating ?? null,
              },
              targetRef: e.targetRef
                ? {
                    kind: e.targetRef.kind ?? null,
                    name: e.targetRef.name ?? null,
                    namespace: e.targetRef.namespace ?? null,
                  }
                : null,
              nodeName: e.nodeName ?? null,
              zone: e.zone ?? null,
            })) ?? [],
        };
      },
    },
    pods: {
      name: "pods",
      path: "/api/v1/pods",
      fieldSelector: RUNNING_PODS,
      list: lister("/api/v1/pods", RUNNING_PODS),
      trim: (object) => {
        const meta = metaOf(object);
        return {
          metadata: {
            ...baseMeta(object),
            // Frozen, so that every endpoint of the pod shares this one copy (see translate.ts).
            labels: Object.freeze({ ...(meta.labels ?? {}) }),
            annotations: pick(meta.annotations, [WEIGHT_ANNOTATION]),
          },
          status: { conditions: readyCondition(object) },
        };
      },
    },
    nodes: {
      name: "nodes",
      path: "/api/v1/nodes",
      metadataOnly: true,
      list: lister("/api/v1/nodes", undefined, true),
      trim: (object) => ({
        metadata: {
          ...baseMeta(object),
          labels: Object.freeze(pick(metaOf(object).labels, [REGION_LABEL, ZONE_LABEL])),
        },
      }),
    },
    policies: {
      name: POLICY_PLURAL,
      path: policiesPath,
      list: lister(policiesPath),
      trim: (object) => {
        const meta = metaOf(object);
        return {
          metadata: {
            ...baseMeta(object),
            generation: meta.generation ?? 0,
            uid: meta.uid ?? "",
            creationTimestamp: timestamp(meta.creationTimestamp),
          },
          spec: (object as Json).spec ?? null,
          status: (object as Json).status ?? null,
        };
      },
    },
  };
}
