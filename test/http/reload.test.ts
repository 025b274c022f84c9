import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointSpecs, manifestYaml } from "../support/manifests.ts";
import { eventually, startTestService, type TestService } from "../support/service.ts";

const initial = manifestYaml([
  { namespace: "shop", name: "web", endpoints: endpointSpecs("web", 2) },
]);

let service: TestService;
beforeAll(async () => {
  service = await startTestService(initial);
});
afterAll(() => service.close());

async function endpointsOf(name: string) {
  const response = await fetch(`${service.url}/v1/services/shop/${name}/endpoints`);
  return {
    status: response.status,
    body: (await response.json()) as { version: number; endpoints: unknown[] },
  };
}

describe("file reload through the running server", () => {
  it("serves a change to the file within two seconds", async () => {
    const before = await endpointsOf("web");
    expect(before.body.endpoints).toHaveLength(2);
    await service.write(
      manifestYaml([{ namespace: "shop", name: "web", endpoints: endpointSpecs("web", 3) }]),
    );
    await eventually(async () => {
      const after = await endpointsOf("web");
      expect(after.body.endpoints).toHaveLength(3);
      expect(after.body.version).toBeGreaterThan(before.body.version);
    }, 2000);
  });

  it("keeps the last good catalog when the file breaks, and recovers when it is fixed", async () => {
    await service.write("kind: Service\nmetadata: {name: [unclosed\n");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await endpointsOf("web")).body.endpoints).toHaveLength(3);
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    await service.write(
      manifestYaml([
        { namespace: "shop", name: "web", endpoints: endpointSpecs("web", 1) },
        { namespace: "shop", name: "api", endpoints: endpointSpecs("api", 2) },
      ]),
    );
    await eventually(async () => {
      expect((await endpointsOf("web")).body.endpoints).toHaveLength(1);
      expect((await endpointsOf("api")).status).toBe(200);
    }, 2000);
  });

  it("a removed service answers 404", async () => {
    await service.write(
      manifestYaml([{ namespace: "shop", name: "api", endpoints: endpointSpecs("api", 2) }]),
    );
    await eventually(async () => {
      expect((await endpointsOf("web")).status).toBe(404);
    }, 2000);
  });
});
