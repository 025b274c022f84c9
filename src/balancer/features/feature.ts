import type { PolicySection } from "../definition.ts";

/**
 * A policy feature that is not a strategy (outlier detection, ...): its section of the spec —
 * CRD node, conversion from the spec, resolution with defaults — lives in its folder next to
 * its state, and index.ts lists it once. The registry adds each feature's section to every
 * policy, which is how the CRD, the file source's validation and resolvePolicy learn of it.
 */
export interface PolicyFeature {
  /** Kebab-case, for logs and docs. */
  readonly name: string;
  readonly section: PolicySection;
}
