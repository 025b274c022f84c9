/**
 * The client's errors: one class per error code of the API, named as the code, and three for
 * what happens before an answer (a timeout, an unreachable server, an answer that is not the
 * API's). The table of classes must name every code the server has (ApiErrorCode), so a code
 * added to the server fails the client's compilation until it has its class.
 */
import type { API_ERRORS, ApiErrorCode } from "../http/errors.ts";

/** Every error the client throws. */
export class KonsulLbError extends Error {
  override name = "KonsulLbError";
}

/** The server answered with an error envelope `{"error":{"code","message"}}`. */
export class ApiCallError<Code extends ApiErrorCode = ApiErrorCode> extends KonsulLbError {
  readonly code: Code;
  readonly status: number;
  /** The route's method and path, e.g. "GET /v1/services/shop/cart/pick". */
  readonly request: string;

  constructor(code: Code, status: number, message: string, request: string) {
    super(message);
    this.code = code;
    this.status = status;
    this.request = request;
    this.name = code;
  }
}

export class InvalidParameter extends ApiCallError<"InvalidParameter"> {}
export class UnknownStrategy extends ApiCallError<"UnknownStrategy"> {}
export class UnknownSubset extends ApiCallError<"UnknownSubset"> {}
export class MissingSessionKey extends ApiCallError<"MissingSessionKey"> {}
export class ServiceNotFound extends ApiCallError<"ServiceNotFound"> {}
export class ConnectionNotFound extends ApiCallError<"ConnectionNotFound"> {}
export class RouteNotFound extends ApiCallError<"RouteNotFound"> {}
export class Unauthenticated extends ApiCallError<"Unauthenticated"> {}
export class Forbidden extends ApiCallError<"Forbidden"> {}
export class NotLeader extends ApiCallError<"NotLeader"> {}
export class PayloadTooLarge extends ApiCallError<"PayloadTooLarge"> {}
export class TooManyConnections extends ApiCallError<"TooManyConnections"> {}
export class TooManyWaiters extends ApiCallError<"TooManyWaiters"> {}
export class HeadersTooLarge extends ApiCallError<"HeadersTooLarge"> {}
export class NoEndpoints extends ApiCallError<"NoEndpoints"> {}
export class Unavailable extends ApiCallError<"Unavailable"> {}
export class Internal extends ApiCallError<"Internal"> {}

type ErrorClass<Code extends ApiErrorCode> = new (
  code: Code,
  status: number,
  message: string,
  request: string,
) => ApiCallError<Code>;

/** The class of each code; `satisfies` makes a missing code a compile error. */
export const ERROR_CLASSES = {
  InvalidParameter,
  UnknownStrategy,
  UnknownSubset,
  MissingSessionKey,
  ServiceNotFound,
  ConnectionNotFound,
  RouteNotFound,
  Unauthenticated,
  Forbidden,
  NotLeader,
  PayloadTooLarge,
  TooManyConnections,
  TooManyWaiters,
  HeadersTooLarge,
  NoEndpoints,
  Unavailable,
  Internal,
} as const satisfies { readonly [Code in ApiErrorCode]: ErrorClass<Code> };

/**
 * The status the server answers each code with, for errors of decisions the client makes
 * itself (thick mode). The type makes each value the server's own: a change there fails here.
 */
export const API_STATUS = {
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
} as const satisfies { readonly [Code in ApiErrorCode]: (typeof API_ERRORS)[Code] };

/** No answer within `timeoutMs`, on the last attempt. */
export class RequestTimeout extends KonsulLbError {
  override name = "RequestTimeout";
  readonly request: string;
  readonly timeoutMs: number;
  constructor(request: string, timeoutMs: number, attempts: number) {
    super(`${request}: no answer within ${timeoutMs} ms (${attempts} attempt(s))`);
    this.request = request;
    this.timeoutMs = timeoutMs;
  }
}

/** The server could not be reached (refused, reset, no route), on the last attempt. */
export class ServerUnreachable extends KonsulLbError {
  override name = "ServerUnreachable";
  readonly request: string;
  constructor(request: string, attempts: number, cause: unknown) {
    super(
      `${request}: the server could not be reached (${attempts} attempt(s)): ${causeText(cause)}`,
      {
        cause,
      },
    );
    this.request = request;
  }
}

/** An answer that is not one the API gives (a proxy's error page, a status it never uses). */
export class UnexpectedAnswer extends KonsulLbError {
  override name = "UnexpectedAnswer";
  readonly request: string;
  readonly status: number;
  constructor(request: string, status: number, body: string) {
    super(`${request}: unexpected answer ${status}: ${body.slice(0, 200)}`);
    this.request = request;
    this.status = status;
  }
}

/** The error an error answer stands for. */
export function errorFromAnswer(request: string, status: number, body: string): KonsulLbError {
  let envelope: { error?: { code?: unknown; message?: unknown } } | null = null;
  try {
    envelope = JSON.parse(body);
  } catch {
    // not JSON: handled below
  }
  const code = envelope?.error?.code;
  const message = envelope?.error?.message;
  if (typeof code === "string" && Object.hasOwn(ERROR_CLASSES, code)) {
    const Class = ERROR_CLASSES[code as ApiErrorCode] as ErrorClass<ApiErrorCode>;
    return new Class(
      code as ApiErrorCode,
      status,
      `${request}: ${typeof message === "string" ? message : code}`,
      request,
    );
  }
  return new UnexpectedAnswer(request, status, body);
}

function causeText(cause: unknown): string {
  const inner = (cause as { cause?: { code?: unknown; message?: unknown } })?.cause;
  if (typeof inner?.code === "string") return inner.code;
  return cause instanceof Error ? cause.message : String(cause);
}
