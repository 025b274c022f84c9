/**
 * Every policy feature the project ships, in the order the CRD lists their fields. Adding a
 * feature: its folder under features/ and a line here — in POLICY_FEATURES when it narrows,
 * routes or reshapes a request's picker, in FEATURE_SECTIONS when it is a section of settings
 * whose state lives beside the pickers (outlier detection's detector).
 */
import type { PolicySection } from "../definition.ts";
import type { PolicyFeature } from "./feature.ts";
import { localityFeature } from "./locality/index.ts";
import { outlierDetectionSection } from "./outlier-detection/index.ts";
import { slowStartFeature } from "./slow-start/index.ts";
import { subsetsFeature } from "./subsets/index.ts";

export type {
  BuildShape,
  Narrowing,
  PolicyFeature,
  RoutePart,
  RouteRequest,
  SpecRule,
} from "./feature.ts";

export const POLICY_FEATURES: readonly PolicyFeature[] = [
  subsetsFeature,
  slowStartFeature,
  localityFeature,
];

/**
 * Features that are a section of every policy, as a strategy's settings are: the registry adds
 * them beside the strategies' sections, which is how the CRD, the file source's validation and
 * resolvePolicy learn of them.
 */
export const FEATURE_SECTIONS: readonly PolicySection[] = [outlierDetectionSection];
