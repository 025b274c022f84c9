import type { StrategyDefinition } from "../../definition.ts";
import { MaglevPicker } from "../maglev/picker.ts";
import { clientIpOf } from "../shared/hash-key.ts";

/**
 * Client IP → endpoint. Built on a Maglev table rather than hash-mod-n, so that adding or
 * removing one of n endpoints moves about 1/n of the clients instead of nearly all of them.
 * It reads maglev's settings (tableSize) and always hashes the client IP.
 */
export const ipHash: StrategyDefinition<"ip-hash"> = {
  name: "ip-hash",
  traits: {
    variesPerRequest: false,
    srvPriority: "rank",
    weighted: true,
    hashesOn: () => "client-ip",
    expectedShare: "weight",
  },
  build: ({ endpoints, policy }) =>
    new MaglevPicker(endpoints, policy.maglev.tableSize, (request) =>
      clientIpOf(request, "ip-hash"),
    ),
};
