import type { ServerResponse } from "node:http";
import { isBalancerError } from "../balancer/index.ts";
import { ServiceNotFoundError } from "../discovery/discovery.ts";

/**
 * The error codes of the API (its public contract), public and internal routes alike, each with
 * the status it is answered with. Every error answer is the one envelope
 * `{"error":{"code","message"}}` (`errorJson`).
 */
export const API_ERRORS = {
  InvalidParameter: 400,
  UnknownStrategy: 400,
  UnknownSubset: 400,
  MissingSessionKey: 400,
  ServiceNotFound: 404,
  ConnectionNotFound: 404,
  RouteNotFound: 404,
  Unauthenticated: 401,
  Forbidden: 403,
  NotLeader: 409,
  PayloadTooLarge: 413,
  TooManyConnections: 429,
  TooManyWaiters: 429,
  HeadersTooLarge: 431,
  NoEndpoints: 503,
  Unavailable: 503,
  Internal: 500,
} as const satisfies Record<string, number>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export const API_ERROR_CODES = Object.keys(API_ERRORS) as ApiErrorCode[];

/** How long a client refused for a full table (429) waits: releases free slots at any time. */
export const RETRY_AFTER_SECONDS = 1;

export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode;
  /** Headers of the answer besides the body's, e.g. Retry-After. */
  readonly headers: Readonly<Record<string, string>>;

  /** `status` defaults to the code's own; Express's own 4xx errors keep theirs. */
  constructor(code: ApiErrorCode, message: string, status: number = API_ERRORS[code]) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers =
      status === 429 || status === 503 ? { "Retry-After": String(RETRY_AFTER_SECONDS) } : {};
  }
}

export function invalidParameter(name: string, value: unknown, allowed: string): ApiError {
  return new ApiError(
    "InvalidParameter",
    `${name}: ${JSON.stringify(value)} is not allowed; expected ${allowed}`,
  );
}

/** The body of every error answer. */
export function errorJson(error: ApiError): { error: { code: ApiErrorCode; message: string } } {
  return { error: { code: error.code, message: error.message } };
}

/** The error code of an answer's body, or null when it is not an error envelope. */
export function errorCodeOf(body: string): ApiErrorCode | null {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } })?.error?.code;
    return typeof code === "string" && Object.hasOwn(API_ERRORS, code)
      ? (code as ApiErrorCode)
      : null;
  } catch {
    return null;
  }
}

/** Writes a JSON answer on a bare Node response (routes served without Express). */
export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Maps any thrown value to the API error a client sees. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ServiceNotFoundError) return new ApiError("ServiceNotFound", error.message);
  if (isBalancerError(error)) {
    switch (error.code) {
      case "UnknownStrategy":
        return new ApiError("UnknownStrategy", error.message);
      case "UnknownSubset":
        return new ApiError("UnknownSubset", error.message);
      case "MissingSessionKey":
        return new ApiError("MissingSessionKey", error.message);
      case "MissingClientIP":
        return new ApiError("InvalidParameter", `client-ip: ${error.message}`);
      case "NoEndpoints":
        return new ApiError("NoEndpoints", error.message);
      case "TooManyConnections":
        return new ApiError("TooManyConnections", error.message);
      // The catalog only holds validated services, so these would be a defect of ours.
      case "InvalidEndpoint":
      case "InvalidPolicy":
        return new ApiError("Internal", error.message);
    }
  }
  // Errors raised by Express itself (a malformed URI, an oversized body) carry a 4xx status.
  const status = (error as { status?: unknown })?.status;
  if (status === 413) return new ApiError("PayloadTooLarge", (error as Error).message);
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new ApiError("InvalidParameter", (error as Error).message, status);
  }
  return new ApiError("Internal", "internal error");
}
