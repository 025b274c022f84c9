/** What a client reports of one request it sent to an endpoint. */
export const OUTCOME_RESULTS = ["success", "failure", "timeout"] as const;
export type OutcomeResult = (typeof OUTCOME_RESULTS)[number];

export interface Outcome {
  /** The endpoint's identity (the caller's address[:port] is resolved to it before). */
  readonly identity: string;
  readonly result: OutcomeResult;
  /** How long the request took, when the client measured it. */
  readonly latencyMs?: number | undefined;
}

/** The longest latency a report may carry: an hour; longer is a client's bug, not a sample. */
export const MAX_OUTCOME_LATENCY_MS = 3_600_000;
