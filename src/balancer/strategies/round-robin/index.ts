import type { StrategyDefinition } from "../../definition.ts";
import { RoundRobinPicker } from "./picker.ts";

export const roundRobin: StrategyDefinition<"round-robin"> = {
  name: "round-robin",
  traits: {
    variesPerRequest: true,
    srvPriority: "rank",
    weighted: false,
    expectedShare: "equal",
    hashesOn: () => null,
  },
  build: (context) => new RoundRobinPicker(context),
};
