/**
 * spec.healthCheck: the active probe the operator runs against each endpoint of the target
 * Service. Its bounds and defaults live here, shared by the schema (and through it the CRD), the
 * validation of a spec, and the prober that reads the parsed form.
 */

import { MAX_PORT_NAME_LENGTH, PORT_NAME_PATTERN } from "../shared/kubernetes-names.ts";
import { showValue } from "../shared/show-value.ts";
import { durationRange, formatDuration, tryParseDuration } from "./duration.ts";
import type { PathSegment, SchemaProblem } from "./field-path.ts";
import { formatPath } from "./field-path.ts";

/** A health check that passed validation, in milliseconds, with every default filled in. */
export interface HealthCheckSpec {
  readonly kind: "http" | "tcp";
  /** The request path of an HTTP probe; null for TCP. */
  readonly path: string | null;
  /** A port number, or the name of a port of the endpoint (as in the EndpointSlice). */
  readonly port: number | string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

/** spec.healthCheck as written, once the schema has accepted it. */
export interface HealthCheckInput {
  http?: { path?: string; port: number | string };
  tcp?: { port: number | string };
  interval?: string;
  timeout?: string;
  unhealthyThreshold?: number;
  healthyThreshold?: number;
}

export const DEFAULT_HEALTH_CHECK_PATH = "/";
export const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 10_000;
export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 2_000;
export const MIN_HEALTH_CHECK_INTERVAL_MS = 1_000;
export const MAX_HEALTH_CHECK_INTERVAL_MS = 3_600_000;
export const MIN_HEALTH_CHECK_TIMEOUT_MS = 1;
export const DEFAULT_UNHEALTHY_THRESHOLD = 3;
export const DEFAULT_HEALTHY_THRESHOLD = 2;
export const MIN_THRESHOLD = 1;
export const MAX_THRESHOLD = 100;

export const MIN_PORT = 1;
export const MAX_PORT = 65_535;
/** IANA service names, to which Kubernetes holds port names. */
export { MAX_PORT_NAME_LENGTH, PORT_NAME_PATTERN };
export const PORT_NAME_RULE =
  "a port name: at most 15 lowercase letters, digits and single inner '-', at least one of them a letter";

export const MAX_HTTP_PATH_LENGTH = 1024;
/** Printable ASCII without spaces, starting with "/": what fits in an HTTP request line. */
export const HTTP_PATH_PATTERN = "^/[!-~]*$";
export const HTTP_PATH_RULE = 'a path starting with "/", in printable ASCII without spaces';

/**
 * What the CRD's CEL rules say when they fail. The checks below report the same conditions in
 * the file source's words, naming the value; each keeps the CEL message's key phrase, so one
 * expectation matches both.
 */
export const HEALTH_CHECK_RULE_MESSAGES = {
  oneProbe: "exactly one of http or tcp must be set",
  timeoutBelowInterval: "timeout must be shorter than interval",
  intervalRange: `interval must be ${durationRange(MIN_HEALTH_CHECK_INTERVAL_MS, MAX_HEALTH_CHECK_INTERVAL_MS)}`,
  timeoutMinimum: `timeout must be ${durationRange(MIN_HEALTH_CHECK_TIMEOUT_MS, null)}`,
  wholeMilliseconds: "must be a whole number of milliseconds",
} as const;

function problem(path: readonly PathSegment[], detail: string): SchemaProblem {
  return { path, message: `${formatPath(path)}: ${detail}` };
}

/** Problems of `input` beyond the schema's, and its parsed form when there are none. */
export function checkHealthCheck(
  input: HealthCheckInput,
  path: readonly PathSegment[],
): { readonly problems: SchemaProblem[]; readonly spec: HealthCheckSpec | null } {
  const problems: SchemaProblem[] = [];
  if ((input.http === undefined) === (input.tcp === undefined)) {
    const found = input.http === undefined ? "neither is set" : "both are set";
    problems.push(problem(path, `${HEALTH_CHECK_RULE_MESSAGES.oneProbe}; ${found}`));
  }
  const interval = input.interval ?? formatDuration(DEFAULT_HEALTH_CHECK_INTERVAL_MS);
  const timeout = input.timeout ?? formatDuration(DEFAULT_HEALTH_CHECK_TIMEOUT_MS);
  const milliseconds = (
    field: "interval" | "timeout",
    text: string,
    min: number,
    max: number,
    rule: string,
  ): number | null => {
    const ms = tryParseDuration(text);
    const at = [...path, field];
    if (ms === null || ms < min || ms > max) {
      problems.push(problem(at, `${showValue(text)} is not allowed; ${rule}`));
      return null;
    }
    if (!Number.isInteger(ms)) {
      problems.push(
        problem(
          at,
          `${showValue(text)} is not allowed; ${field} ${HEALTH_CHECK_RULE_MESSAGES.wholeMilliseconds}`,
        ),
      );
      return null;
    }
    return ms;
  };
  const intervalMs = milliseconds(
    "interval",
    interval,
    MIN_HEALTH_CHECK_INTERVAL_MS,
    MAX_HEALTH_CHECK_INTERVAL_MS,
    HEALTH_CHECK_RULE_MESSAGES.intervalRange,
  );
  // No upper bound of its own: it must stay below the interval, which has one.
  const timeoutMs = milliseconds(
    "timeout",
    timeout,
    MIN_HEALTH_CHECK_TIMEOUT_MS,
    Number.POSITIVE_INFINITY,
    HEALTH_CHECK_RULE_MESSAGES.timeoutMinimum,
  );
  if (intervalMs !== null && timeoutMs !== null && timeoutMs >= intervalMs) {
    problems.push(
      problem(
        [...path, "timeout"],
        `${showValue(timeout)} is not allowed; ${HEALTH_CHECK_RULE_MESSAGES.timeoutBelowInterval} (${interval})`,
      ),
    );
  }
  if (problems.length > 0 || intervalMs === null || timeoutMs === null) {
    return { problems, spec: null };
  }
  const common = {
    intervalMs,
    timeoutMs,
    unhealthyThreshold: input.unhealthyThreshold ?? DEFAULT_UNHEALTHY_THRESHOLD,
    healthyThreshold: input.healthyThreshold ?? DEFAULT_HEALTHY_THRESHOLD,
  };
  const spec: HealthCheckSpec =
    input.http !== undefined
      ? {
          kind: "http",
          path: input.http.path ?? DEFAULT_HEALTH_CHECK_PATH,
          port: input.http.port,
          ...common,
        }
      : { kind: "tcp", path: null, port: (input.tcp as { port: number | string }).port, ...common };
  return { problems, spec };
}
