import { isBalancerError } from "../balancer/errors.ts";
import { ServiceNotFoundError } from "../discovery/discovery.ts";

/** The error codes of the discovery API (its public contract). */
export type ApiErrorCode =
  | "InvalidParameter"
  | "UnknownStrategy"
  | "MissingSessionKey"
  | "ServiceNotFound"
  | "ConnectionNotFound"
  | "RouteNotFound"
  | "NoEndpoints"
  | "Internal";

export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode;

  constructor(status: number, code: ApiErrorCode, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function invalidParameter(name: string, value: unknown, allowed: string): ApiError {
  return new ApiError(
    400,
    "InvalidParameter",
    `${name}: ${JSON.stringify(value)} is not allowed; expected ${allowed}`,
  );
}

/** Maps any thrown value to the API error a client sees. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ServiceNotFoundError)
    return new ApiError(404, "ServiceNotFound", error.message);
  if (isBalancerError(error)) {
    switch (error.code) {
      case "UnknownStrategy":
        return new ApiError(400, "UnknownStrategy", error.message);
      case "MissingSessionKey":
        return new ApiError(400, "MissingSessionKey", error.message);
      case "MissingClientIP":
        return new ApiError(400, "InvalidParameter", `client-ip: ${error.message}`);
      case "NoEndpoints":
        return new ApiError(503, "NoEndpoints", error.message);
      // The catalog only holds validated services, so these would be a defect of ours.
      case "InvalidEndpoint":
      case "InvalidPolicy":
        return new ApiError(500, "Internal", error.message);
    }
  }
  // Errors raised by Express itself (a malformed URI, an oversized body) carry a 4xx status.
  const status = (error as { status?: unknown })?.status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new ApiError(status, "InvalidParameter", (error as Error).message);
  }
  return new ApiError(500, "Internal", "internal error");
}
