import type { StrategyDefinition } from "../../definition.ts";
import { LeastRequestPicker } from "./picker.ts";
import { leastRequestSection } from "./settings.ts";

export * from "./peak-ewma.ts";
export * from "./settings.ts";

export const leastRequest: StrategyDefinition<"least-request"> = {
  name: "least-request",
  settings: leastRequestSection,
  traits: {
    variesPerRequest: true,
    srvPriority: "rank",
    weighted: true,
    expectedShare: "weight",
    hashesOn: () => null,
  },
  build: (context) => new LeastRequestPicker(context),
};
