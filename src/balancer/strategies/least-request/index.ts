import type { StrategyDefinition } from "../../definition.ts";
import { LeastRequestPicker } from "./picker.ts";

export const leastRequest: StrategyDefinition<"least-request"> = {
  name: "least-request",
  traits: {
    variesPerRequest: true,
    srvPriority: "rank",
    weighted: true,
    expectedShare: "weight",
    hashesOn: () => null,
  },
  build: (context) => new LeastRequestPicker(context),
};
