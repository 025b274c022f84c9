/** konsul-lb/client: the discovery API for Node services. */
export type {
  ConnectionOptions,
  Endpoint,
  EndpointsAnswer,
  EndpointsOptions,
  OpenedConnection,
  PickAnswer,
  PickOptions,
  ServiceSummary,
  StrategyName,
} from "./api.ts";
export {
  type Client,
  type ClientOptions,
  type ConnectionHandle,
  type ConnectionOutcome,
  createClient,
  DEFAULT_RETRIES,
  DEFAULT_TIMEOUT_MS,
  type ServiceClient,
} from "./client.ts";
export * from "./errors.ts";
