import { describe, expectTypeOf, it } from "vitest";
import type { StrategyName as EngineStrategyName } from "../../src/balancer/index.ts";
import type {
  Endpoint,
  EndpointsAnswer,
  EndpointsOptions,
  ErrorCodeOf,
  OpenedConnection,
  PickAnswer,
  PickOptions,
  StrategyName,
} from "../../src/client/api.ts";
import type { EndpointJson } from "../../src/http/endpoint-json.ts";

// Checked by the compiler (npm run typecheck); the runs only mark them as present.
describe("the client's types come from the route table", () => {
  it("an endpoint is what the server writes", () => {
    expectTypeOf<Endpoint>().toEqualTypeOf<{
      address: string;
      port: number | null;
      ports: Record<string, number>;
      identity: string;
      zone: string | null;
      region: string | null;
      node: string | null;
      weight: number;
      healthy: boolean;
      ready: boolean;
      serving: boolean;
      terminating: boolean;
    }>();
    expectTypeOf<EndpointJson>().toExtend<Endpoint>();
  });

  it("answers have their documented fields", () => {
    expectTypeOf<PickAnswer["endpoint"]>().toEqualTypeOf<Endpoint>();
    expectTypeOf<PickAnswer["strategy"]>().toEqualTypeOf<StrategyName>();
    expectTypeOf<StrategyName>().toEqualTypeOf<EngineStrategyName>();
    expectTypeOf<PickAnswer["service"]>().toEqualTypeOf<{ namespace: string; name: string }>();
    expectTypeOf<EndpointsAnswer["endpoints"]>().toEqualTypeOf<Endpoint[]>();
    expectTypeOf<EndpointsAnswer["version"]>().toEqualTypeOf<number>();
    expectTypeOf<OpenedConnection["id"]>().toEqualTypeOf<string>();
  });

  it("options are the routes' query parameters, camel-cased", () => {
    expectTypeOf<PickOptions>().toEqualTypeOf<{
      lb?: StrategyName;
      limit?: number;
      clientIp?: string;
      sessionKey?: string;
      clientRegion?: string;
      clientZone?: string;
      clientNode?: string;
      healthFilter?: boolean;
      subset?: string;
    }>();
    expectTypeOf<EndpointsOptions>().toEqualTypeOf<PickOptions>();
  });

  it("each route names its own error codes", () => {
    expectTypeOf<ErrorCodeOf<"releaseConnection">>().toEqualTypeOf<
      "InvalidParameter" | "ConnectionNotFound"
    >();
    expectTypeOf<ErrorCodeOf<"pickEndpoint">>().toEqualTypeOf<
      | "InvalidParameter"
      | "UnknownStrategy"
      | "UnknownSubset"
      | "MissingSessionKey"
      | "ServiceNotFound"
      | "NoEndpoints"
    >();
  });
});
