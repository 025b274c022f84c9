import type { StrategyDefinition } from "../../definition.ts";
import { WeightedRandomPicker } from "./picker.ts";

export const weightedRandom: StrategyDefinition<"weighted-random"> = {
  name: "weighted-random",
  traits: {
    variesPerRequest: true,
    srvPriority: "shared",
    weighted: true,
    expectedShare: "weight",
    hashesOn: () => null,
  },
  build: (context) => new WeightedRandomPicker(context),
};
