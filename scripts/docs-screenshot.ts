// `npm run docs:screenshot`: the status page (GET /ui) of the demo as headless Chromium draws
// it, after some picks so the shares show, written to docs/figures/status-page.png for the
// guide. Needs Debian's chromium (.ci/run installs it).

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Browser } from "../test/support/chromium.ts";
import { repoRoot } from "../test/support/cli.ts";
import { startTestService } from "../test/support/service.ts";

export const SCREENSHOT = "docs/figures/status-page.png";

/** Picks the screenshot shows the shares of: a few per service, the same every run. */
const PICKS = [
  ...Array.from({ length: 12 }, (_, i) => `shop/checkout/pick?session-key=user-${i}`),
  ...Array.from({ length: 12 }, () => "shop/catalog/pick"),
  ...Array.from({ length: 6 }, () => "shop/cart/pick"),
  ...Array.from({ length: 6 }, (_, i) =>
    i % 3 ? "payments/payments/pick?client-region=eu-west" : "payments/payments/pick",
  ),
];

const server = await startTestService(
  await readFile(join(repoRoot, "examples/demo.yaml"), "utf8"),
  {
    statusPage: true,
  },
);
const browser = await Browser.launch(1000, 800);
try {
  for (const pick of PICKS) await fetch(`${server.url}/v1/services/${pick}`);
  await browser.goto(`${server.url}/ui`);
  await browser.waitFor(
    `(() => { const imgs = [...document.querySelectorAll("img.chart")];
       return imgs.length === 4 && imgs.every((i) => i.complete && i.naturalWidth > 0); })()`,
  );
  const problems = browser.problems();
  if (problems.length > 0)
    throw new Error(`the page reported problems: ${JSON.stringify(problems)}`);
  await writeFile(join(repoRoot, SCREENSHOT), await browser.screenshot());
  process.stdout.write(`wrote ${SCREENSHOT}\n`);
} finally {
  await browser.close();
  await server.close();
}
