import type { IncomingMessage, ServerResponse } from "node:http";
import { parse as parseQuery } from "node:querystring";
import proxyAddr from "proxy-addr";
import type { Decisions } from "./decisions.ts";
import { writeJson } from "./errors.ts";
import { limitBroken, MAX_PUBLIC_BODY_BYTES } from "./limits.ts";
import { matchRoute } from "./routes.ts";

/**
 * `GET /v1/services/{namespace}/{name}/pick` without Express: the busiest route of the API, and
 * the one where Express's router and response helpers cost more than the decision. It answers
 * exactly as the Express route does (the route table's matching, the same Decisions.pick, the
 * same query parser as Express's default, the same client address under the same trust-proxy
 * function) and hands every other request — and any it cannot read — to Express.
 */
export function createFastPick(
  decisions: Decisions,
  trustProxy: (address: string, hop: number) => boolean,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const match = matchRoute(req.method, req.url);
    // Express answers what breaks a limit, in the same words.
    if (match?.route.id !== "pickEndpoint" || limitBroken(req, MAX_PUBLIC_BODY_BYTES) !== null) {
      return false;
    }
    const reply = decisions.pick({
      namespace: match.params.namespace as string,
      name: match.params.name as string,
      query: match.query === "" ? {} : parseQuery(match.query),
      callerIp: proxyAddr(req, trustProxy),
    });
    writeJson(res, reply.status, reply.body);
    return true;
  };
}
