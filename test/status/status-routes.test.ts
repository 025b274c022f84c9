import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Catalog } from "../../src/catalog/catalog.ts";
import { RECENT_PICKS, RecentPicks } from "../../src/status/recent-picks.ts";
import { endpointSpecs, manifestYaml, type ServiceSpec } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";

const services: ServiceSpec[] = [
  { namespace: "shop", name: "web", endpoints: endpointSpecs("web", 3) },
  { namespace: "shop", name: "empty", endpoints: [] },
];

let on: TestService;
let off: TestService;

beforeAll(async () => {
  on = await startTestService(manifestYaml(services), { statusPage: true });
  off = await startTestService(manifestYaml(services));
});
afterAll(async () => {
  await on.close();
  await off.close();
});

describe("the status page's routes", () => {
  it("answer RouteNotFound when the page is off", async () => {
    for (const path of ["/ui", "/ui/state.json", "/ui/services/shop/web/chart.svg"]) {
      const answer = await fetch(`${off.url}${path}`);
      expect(answer.status, path).toBe(404);
      const body: any = await answer.json();
      expect(body.error.code).toBe("RouteNotFound");
      expect(body.error.message).toContain("--status-page");
    }
  });

  it("serve a self-contained page whose policy allows only its own script and style", async () => {
    const answer = await fetch(`${on.url}/ui`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = answer.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'sha256-[^']+'(;|$)/);
    const html = await answer.text();
    // nothing loaded from elsewhere
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it("count the latest picks per endpoint, and the chart is the simulator's SVG", async () => {
    for (let i = 0; i < 6; i++) await fetch(`${on.url}/v1/services/shop/web/pick`);
    const state: any = await (await fetch(`${on.url}/ui/state.json`)).json();
    const web = state.services.find((s: { name: string }) => s.name === "web");
    expect(web.picks).toBe(6);
    expect(web.endpoints.map((e: { share: number }) => e.share)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(web.strategy).toBe("round-robin");
    expect(web.conditions).toEqual([]);
    const chart = await fetch(`${on.url}/ui/services/shop/web/chart.svg`);
    expect(chart.headers.get("content-type")).toBe("image/svg+xml; charset=utf-8");
    expect(await chart.text()).toMatch(/^<svg[\s\S]*round-robin[\s\S]*<\/svg>\n?$/);
    const missing = await fetch(`${on.url}/ui/services/shop/nope/chart.svg`);
    expect([missing.status, ((await missing.json()) as any).error.code]).toEqual([
      404,
      "ServiceNotFound",
    ]);
    const empty = await fetch(`${on.url}/ui/services/shop/empty/chart.svg`);
    expect([empty.status, ((await empty.json()) as any).error.code]).toEqual([503, "NoEndpoints"]);
  });
});

describe("RecentPicks", () => {
  it("keeps the latest RECENT_PICKS per service, of services in the catalog only", () => {
    const catalog = new Catalog();
    catalog.replaceAll([{ namespace: "a", name: "b", endpoints: [], policy: null }]);
    const picks = new RecentPicks(catalog);
    for (let i = 0; i < RECENT_PICKS; i++) picks.record("a", "b", "old");
    for (let i = 0; i < 10; i++) picks.record("a", "b", "new");
    picks.record("a", "unknown", "x");
    const counts = picks.counts("a", "b");
    expect(counts.picks).toBe(RECENT_PICKS);
    expect(counts.byIdentity.get("new")).toBe(10);
    expect(counts.byIdentity.get("old")).toBe(RECENT_PICKS - 10);
    expect(picks.counts("a", "unknown").picks).toBe(0);
    catalog.replaceAll([]);
    expect(picks.counts("a", "b").picks).toBe(0);
    picks.close();
  });
});
