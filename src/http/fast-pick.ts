import type { IncomingMessage, ServerResponse } from "node:http";
import { parse as parseQuery } from "node:querystring";
import proxyAddr from "proxy-addr";
import type { Decisions } from "./decisions.ts";

const PREFIX = "/v1/services/";
const SUFFIX = "/pick";

/**
 * `GET /v1/services/{namespace}/{name}/pick` without Express: the busiest route of the API, and
 * the one where Express's router and response helpers cost more than the decision. It answers
 * exactly as the Express route does (the same Decisions.pick, the same query parser as Express's
 * default, the same client address under the same trust-proxy function) and hands every other
 * request — and any it cannot read — to Express.
 */
export function createFastPick(
  decisions: Decisions,
  trustProxy: (address: string, hop: number) => boolean,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = req.url;
    if (req.method !== "GET" || url === undefined || !url.startsWith(PREFIX)) return false;
    const queryAt = url.indexOf("?");
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    if (!path.endsWith(SUFFIX)) return false;
    const segments = path.slice(PREFIX.length, path.length - SUFFIX.length).split("/");
    if (segments.length !== 2) return false;
    let namespace: string;
    let name: string;
    try {
      namespace = decodeURIComponent(segments[0] as string);
      name = decodeURIComponent(segments[1] as string);
    } catch {
      return false; // Express answers a malformed path with its 400
    }
    if (namespace === "" || name === "") return false;
    const reply = decisions.pick({
      namespace,
      name,
      query: queryAt < 0 ? {} : parseQuery(url.slice(queryAt + 1)),
      callerIp: proxyAddr(req, trustProxy),
    });
    const body = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
    return true;
  };
}
