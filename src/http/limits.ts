/**
 * Explicit limits on what a request may bring, answered in the API's error envelope:
 * request line and headers over MAX_HEADER_BYTES are 431 HeadersTooLarge (Node refuses them
 * before any handler; `answerClientErrors` writes the envelope), a query string over
 * MAX_QUERY_CHARS is 400 InvalidParameter, a declared body over the route's limit 413
 * PayloadTooLarge. Public routes read no body: one that is sent is never buffered, only
 * discarded. The internal API's reconcile body has its own limit (internal-app.ts).
 */
import type { IncomingMessage, Server } from "node:http";
import type { Socket } from "node:net";
import type express from "express";
import { ApiError, errorJson } from "./errors.ts";

/** Node's maxHeaderSize for the request line and headers together. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** The longest query string: far above any real selection (each text parameter ≤ 1,024). */
export const MAX_QUERY_CHARS = 8 * 1024;
/** Public routes take no body; a client library that sends a small one is not refused. */
export const MAX_PUBLIC_BODY_BYTES = 64 * 1024;

/** The limit a request breaks, or null: for the paths that answer without Express. */
export function limitBroken(req: IncomingMessage, maxBodyBytes: number): ApiError | null {
  const url = req.url ?? "";
  const queryAt = url.indexOf("?");
  const queryChars = queryAt < 0 ? 0 : url.length - queryAt - 1;
  if (queryChars > MAX_QUERY_CHARS) {
    return new ApiError(
      "InvalidParameter",
      `query: ${queryChars} characters is not allowed; expected at most ${MAX_QUERY_CHARS}`,
    );
  }
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBodyBytes) {
    return new ApiError(
      "PayloadTooLarge",
      `body: ${declared} bytes is not allowed; expected at most ${maxBodyBytes}`,
    );
  }
  return null;
}

/** Express middleware: refuses a request over the limits before any route sees it. */
export function requestLimits(maxBodyBytes: number): express.RequestHandler {
  return (req, _res, next) => next(limitBroken(req, maxBodyBytes) ?? undefined);
}

/**
 * A request Node cannot parse (headers too large, a malformed request line) gets the error
 * envelope too, instead of Node's bare status line.
 */
export function answerClientErrors(server: Server): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const apiError =
      error.code === "HPE_HEADER_OVERFLOW"
        ? new ApiError(
            "HeadersTooLarge",
            `request line and headers: over ${MAX_HEADER_BYTES} bytes is not allowed`,
          )
        : new ApiError("InvalidParameter", "request: not a well-formed HTTP request");
    const body = JSON.stringify(errorJson(apiError));
    socket.end(
      `HTTP/1.1 ${apiError.status} ${apiError.code}\r\n` +
        "Content-Type: application/json; charset=utf-8\r\n" +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        "Connection: close\r\n\r\n" +
        body,
    );
  });
}
