/**
 * Every policy feature the project ships, in the order the CRD lists their fields. Adding a
 * feature: its folder under features/ and a line here.
 */
import type { PolicyFeature } from "./feature.ts";
import { localityFeature } from "./locality/index.ts";
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
