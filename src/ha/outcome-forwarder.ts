/**
 * Outcome reports on a follower go to the leader, which alone decides ejections (its ejection
 * set reaches every replica through the state snapshots). Like connection changes they go to
 * the leader's internal API with this replica's ServiceAccount token. There is nothing to keep
 * for a later leader: a report that no leader takes is refused (503, retry), and outcomes are
 * samples, of which the next ones say the same.
 */
import type { OutcomeReport } from "../discovery/outcomes.ts";
import { ApiError } from "../http/errors.ts";
import type { OutcomeForwarding } from "../http/outcome-routes.ts";
import { pathOf } from "../http/routes.ts";

export interface OutcomeForwarderOptions {
  readonly identity: string;
  readonly isLeader: () => boolean;
  readonly leader: () => { identity: string; address: string | null } | null;
  readonly credentials?: () => Record<string, string>;
  readonly timeoutMs?: number;
}

export class OutcomeForwarder implements OutcomeForwarding {
  private readonly options: OutcomeForwarderOptions;

  constructor(options: OutcomeForwarderOptions) {
    this.options = options;
  }

  forward(
    namespace: string,
    name: string,
    reporter: string | undefined,
    reports: readonly OutcomeReport[],
  ): Promise<{ status: number; body: unknown }> | null {
    if (this.options.isLeader()) return null;
    const leader = this.options.leader();
    if (leader === null || leader.address === null || leader.identity === this.options.identity) {
      return Promise.reject(
        new ApiError("Unavailable", "no leader to take outcome reports yet; retry"),
      );
    }
    const url = new URL(pathOf("forwardOutcomes", { namespace, name }), leader.address);
    if (reporter !== undefined) url.searchParams.set("reporter", reporter);
    return this.send(url, reports);
  }

  private async send(
    url: URL,
    reports: readonly OutcomeReport[],
  ): Promise<{ status: number; body: unknown }> {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...this.options.credentials?.() },
        body: JSON.stringify(reports),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 2_000),
      });
      const body: unknown = await response.json();
      // The replicas' own refusals (a token, a leader whose term ended) are not the client's.
      if (response.status >= 500 || [401, 403, 409].includes(response.status)) {
        throw new Error(`the leader answered ${response.status}`);
      }
      return { status: response.status, body };
    } catch (error) {
      throw new ApiError(
        "Unavailable",
        `the leader did not take the outcome reports (${error instanceof Error ? error.message : String(error)}); retry`,
      );
    }
  }
}
