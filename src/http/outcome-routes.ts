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

export function outcomeHandler(
  intake: OutcomeIntake,
  forwarding: OutcomeForwarding | null,
  limitBytes?: number,
): express.RequestHandler {
  const parse = outcomeBodyParser(limitBytes);
  const take = async (req: express.Request, res: express.Response) => {
    const namespace = req.params.namespace as string;
    const name = req.params.name as string;
    const reporter = reporterFrom(req.query);
    const reports = parseOutcomeBatch(req.body);
    const forwarded = forwarding?.forward(namespace, name, reporter, reports) ?? null;
    if (forwarded === null) {
      res.json(intake.report(namespace, name, reports, reporter));
      return;
    }
    // The leader decides ejections; this replica keeps the latencies for its own picks.
    intake.report(namespace, name, reports, reporter);
    const answer = await forwarded;
    res.status(answer.status).json(answer.body);
  };
  return (req, res, next) => {
    parse(req, res, (error?: unknown) => {
      if (error !== undefined) return next(error);
      take(req, res).catch(next);
    });
  };
}
