import type { StrategyDefinition } from "../../definition.ts";
import { LeastConnectionsPicker } from "./picker.ts";

export const leastConnections: StrategyDefinition<"least-connections"> = {
  name: "least-connections",
  traits: {
    variesPerRequest: true,
    srvPriority: "rank",
    weighted: true,
    expectedShare: "weight",
    hashesOn: () => null,
  },
  build: (context) => new LeastConnectionsPicker(context),
};
