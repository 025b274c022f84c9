/**
 * Every policy feature beside the strategies, in the order the CRD's spec lists their sections.
 * Adding one: its folder under features/ and a line here.
 */
import type { PolicyFeature } from "./feature.ts";
import { outlierDetection } from "./outlier-detection/index.ts";

export type { PolicyFeature } from "./feature.ts";

export const POLICY_FEATURES: readonly PolicyFeature[] = [outlierDetection];
