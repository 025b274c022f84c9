/**
 * The status page in a real browser (headless Chromium over the DevTools protocol), against the
 * real server serving the demo's manifests: it loads with no console error, shows the demo's
 * services, and redraws when the manifest file changes.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser } from "../support/chromium.ts";
import { repoRoot } from "../support/cli.ts";
import { startTestService, type TestService } from "../support/service.ts";

let demo: string;
let server: TestService;
let browser: Browser;

beforeAll(async () => {
  demo = await readFile(join(repoRoot, "examples/demo.yaml"), "utf8");
  server = await startTestService(demo, { statusPage: true });
  browser = await Browser.launch();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** The services the page shows, with the text of their sections. */
const SECTIONS = `[...document.querySelectorAll("section[data-service]")].map((s) => [s.dataset.service, s.innerText])`;

describe("GET /ui in headless Chromium", () => {
  it("shows every service of the demo with its strategy, policy, conditions and endpoints, with no console error", async () => {
    // picks before the page opens, so the shares have something to show
    for (let i = 0; i < 10; i++) await fetch(`${server.url}/v1/services/shop/catalog/pick`);
    await browser.goto(`${server.url}/ui`);
    const sections = await browser.waitFor<[string, string][]>(
      `(${SECTIONS}).length === 4 && ${SECTIONS}`,
    );
    expect(sections.map(([service]) => service)).toEqual([
      "payments/payments",
      "shop/cart",
      "shop/catalog",
      "shop/checkout",
    ]);
    const text = Object.fromEntries(sections);
    expect(text["shop/checkout"]).toContain("ring-hash");
    expect(text["shop/checkout"]).toContain("checkout-sticky");
    expect(text["shop/checkout"]).toContain("2/3 healthy");
    expect(text["shop/checkout"]).toContain("Ready=True");
    expect(text["shop/checkout"]).toContain("unhealthy");
    expect(text["shop/cart"]).toContain("none (server defaults)");
    expect(text["shop/catalog"]).toContain("share of the last 10 picks");
    expect(text["shop/catalog"]).toMatch(/\b50\.0%/);
    // every chart is a loaded image (an SVG of the simulator) and nothing failed to load
    const charts = await browser.waitFor<number[]>(
      `(() => { const imgs = [...document.querySelectorAll("img.chart")];
         return imgs.length === 4 && imgs.every((i) => i.complete && i.naturalWidth > 0) && imgs.map((i) => i.naturalWidth); })()`,
    );
    expect(charts.every((width) => width > 500)).toBe(true);
    expect(browser.problems()).toEqual([]);
  });

  it("redraws when the manifest file changes", async () => {
    await server.write(demo.replaceAll("catalog-canary", "catalog-weights"));
    const catalog = await browser.waitFor<string>(
      `(() => { const s = document.querySelector('section[data-service="shop/catalog"]');
         return s && s.innerText.includes("catalog-weights") && s.innerText; })()`,
    );
    expect(catalog).not.toContain("catalog-canary");
    // the demo without shop/cart: from its banner comment to the next one
    const bannerOf = (title: string) => demo.lastIndexOf("\n", demo.indexOf(`- ${title}`));
    const from = bannerOf("shop/cart (no policy)");
    const to = bannerOf("payments/payments");
    expect(from).toBeGreaterThan(0);
    expect(to).toBeGreaterThan(from);
    const removed = demo.slice(0, from) + demo.slice(to);
    expect(removed).not.toBe(demo);
    await server.write(removed);
    await browser.waitFor<boolean>(`(${SECTIONS}).length === 3`);
    expect(browser.problems()).toEqual([]);
  });
});
