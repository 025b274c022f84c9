import type { Strategy } from "../strategy.ts";
import { clientIpOf } from "./hash-key.ts";
import { MaglevPicker } from "./maglev.ts";

/**
 * Client IP → endpoint. Built on a Maglev table rather than hash-mod-n, so that adding or
 * removing one of n endpoints moves about 1/n of the clients instead of nearly all of them.
 */
export const ipHash: Strategy = {
  name: "ip-hash",
  build: ({ endpoints, policy }) =>
    new MaglevPicker(endpoints, policy.maglev.tableSize, (request) =>
      clientIpOf(request, "ip-hash"),
    ),
};
