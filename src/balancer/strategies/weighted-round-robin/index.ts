import type { StrategyDefinition } from "../../definition.ts";
import { SmoothWeightedRoundRobinPicker } from "./picker.ts";

export const weightedRoundRobin: StrategyDefinition<"weighted-round-robin"> = {
  name: "weighted-round-robin",
  traits: {
    variesPerRequest: true,
    srvPriority: "rank",
    weighted: true,
    expectedShare: "weight",
    hashesOn: () => null,
  },
  build: (context) => new SmoothWeightedRoundRobinPicker(context),
};
