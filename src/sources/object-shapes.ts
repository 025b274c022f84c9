/**
 * Schemas of the fields the operator reads from Service, EndpointSlice, Pod and Node objects in a
 * file, so that a typo ("ports: 8080" where a list belongs) is reported with its field path
 * instead of surfacing later as a missing endpoint. Other fields are not checked: they are
 * Kubernetes' business, not the operator's. Null is accepted wherever the API may print it.
 */

import type { OpenApiSchema } from "../policy/schema.ts";
import type { SchemaCheck } from "../policy/schema-check.ts";
import { compileSchema } from "../policy/schema-check.ts";

const text: OpenApiSchema = { type: "string", nullable: true };
const flag: OpenApiSchema = { type: "boolean", nullable: true };
const stringMap: OpenApiSchema = {
  type: "object",
  nullable: true,
  additionalProperties: { type: "string" },
};

const portNumber: OpenApiSchema = { type: "integer", minimum: 1, maximum: 65_535, nullable: true };

const metadata: OpenApiSchema = {
  type: "object",
  required: ["name"],
  properties: {
    name: { type: "string" },
    namespace: text,
    labels: stringMap,
    annotations: stringMap,
    creationTimestamp: text,
  },
};

function listOf(items: OpenApiSchema): OpenApiSchema {
  return { type: "array", nullable: true, items };
}

function object(properties: Record<string, OpenApiSchema>): OpenApiSchema {
  return { type: "object", nullable: true, properties };
}

const namedPort = object({ name: text, port: portNumber, protocol: text });

const serviceShape: OpenApiSchema = {
  type: "object",
  properties: {
    metadata,
    spec: object({
      ports: listOf(namedPort),
      trafficDistribution: text,
      publishNotReadyAddresses: flag,
    }),
  },
};

const endpointSliceShape: OpenApiSchema = {
  type: "object",
  properties: {
    metadata,
    addressType: text,
    endpoints: listOf({
      type: "object",
      properties: {
        addresses: listOf({ type: "string" }),
        conditions: object({ ready: flag, serving: flag, terminating: flag }),
        targetRef: object({ kind: text, name: text, namespace: text }),
        nodeName: text,
        zone: text,
      },
    }),
    ports: listOf(namedPort),
  },
};

const metadataOnlyShape: OpenApiSchema = { type: "object", properties: { metadata } };

/** Checks by kind, for the kinds the operator reads besides its own. */
export const OBJECT_SHAPE_CHECKS: Readonly<Record<string, SchemaCheck>> = {
  Service: compileSchema(serviceShape),
  EndpointSlice: compileSchema(endpointSliceShape),
  Pod: compileSchema({
    type: "object",
    properties: {
      metadata,
      status: object({
        conditions: listOf(object({ type: text, status: text, lastTransitionTime: text })),
      }),
    },
  }),
  Node: compileSchema(metadataOnlyShape),
};

/** Metadata alone, for the policy kind, whose spec has its own validation. */
export const checkMetadataShape: SchemaCheck = compileSchema(metadataOnlyShape);
