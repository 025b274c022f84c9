/**
 * The status page: one self-contained HTML document (inline style and script, no external
 * asset, so it works offline and behind any firewall). The script reads /ui/state.json every
 * POLL_MS and draws it with DOM calls (text nodes only: nothing from the catalog is ever parsed
 * as HTML); the charts are images of /ui/services/{namespace}/{name}/chart.svg, so their SVG
 * cannot run anything either. A Content-Security-Policy allows exactly this page's own style
 * and script and same-origin requests.
 */
import { createHash } from "node:crypto";

export const POLL_MS = 2_000;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
#summary { color: #666; margin: 0 0 16px; }
section { border: 1px solid #ddd; border-radius: 6px; margin: 0 0 16px; padding: 12px 16px; }
h2 { font-size: 16px; margin: 0 0 6px; }
.meta { color: #444; margin: 0 0 8px; }
.ok { color: #1a7f37; } .bad { color: #c62828; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; font-variant-numeric: tabular-nums; }
th { color: #666; font-weight: 600; }
.bar { background: #4c78a8; display: inline-block; height: 10px; vertical-align: middle; margin-right: 6px; }
ul.conditions { list-style: none; margin: 0; padding: 0; }
img.chart { max-width: 100%; height: auto; }
#error { color: #c62828; }
`;

const SCRIPT = `
"use strict";
const POLL_MS = ${POLL_MS};
let shown = "";

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

// Through the CSSOM: the page's policy allows no style attributes.
function bar(width) {
  const node = el("span", { class: "bar" });
  node.style.width = width + "px";
  return node;
}

function percent(share) {
  return share === null ? "–" : (share * 100).toFixed(1) + "%";
}

function serviceSection(service) {
  const id = service.namespace + "/" + service.name;
  const section = el("section", { "data-service": id });
  section.append(el("h2", {}, id));
  const health = el("span", { class: service.healthy > 0 ? "ok" : "bad" },
    service.healthy + "/" + service.total + " healthy");
  section.append(el("p", { class: "meta" },
    "strategy ", el("strong", {}, service.strategy),
    " · policy ", service.policy === null ? "none (server defaults)" : service.policy,
    " · ", health, " · version " + service.version));
  if (service.conditions.length > 0) {
    const list = el("ul", { class: "conditions" });
    for (const c of service.conditions) {
      list.append(el("li", {}, el("span", { class: c.status === "True" ? "ok" : "bad" },
        c.type + "=" + c.status), " " + c.reason + ": " + c.message));
    }
    section.append(list);
  }
  const table = el("table", {});
  table.append(el("tr", {}, ...["endpoint", "address", "weight", "zone", "health",
    "share of the last " + service.picks + " picks"].map((h) => el("th", {}, h))));
  for (const e of service.endpoints) {
    const width = e.share === null ? 0 : Math.round(e.share * 200);
    table.append(el("tr", { "data-endpoint": e.identity },
      el("td", {}, e.identity),
      el("td", {}, e.port === null ? e.address : e.address + ":" + e.port),
      el("td", {}, e.weight),
      el("td", {}, e.zone === null ? "–" : e.zone),
      el("td", { class: e.healthy ? "ok" : "bad" }, e.healthy ? "healthy" : "unhealthy"),
      el("td", {}, bar(width), percent(e.share))));
  }
  section.append(table);
  if (service.chart) {
    const path = "/ui/services/" + encodeURIComponent(service.namespace) + "/" +
      encodeURIComponent(service.name) + "/chart.svg?version=" + service.version;
    section.append(el("img", { class: "chart", src: path, loading: "lazy",
      alt: "simulated shares of " + id + " under its policy" }));
  }
  return section;
}

function draw(state) {
  const services = document.getElementById("services");
  services.replaceChildren(...state.services.map(serviceSection));
  document.getElementById("summary").textContent = state.services.length +
    " services · catalog index " + state.index + " · updated " + new Date().toLocaleTimeString();
}

async function poll() {
  try {
    const response = await fetch("/ui/state.json", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const text = await response.text();
    if (text !== shown) {
      shown = text;
      draw(JSON.parse(text));
    }
    document.getElementById("error").textContent = "";
  } catch (error) {
    document.getElementById("error").textContent = "cannot reach the server: " + error.message;
  }
  setTimeout(poll, POLL_MS);
}

poll();
`;

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
}

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>konsul-lb status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<h1>konsul-lb status</h1>
<p id="summary">loading…</p>
<p id="error"></p>
<noscript>This page draws the catalog with JavaScript; GET /v1/services has the same facts.</noscript>
<main id="services"></main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** Only this page's own style and script run; requests go nowhere but this server. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
