/**
 * The CustomResourceDefinition of LoadBalancingPolicy, built from the spec schema that the file
 * source validates with, so that the two cannot drift: `npm run crd` writes it to CRD_FILE, and a
 * test fails when the checked-in file differs from what this module renders.
 *
 * The spec schema goes in as it is. It is written to suit the API server already (structural,
 * int-or-string spelled the Kubernetes way, CEL rules in x-kubernetes-validations), and it is the
 * file source that adapts it (see schema-check.ts), so no CRD-only transform is needed.
 */

import { stringify } from "yaml";
import { DEFAULT_REGISTRY, type StrategyRegistry } from "../balancer/index.ts";
import { QUALIFIED_NAME_PATTERN } from "../shared/kubernetes-names.ts";
import type { OpenApiSchema } from "./schema.ts";
import {
  POLICY_GROUP,
  POLICY_KIND,
  POLICY_LIST_KIND,
  POLICY_PLURAL,
  POLICY_SHORT_NAMES,
  POLICY_SINGULAR,
  POLICY_VERSION,
  policySpecSchema,
} from "./schema.ts";

/** Where the CRD lives in the repository, relative to its root. */
export const CRD_FILE = `crds/${POLICY_GROUP}_${POLICY_PLURAL}.yaml`;
export const CRD_NAME = `${POLICY_PLURAL}.${POLICY_GROUP}`;
/** `kubectl get konsul` lists every kind of this project (there is one so far). */
export const POLICY_CATEGORIES: readonly string[] = ["konsul"];

/** The condition types the operator writes, in the order it writes them. */
export const CONDITION_TYPES = ["Accepted", "ResolvedRefs", "Ready"] as const;

/** metav1.Condition, as every Kubernetes API spells it. */
const conditionSchema: OpenApiSchema = {
  type: "object",
  description: "One aspect of the policy's state, in the standard Kubernetes condition shape.",
  required: ["type", "status", "lastTransitionTime", "reason", "message"],
  properties: {
    type: {
      type: "string",
      maxLength: 316,
      pattern: QUALIFIED_NAME_PATTERN,
      description:
        `The aspect: ${CONDITION_TYPES.join(", ")}. Accepted: the spec is valid and this ` +
        "policy is the one that applies to its Service (the oldest, if several target it). " +
        "ResolvedRefs: the Service exists. Ready: both, and at least one endpoint is healthy.",
    },
    status: {
      type: "string",
      enum: ["True", "False", "Unknown"],
      description: "Whether the condition holds.",
    },
    observedGeneration: {
      type: "integer",
      format: "int64",
      minimum: 0,
      description: "The metadata.generation of the policy the condition was computed from.",
    },
    lastTransitionTime: {
      type: "string",
      format: "date-time",
      description: "When status last changed.",
    },
    reason: {
      type: "string",
      minLength: 1,
      maxLength: 1024,
      pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
      description: "Why, in one CamelCase word, such as Invalid, Conflicted or ServiceNotFound.",
    },
    // metav1.Condition caps message at 32768 characters. The cap is left out: for Accepted=False
    // the operator lists every problem in the spec, which for a large spec can run longer, and a
    // status the API server refuses would leave the policy with no status at all.
    message: {
      type: "string",
      description: "Why, in words; for Accepted=False, every problem found in the spec.",
    },
  },
};

/** The status the operator writes (src/kubernetes/policy-status.ts). */
export const policyStatusSchema: OpenApiSchema = {
  type: "object",
  description: "What the operator last observed of the policy. Written by the operator only.",
  properties: {
    observedGeneration: {
      type: "integer",
      format: "int64",
      minimum: 0,
      description: "The metadata.generation of the policy this status describes.",
    },
    conditions: {
      type: "array",
      description: "The policy's conditions, one per type.",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
      items: conditionSchema,
    },
    endpoints: {
      type: "object",
      description: "The endpoints of the target Service.",
      properties: {
        total: {
          type: "integer",
          minimum: 0,
          description: "Endpoints the Service has.",
        },
        healthy: {
          type: "integer",
          minimum: 0,
          description: "Endpoints that may take new requests.",
        },
        ejected: {
          type: "integer",
          minimum: 0,
          description:
            "Endpoints outlier detection (spec.outlierDetection) has ejected now; not counted as healthy.",
        },
        summary: {
          type: "string",
          // A printer column cannot join two fields, so the operator writes them joined.
          description: 'healthy/total, such as "2/3", for the Endpoints column of kubectl get.',
        },
        rampingUp: {
          type: "integer",
          minimum: 0,
          description:
            "Endpoints within their slow-start window (spec.slowStart) when the status was written.",
        },
      },
    },
  },
};

interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

const conditionStatus = (type: (typeof CONDITION_TYPES)[number]): string =>
  `.status.conditions[?(@.type=="${type}")].status`;

const printerColumns: PrinterColumn[] = [
  {
    name: "Target",
    type: "string",
    jsonPath: ".spec.targetRef.name",
    description: "The Service the policy applies to.",
  },
  {
    name: "Strategy",
    type: "string",
    jsonPath: ".spec.strategy",
    description: "The balancing strategy; empty for the server's default.",
  },
  {
    name: "Endpoints",
    type: "string",
    jsonPath: ".status.endpoints.summary",
    description: "Healthy endpoints / all endpoints of the Service.",
  },
  {
    name: "Ready",
    type: "string",
    jsonPath: conditionStatus("Ready"),
    description: "Accepted, its Service found, and at least one endpoint healthy.",
  },
  {
    name: "Ejected",
    type: "integer",
    jsonPath: ".status.endpoints.ejected",
    description: "Endpoints ejected by outlier detection now.",
    priority: 1,
  },
  {
    name: "Ramping",
    type: "integer",
    jsonPath: ".status.endpoints.rampingUp",
    description: "Endpoints within their slow-start window.",
    priority: 1,
  },
  {
    name: "Accepted",
    type: "string",
    jsonPath: conditionStatus("Accepted"),
    description: "Whether the spec is valid and the policy applies to its Service.",
    priority: 1,
  },
  {
    name: "Age",
    type: "date",
    jsonPath: ".metadata.creationTimestamp",
    description: "Time since the policy was created.",
  },
];

/** The CustomResourceDefinition as an object, ready to serialise. */
export function buildCrd(registry: StrategyRegistry = DEFAULT_REGISTRY): object {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: CRD_NAME,
      labels: { "app.kubernetes.io/name": "konsul-lb" },
    },
    spec: {
      group: POLICY_GROUP,
      names: {
        kind: POLICY_KIND,
        listKind: POLICY_LIST_KIND,
        plural: POLICY_PLURAL,
        singular: POLICY_SINGULAR,
        shortNames: [...POLICY_SHORT_NAMES],
        categories: [...POLICY_CATEGORIES],
      },
      scope: "Namespaced",
      versions: [
        {
          name: POLICY_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: printerColumns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              description:
                "How konsul-lb balances requests over the endpoints of one Service: the " +
                "strategy, endpoint weights, strategy settings and an active health check.",
              required: ["spec"],
              properties: {
                apiVersion: {
                  type: "string",
                  description:
                    "The versioned schema of this representation of an object; see " +
                    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                },
                kind: {
                  type: "string",
                  description:
                    "The REST resource this object represents; see " +
                    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                },
                metadata: { type: "object" },
                spec: policySpecSchema(registry),
                status: policyStatusSchema,
              },
            },
          },
        },
      ],
    },
  };
}

const HEADER =
  "# Generated from src/policy/schema.ts and src/policy/crd.ts by `npm run crd`; do not edit.\n" +
  "# The spec schema is the one the file source validates with.\n";

/** The CRD file's text: what `npm run crd` writes and the test compares. */
export function renderCrd(registry: StrategyRegistry = DEFAULT_REGISTRY): string {
  return `${HEADER}${stringify(buildCrd(registry), { lineWidth: 0 })}`;
}
