import type { StrategyDefinition } from "../../definition.ts";
import type { Endpoint } from "../../endpoint.ts";
import { maglevTableJob } from "../maglev/index.ts";
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
  build: ({ endpoints, policy }) => ipHashPicker(endpoints, policy.maglev.tableSize),
  table: {
    job: maglevTableJob,
    picker: ({ endpoints, policy }, table) =>
      ipHashPicker(endpoints, policy.maglev.tableSize, table as Uint16Array | Uint32Array),
  },
};

function ipHashPicker(
  endpoints: readonly Endpoint[],
  tableSize: number,
  table?: Uint16Array | Uint32Array,
): MaglevPicker {
  return new MaglevPicker(endpoints, tableSize, (request) => clientIpOf(request, "ip-hash"), table);
}
