import type { PolicyFeature } from "../feature.ts";
import { outlierDetectionSection } from "./settings.ts";

export * from "./detector.ts";
export * from "./settings.ts";

export const outlierDetection: PolicyFeature = {
  name: "outlier-detection",
  section: outlierDetectionSection,
};
