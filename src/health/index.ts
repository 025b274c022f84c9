/** Active health checking of endpoints. Imports nothing from Kubernetes, HTTP frameworks or DNS. */
export { ConcurrencyLimiter } from "./limiter.ts";
export { isValidPort, type PortResolution, resolvePort } from "./port.ts";
export {
  DEFAULT_MAX_CONCURRENT,
  Prober,
  type ProberOptions,
} from "./prober.ts";
export {
  check,
  MAX_BODY_BYTES,
  probe,
  probeHttp,
  probeTcp,
  requestPath,
  USER_AGENT,
} from "./probes.ts";
export type { HealthCheckSpec, ProbeDestination, ProbeOutcome, ProbeTarget } from "./types.ts";
