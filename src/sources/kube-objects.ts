/**
 * The parts of Kubernetes objects the operator reads, as the API returns them (JSON field
 * names). Every field is optional or nullable because the API omits empty ones, and because the
 * typed Kubernetes clients declare even `metadata` optional. Kept local so
 * that the translation works on objects from a file and from any Kubernetes client alike.
 */

export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>> | null;
  readonly annotations?: Readonly<Record<string, string>> | null;
  /** RFC 3339 in JSON; a Date in typed clients. */
  readonly creationTimestamp?: string | Date | null;
}

export interface ServicePort {
  readonly name?: string | null;
  readonly port?: number | null;
  readonly protocol?: string | null;
}

export interface Service {
  readonly metadata?: ObjectMeta | null;
  readonly spec?: {
    readonly ports?: readonly ServicePort[] | null;
    readonly trafficDistribution?: string | null;
    /** Its slices list every endpoint as ready, whatever its Pod's readiness. */
    readonly publishNotReadyAddresses?: boolean | null;
  } | null;
}

export interface EndpointConditions {
  readonly ready?: boolean | null;
  readonly serving?: boolean | null;
  readonly terminating?: boolean | null;
}

export interface ObjectReference {
  readonly kind?: string | null;
  readonly name?: string | null;
  readonly namespace?: string | null;
}

export interface SliceEndpoint {
  readonly addresses?: readonly string[] | null;
  readonly conditions?: EndpointConditions | null;
  readonly targetRef?: ObjectReference | null;
  readonly nodeName?: string | null;
  readonly zone?: string | null;
}

export interface SlicePort {
  readonly name?: string | null;
  /** Absent or null means "all ports", which gives no port number to balance to. */
  readonly port?: number | null;
  readonly protocol?: string | null;
}

export interface EndpointSlice {
  readonly metadata?: ObjectMeta | null;
  readonly addressType?: string | null;
  readonly endpoints?: readonly SliceEndpoint[] | null;
  readonly ports?: readonly SlicePort[] | null;
}

/** One of a pod's conditions; the translation reads Ready's transition time (slow start). */
export interface PodCondition {
  readonly type?: string | null;
  readonly status?: string | null;
  /** RFC 3339, or a Date from a typed client. */
  readonly lastTransitionTime?: string | Date | null;
}

export interface Pod {
  readonly metadata?: ObjectMeta | null;
  readonly status?: { readonly conditions?: readonly PodCondition[] | null } | null;
}

export interface Node {
  readonly metadata?: ObjectMeta | null;
}

/** Anything with object metadata. */
export interface KubeObject {
  readonly metadata?: ObjectMeta | null;
}

/** Links an EndpointSlice to its Service (same namespace). */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const REGION_LABEL = "topology.kubernetes.io/region";
export const ZONE_LABEL = "topology.kubernetes.io/zone";
/** A pod's weight, when no policy weight selects it. */
export const WEIGHT_ANNOTATION = "lb.konsul.io/weight";
/** Namespace of namespaced objects that name none, as kubectl assumes. */
export const DEFAULT_NAMESPACE = "default";
