/**
 * Typed errors of the balancing core. Each carries a stable `code` that the interfaces map to
 * their own error replies (HTTP error codes, DNS rcodes); the message names the input at fault,
 * its value and what is allowed.
 */
export type BalancerErrorCode =
  | "UnknownStrategy"
  | "MissingSessionKey"
  | "MissingClientIP"
  | "NoEndpoints"
  | "InvalidEndpoint"
  | "InvalidPolicy"
  | "TooManyConnections"
  | "UnknownSubset";

export class BalancerError extends Error {
  readonly code: BalancerErrorCode;

  constructor(code: BalancerErrorCode, message: string) {
    super(message);
    this.name = `${code}Error`;
    this.code = code;
  }
}

export function isBalancerError(error: unknown): error is BalancerError {
  return error instanceof BalancerError;
}
