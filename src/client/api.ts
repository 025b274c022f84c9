/**
 * The client's view of the discovery API, as types derived from the route table
 * (src/http/routes.ts) and the schemas `/openapi.json` serves (src/http/openapi.ts): a field,
 * parameter or error code added there reaches the client's types with nothing copied by hand.
 * Type-only imports: nothing of the server is loaded at run time.
 */
import type { ApiErrorCode } from "../http/errors.ts";
import type { SCHEMAS } from "../http/openapi.ts";
import type { PARAMETERS, ROUTES } from "../http/routes.ts";

type Schemas = typeof SCHEMAS;

/** The value a JSON Schema of the table describes. */
export type FromSchema<S> = S extends { readonly $ref: `#/components/schemas/${infer Name}` }
  ? Name extends keyof Schemas
    ? FromSchema<Schemas[Name]>
    : unknown
  : S extends { readonly enum: readonly (infer Value)[] }
    ? Value
    : S extends { readonly type: infer Type }
      ? Type extends readonly (infer Each)[]
        ? OfType<S, Each>
        : OfType<S, Type>
      : unknown;

type OfType<S, Type> = Type extends "string"
  ? string
  : Type extends "integer" | "number"
    ? number
    : Type extends "boolean"
      ? boolean
      : Type extends "null"
        ? null
        : Type extends "array"
          ? S extends { readonly items: infer Items }
            ? FromSchema<Items>[]
            : unknown[]
          : Type extends "object"
            ? ObjectOf<S>
            : unknown;

type ObjectOf<S> = S extends { readonly properties: infer Properties }
  ? Flatten<
      {
        [K in keyof Properties & RequiredOf<S>]: FromSchema<Properties[K]>;
      } & {
        [K in Exclude<keyof Properties, RequiredOf<S>>]?: FromSchema<Properties[K]>;
      }
    >
  : S extends { readonly additionalProperties: infer Values }
    ? Record<string, FromSchema<Values>>
    : Record<string, unknown>;

type RequiredOf<S> = S extends { readonly required: readonly (infer Name)[] } ? Name : never;
type Flatten<T> = { [K in keyof T]: T[K] };

type Route = (typeof ROUTES)[number];
export type RouteId = Route["id"];
export type RouteOf<Id extends RouteId> = Extract<Route, { readonly id: Id }>;

/** The JSON body of a route's successful answer with this status. */
export type AnswerOf<
  Id extends RouteId,
  Status extends keyof RouteOf<Id>["answers"],
> = RouteOf<Id>["answers"][Status] extends { readonly schema: infer S } ? FromSchema<S> : undefined;

/** The error codes a route can answer with. */
export type ErrorCodeOf<Id extends RouteId> = RouteOf<Id>["errors"][number] & ApiErrorCode;

type Parameters = typeof PARAMETERS;
type QueryParameterOf<Id extends RouteId> = {
  [P in RouteOf<Id>["parameters"][number]]: Parameters[P]["in"] extends "query" ? P : never;
}[RouteOf<Id>["parameters"][number]];

/** `session-key` → `sessionKey`. */
export type CamelCase<Name extends string> = Name extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : Name;

/** A switch the API spells "true" | "false" is a boolean in code. */
type InCode<T> = [T] extends ["true" | "false"] ? boolean : T;

/** A route's query parameters as the options of a call, camel-cased, all optional. */
export type QueryOptionsOf<Id extends RouteId, Omitted extends string = never> = {
  [P in Exclude<QueryParameterOf<Id>, Omitted> as CamelCase<P>]?: InCode<
    FromSchema<Parameters[P]["schema"]>
  >;
};

/** `sessionKey` → `session-key`: the inverse of CamelCase for the names the table uses. */
export function parameterName(option: string): string {
  return option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

export type Endpoint = FromSchema<Schemas["Endpoint"]>;
export type ServiceSummary = FromSchema<Schemas["ServiceSummary"]>;
export type StrategyName = FromSchema<Schemas["Strategy"]>;
export type ErrorBody = FromSchema<Schemas["Error"]>;

/** Blocking-query parameters are the client's own business (watches), not a call's options. */
type Blocking = "index" | "wait";

export type PickOptions = QueryOptionsOf<"pickEndpoint">;
export type EndpointsOptions = QueryOptionsOf<"listEndpoints", Blocking>;
export type ConnectionOptions = QueryOptionsOf<"openConnection">;

export type PickAnswer = AnswerOf<"pickEndpoint", 200>;
export type EndpointsAnswer = AnswerOf<"listEndpoints", 200>;
export type OpenedConnection = AnswerOf<"openConnection", 201>;
export type ServicesAnswer = AnswerOf<"listServices", 200>;
