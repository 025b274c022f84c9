// What the runner (e2e/global-setup.ts locally, e2e/kind.sh on kind) hands the suite, through
// environment variables that vitest's workers inherit, and the names every test shares.

import { fileURLToPath } from "node:url";

export const ENV = {
  /** local (the default) or kind. */
  mode: "KONSUL_LB_E2E_MODE",
  /** An admin kubeconfig: the tests set up backends and policies with it. */
  kubeconfig: "KONSUL_LB_E2E_KUBECONFIG",
  /** The discovery API of the release: kind, a port-forward of its Service; local, replica 0. */
  url: "KONSUL_LB_E2E_URL",
  /** host:port of the release's DNS over TCP (a port-forward carries TCP only). */
  dns: "KONSUL_LB_E2E_DNS",
  /** The helm binary (local: the one built from source; kind: helm on PATH). */
  helm: "KONSUL_LB_E2E_HELM",
  /** Local only: the runner's endpoint that crashes, restarts and reloads replica processes. */
  control: "KONSUL_LB_E2E_CONTROL_URL",
} as const;

export type Mode = "local" | "kind";

export function mode(): Mode {
  const value = process.env[ENV.mode] || "local";
  if (value !== "local" && value !== "kind") {
    throw new Error(`${ENV.mode}=${JSON.stringify(value)} is not allowed; expected local or kind`);
  }
  return value;
}

export function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set; run the suite through \`npm run e2e:local\` or \`npm run e2e:kind\``,
    );
  }
  return value;
}

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CHART = fileURLToPath(new URL("../../charts/konsul-lb", import.meta.url));
export const VALUES = fileURLToPath(new URL("../values.yaml", import.meta.url));
export const BACKENDS = fileURLToPath(new URL("../../examples/backends.yaml", import.meta.url));
export const POLICIES = fileURLToPath(new URL("../../examples/policies", import.meta.url));

/** The release as the tests install it (the chart contract's names). */
export const RELEASE = "konsul-lb";
export const NAMESPACE = "konsul-lb";
export const FULLNAME = "konsul-lb";
/** The backends' namespace (examples/backends.yaml). */
export const SHOP = "shop";
export const LEASE_NAME = "konsul-lb-leader";
export const STATE_PREFIX = "konsul-lb-state";

/** e2e/values.yaml's leader election timings, in milliseconds. */
export const LEASE_MS = 4_000;
export const RENEW_MS = 3_000;
export const RETRY_MS = 1_000;
