/**
 * POST /v1/services/{namespace}/{name}/outcomes, and its internal twin on the leader: the
 * batch is read strictly (outcome-batch.ts), then either taken here (a single server, the
 * leader) or forwarded to the leader, whose answer is the client's.
 */
import type express from "express";
import type { OutcomeIntake, OutcomeReport } from "../discovery/outcomes.ts";
import { outcomeBodyParser, parseOutcomeBatch, reporterFrom } from "./outcome-batch.ts";

/** How a replica that does not decide ejections hands reports to the one that does. */
export interface OutcomeForwarding {
  /**
   * The leader's answer to relay, or null when this replica takes the reports itself.
   * Rejects with the ApiError to answer when no leader can take them.
   */
  forward(
    namespace: string,
    name: string,
    reporter: string | undefined,
    reports: readonly OutcomeReport[],
  ): Promise<{ status: number; body: unknown }> | null;
}

export interface OutcomeHandlerOptions {
  /** How this replica hands reports to the leader; absent or null: it takes them itself. */
  readonly forwarding?: OutcomeForwarding | null;
  readonly limitBytes?: number;
  /**
   * The reports come from another replica (the internal route), which counted them in its
   * metrics already: each report is counted once, by the replica the client called.
   */
  readonly forwarded?: boolean;
}

export function outcomeHandler(
  intake: OutcomeIntake,
  options: OutcomeHandlerOptions = {},
): express.RequestHandler {
  const { forwarding = null, limitBytes, forwarded = false } = options;
  const parse = outcomeBodyParser(limitBytes);
  const take = async (req: express.Request, res: express.Response) => {
    const namespace = req.params.namespace as string;
    const name = req.params.name as string;
    const reporter = reporterFrom(req.query);
    const reports = parseOutcomeBatch(req.body);
    const takeHere = () => intake.report(namespace, name, reports, reporter, !forwarded);
    const leaderAnswer = forwarding?.forward(namespace, name, reporter, reports) ?? null;
    if (leaderAnswer === null) {
      res.json(takeHere());
      return;
    }
    // The leader decides ejections; this replica keeps the latencies for its own picks.
    try {
      takeHere();
    } catch (error) {
      leaderAnswer.catch(() => {});
      throw error;
    }
    const answer = await leaderAnswer;
    res.status(answer.status).json(answer.body);
  };
  return (req, res, next) => {
    parse(req, res, (error?: unknown) => {
      if (error !== undefined) return next(error);
      take(req, res).catch(next);
    });
  };
}
