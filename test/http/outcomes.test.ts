import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_OUTCOME_BATCH } from "../../src/http/outcome-batch.ts";
import { digShort } from "../dns/support.ts";
import { endpointSpecs, manifestYaml } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

let service: TestService;

beforeAll(async () => {
  service = await startTestService(
    manifestYaml([
      {
        namespace: "shop",
        name: "web",
        endpoints: endpointSpecs("web", 4),
        policy: {
          strategy: "round-robin",
          outlierDetection: {
            consecutiveFailures: 3,
            interval: "100ms",
            baseEjectionTime: "600ms",
            maxEjectionPercent: 50,
          },
        },
      },
      { namespace: "shop", name: "plain", endpoints: endpointSpecs("plain", 2) },
    ]),
    { dnsAddr: { host: "127.0.0.1", port: 0 } },
  );
});
afterAll(async () => {
  await service.close();
});

function report(path: string, body: unknown, query = ""): Promise<Response> {
  return fetch(`${service.url}${path}${query}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function errorOf(response: Response): Promise<[number, string, string]> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return [response.status, body.error.code, body.error.message];
}

async function endpointIdentities(name: string): Promise<string[]> {
  const answer = await fetch(`${service.url}/v1/services/shop/${name}/endpoints`);
  const body = (await answer.json()) as { endpoints: { identity: string }[] };
  return body.endpoints.map((e) => e.identity).sort();
}

const WEB = "/v1/services/shop/web/outcomes";
const failures = (endpoint: string, n: number) =>
  Array.from({ length: n }, () => ({ endpoint, result: "failure", latencyMs: 5 }));

describe("POST /v1/services/{namespace}/{name}/outcomes", () => {
  it("ejects an endpoint reported failing from HTTP and DNS answers, then returns it", async () => {
    expect(await endpointIdentities("web")).toEqual(["web-0", "web-1", "web-2", "web-3"]);
    // By address:port: web-1 is 10.1.0.1:8080.
    const answer = await report(WEB, failures("10.1.0.1:8080", 3), "?reporter=checkout");
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ accepted: 3, unknown: 0 });
    expect(await endpointIdentities("web")).toEqual(["web-0", "web-2", "web-3"]);
    const entry = service.catalog.get("shop", "web");
    expect(entry?.endpoints.find((e) => e.identity === "web-1")?.ejected).toBe(true);
    const dnsPort = service.dns?.port as number;
    const addresses = await digShort(dnsPort, ["web.shop.lb.konsul.local", "A"]);
    expect(addresses.sort()).toEqual(["10.1.0.0", "10.1.0.2", "10.1.0.3"]);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(
      /konsul_lb_outlier_ejections_total\{service="shop\/web",reason="consecutive-failures"\} 1/,
    );
    expect(metrics).toMatch(
      /konsul_lb_outcomes_reported_total\{reporter="checkout",result="failure"\} 3/,
    );
    // Back after the ejection time, at the next interval.
    const deadline = Date.now() + 5000;
    while ((await endpointIdentities("web")).length < 4 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await endpointIdentities("web")).toEqual(["web-0", "web-1", "web-2", "web-3"]);
    expect(await (await fetch(`${service.url}/metrics`)).text()).toMatch(
      /konsul_lb_outlier_returns_total\{service="shop\/web"\} 1/,
    );
  });

  it("counts reports of endpoints the service does not have, and ejects nothing without a policy asking", async () => {
    const answer = await report("/v1/services/shop/plain/outcomes", [
      ...failures("plain-0", 20),
      { endpoint: "gone-7", result: "timeout" },
    ]);
    expect(await answer.json()).toEqual({ accepted: 20, unknown: 1 });
    expect(await endpointIdentities("plain")).toEqual(["plain-0", "plain-1"]);
  });

  it("refuses a bad batch naming the field, the value and what is allowed", async () => {
    expect(await errorOf(await report(WEB, { endpoint: "web-0" }))).toEqual([
      400,
      "InvalidParameter",
      'body: "object" is not allowed; expected a JSON array of outcomes',
    ]);
    expect(await errorOf(await report(WEB, [{ endpoint: "web-0", result: "ok" }]))).toEqual([
      400,
      "InvalidParameter",
      'body[0].result: "ok" is not allowed; expected one of success, failure, timeout',
    ]);
    expect(
      await errorOf(await report(WEB, [{ endpoint: "web-0", result: "success", latencyMs: -1 }])),
    ).toEqual([
      400,
      "InvalidParameter",
      "body[0].latencyMs: -1 is not allowed; expected a number of milliseconds from 0 to 3600000",
    ]);
    const [, code, message] = await errorOf(
      await report(WEB, [{ endpoint: "web-0", result: "success", extra: 1 }]),
    );
    expect([code, message]).toEqual([
      "InvalidParameter",
      "body[0].extra: 1 is not allowed; expected no such field; the fields are endpoint, result, latencyMs",
    ]);
    expect((await errorOf(await report(WEB, "[{"))).slice(0, 2)).toEqual([400, "InvalidParameter"]);
    expect((await errorOf(await report(WEB, [], "?reporter=Not_A_Name"))).slice(0, 2)).toEqual([
      400,
      "InvalidParameter",
    ]);
    expect(
      (await errorOf(await report("/v1/services/shop/nope/outcomes", []))).slice(0, 2),
    ).toEqual([404, "ServiceNotFound"]);
  });

  it("caps the batch: more reports, or a larger body, is 413", async () => {
    const tooMany = Array.from({ length: MAX_OUTCOME_BATCH + 1 }, () => ({
      endpoint: "w",
      result: "success",
    }));
    const [status, code, message] = await errorOf(await report(WEB, tooMany));
    expect([status, code]).toEqual([413, "PayloadTooLarge"]);
    expect(message).toContain(`expected at most ${MAX_OUTCOME_BATCH} per request`);
    const huge = JSON.stringify([{ endpoint: "x".repeat(70_000), result: "success" }]);
    expect((await errorOf(await report(WEB, huge))).slice(0, 2)).toEqual([413, "PayloadTooLarge"]);
  });
});

describe("DELETE /v1/connections/{id} with outcome and latency", () => {
  it("reports the connection's outcome on its endpoint", async () => {
    const before = await (await fetch(`${service.url}/metrics`)).text();
    const count = (text: string) =>
      Number(
        /konsul_lb_outcomes_reported_total\{reporter="anonymous",result="timeout"\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    const opened = await fetch(`${service.url}/v1/services/shop/plain/connections`, {
      method: "POST",
    });
    const { id } = (await opened.json()) as { id: string };
    const released = await fetch(
      `${service.url}/v1/connections/${id}?outcome=timeout&latency=1.5s`,
      { method: "DELETE" },
    );
    expect(released.status).toBe(204);
    const after = await (await fetch(`${service.url}/metrics`)).text();
    expect(count(after)).toBe(count(before) + 1);
  });

  it("refuses a bad outcome or latency before releasing", async () => {
    const opened = await fetch(`${service.url}/v1/services/shop/plain/connections`, {
      method: "POST",
    });
    const { id } = (await opened.json()) as { id: string };
    expect(
      await errorOf(
        await fetch(`${service.url}/v1/connections/${id}?outcome=great`, { method: "DELETE" }),
      ),
    ).toEqual([
      400,
      "InvalidParameter",
      'outcome: "great" is not allowed; expected one of success, failure, timeout',
    ]);
    expect(
      (
        await errorOf(
          await fetch(`${service.url}/v1/connections/${id}?outcome=success&latency=soon`, {
            method: "DELETE",
          }),
        )
      ).slice(0, 2),
    ).toEqual([400, "InvalidParameter"]);
    // Still open: the refused releases released nothing.
    const ok = await fetch(`${service.url}/v1/connections/${id}?outcome=success&latency=20`, {
      method: "DELETE",
    });
    expect(ok.status).toBe(204);
  });
});
