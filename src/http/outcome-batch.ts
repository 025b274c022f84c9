/**
 * The body of POST /v1/services/{namespace}/{name}/outcomes and the release parameters
 * `outcome` and `latency`: their schema (what /openapi.json shows) and their strict reading,
 * every refusal naming the field, its value and what is allowed.
 */
import express from "express";
import { MAX_OUTCOME_LATENCY_MS, OUTCOME_RESULTS, type OutcomeResult } from "../balancer/index.ts";
import type { OutcomeReport } from "../discovery/outcomes.ts";
import { ApiError, invalidParameter } from "./errors.ts";
import { MAX_PUBLIC_BODY_BYTES } from "./limits.ts";
import { PARAMETERS } from "./routes.ts";

/** Reports in one batch at most: more is 413, as a body over the byte limit is. */
export const MAX_OUTCOME_BATCH = 1000;
/** An identity, an address or address:port: far below this. */
export const MAX_ENDPOINT_TEXT = 320;
/** A reporter's name: a Kubernetes name (a DNS label) such as the calling app's. */
const REPORTER = new RegExp(PARAMETERS.reporter.schema.pattern);

export const OUTCOME_BATCH_SCHEMA = {
  type: "array",
  maxItems: MAX_OUTCOME_BATCH,
  items: {
    type: "object",
    required: ["endpoint", "result"],
    additionalProperties: false,
    properties: {
      endpoint: {
        type: "string",
        minLength: 1,
        maxLength: MAX_ENDPOINT_TEXT,
        description:
          "The endpoint: its identity, or address:port ([address]:port for IPv6), or its address when only one endpoint has it",
      },
      result: { type: "string", enum: [...OUTCOME_RESULTS] },
      latencyMs: {
        type: "number",
        minimum: 0,
        maximum: MAX_OUTCOME_LATENCY_MS,
        description: "How long the request took, in milliseconds (least-request's peak-ewma cost)",
      },
    },
  },
} as const;

export const OUTCOME_RECEIPT_SCHEMA = {
  type: "object",
  required: ["accepted", "unknown"],
  properties: {
    accepted: { type: "integer", description: "Reports counted" },
    unknown: {
      type: "integer",
      description: "Reports of endpoints the service does not have (any more), ignored",
    },
  },
} as const;

const RESULTS_TEXT = OUTCOME_RESULTS.join(", ");

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads a batch; throws InvalidParameter (400) or PayloadTooLarge (413) naming the field. */
export function parseOutcomeBatch(body: unknown): OutcomeReport[] {
  if (!Array.isArray(body)) {
    throw invalidParameter(
      "body",
      body === undefined ? null : typeof body,
      "a JSON array of outcomes",
    );
  }
  if (body.length > MAX_OUTCOME_BATCH) {
    throw new ApiError(
      "PayloadTooLarge",
      `body: ${body.length} outcomes is not allowed; expected at most ${MAX_OUTCOME_BATCH} per request`,
    );
  }
  return body.map((item: unknown, index) => {
    const at = `body[${index}]`;
    if (!isRecord(item))
      throw invalidParameter(at, item, "an object {endpoint, result, latencyMs}");
    for (const field of Object.keys(item)) {
      if (field !== "endpoint" && field !== "result" && field !== "latencyMs") {
        throw invalidParameter(
          `${at}.${field}`,
          item[field],
          "no such field; the fields are endpoint, result, latencyMs",
        );
      }
    }
    const { endpoint, result, latencyMs } = item;
    if (
      typeof endpoint !== "string" ||
      endpoint.length === 0 ||
      endpoint.length > MAX_ENDPOINT_TEXT
    ) {
      throw invalidParameter(
        `${at}.endpoint`,
        endpoint,
        `an endpoint identity, address or address:port of 1 to ${MAX_ENDPOINT_TEXT} characters`,
      );
    }
    if (!OUTCOME_RESULTS.includes(result as OutcomeResult)) {
      throw invalidParameter(`${at}.result`, result, `one of ${RESULTS_TEXT}`);
    }
    if (
      latencyMs !== undefined &&
      (typeof latencyMs !== "number" ||
        !Number.isFinite(latencyMs) ||
        latencyMs < 0 ||
        latencyMs > MAX_OUTCOME_LATENCY_MS)
    ) {
      throw invalidParameter(
        `${at}.latencyMs`,
        latencyMs,
        `a number of milliseconds from 0 to ${MAX_OUTCOME_LATENCY_MS}`,
      );
    }
    return {
      endpoint,
      result: result as OutcomeResult,
      latencyMs: latencyMs as number | undefined,
    };
  });
}

/** The `reporter` parameter, or the default when absent. */
export function reporterFrom(query: Record<string, unknown>): string | undefined {
  const reporter = query.reporter;
  if (reporter === undefined) return undefined;
  if (typeof reporter !== "string" || !REPORTER.test(reporter)) {
    throw invalidParameter(
      "reporter",
      reporter,
      "a name of 1 to 63 lowercase letters, digits and '-'",
    );
  }
  return reporter;
}

/** Milliseconds of a `latency` parameter: "120ms", "1.5s", or a bare number of milliseconds. */
function latencyFrom(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (match === null) return null;
  const value = Number(match[1]) * (match[2] === "s" ? 1000 : 1);
  return value <= MAX_OUTCOME_LATENCY_MS ? value : null;
}

/** The outcome a release reports (`outcome`, `latency`), or null when it reports none. */
export function releaseOutcomeFrom(
  query: Record<string, unknown>,
): { result: OutcomeResult; latencyMs: number | undefined } | null {
  const { outcome, latency } = query;
  if (outcome === undefined) {
    if (latency !== undefined)
      throw invalidParameter("latency", latency, "no latency without outcome");
    return null;
  }
  if (typeof outcome !== "string" || !OUTCOME_RESULTS.includes(outcome as OutcomeResult)) {
    throw invalidParameter("outcome", outcome, `one of ${RESULTS_TEXT}`);
  }
  let latencyMs: number | undefined;
  if (latency !== undefined) {
    const ms = typeof latency === "string" ? latencyFrom(latency) : null;
    if (ms === null) {
      throw invalidParameter(
        "latency",
        latency,
        `a duration such as 120ms or 1.5s (or a number of milliseconds), at most ${MAX_OUTCOME_LATENCY_MS / 1000}s`,
      );
    }
    latencyMs = ms;
  }
  return { result: outcome as OutcomeResult, latencyMs };
}

/** express.json for the outcome routes, its refusals in the API's terms. */
export function outcomeBodyParser(limitBytes = MAX_PUBLIC_BODY_BYTES): express.RequestHandler {
  const parse = express.json({ limit: limitBytes, strict: true, type: () => true });
  return (req, res, next) => {
    parse(req, res, (error?: unknown) => {
      if (error === undefined) return next();
      const status = (error as { status?: number }).status;
      if (status === 413) return next(error);
      next(invalidParameter("body", (error as Error).message, "a JSON array of outcomes"));
    });
  };
}
