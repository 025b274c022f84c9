import type { StrategyDefinition } from "../../definition.ts";
import { RandomPicker } from "./picker.ts";

export const random: StrategyDefinition<"random"> = {
  name: "random",
  traits: {
    variesPerRequest: true,
    srvPriority: "shared",
    weighted: false,
    expectedShare: "equal",
    hashesOn: () => null,
  },
  build: (context) => new RandomPicker(context),
};
