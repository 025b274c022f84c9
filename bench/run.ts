/**
 * `npm run bench`: runs every benchmark part and writes each one's marked section of
 * docs/performance.md (see report.ts); a part's section is left alone when it does not run.
 *
 *   npm run bench                      full run, rewrites the generated sections
 *   npm run bench -- --quick           short smoke run; prints figures, leaves the document alone
 *   npm run bench -- --quick --write   short run that still writes the document
 *   npm run bench -- --only=engine     run only the named parts (comma-separated)
 *   npm run bench -- --only=scale      the Kubernetes path at scale (minutes; see scale.ts)
 *   npm run bench -- --only=standalone 100,000 endpoints from a manifest file (see standalone.ts)
 *   npm run bench -- --only=isolation  answers while another service churns (see isolation.ts)
 *   npm run bench -- --only=flip       CPU per readiness flip of a big service (see flip.ts)
 */
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { blockingSettings, renderBlocking, runBlocking } from "./blocking.ts";
import { dnsSettings, renderDns, runDns } from "./dns.ts";
import { engineSettings, renderEngine, runEngine } from "./engine.ts";
import { flipSettings, renderFlip, runFlip } from "./flip.ts";
import { httpSettings, renderHttp, runHttp } from "./http.ts";
import { isolationSettings, renderIsolation, runIsolation } from "./isolation.ts";
import { localitySettings, renderLocality, runLocality } from "./locality.ts";
import { type Environment, writeSection } from "./report.ts";
import { renderScale, runScale, scaleSettings } from "./scale.ts";
import { renderStandalone, runStandalone, standaloneSettings } from "./standalone.ts";
import { renderXds, runXds, xdsSettings } from "./xds.ts";

/** One benchmark part: runs, then returns the markdown of its section (named like the part). */
interface Part {
  readonly name: string;
  /** Runs only when named by --only. */
  readonly explicitOnly?: boolean;
  run(options: { quick: boolean; environment: Environment }): Promise<string>;
}

const PARTS: readonly Part[] = [
  {
    name: "engine",
    run: async ({ quick, environment }) =>
      renderEngine(await runEngine(engineSettings(quick), environment)),
  },
  {
    name: "http",
    run: async ({ quick, environment }) =>
      renderHttp(await runHttp(httpSettings(quick), environment)),
  },
  {
    name: "dns",
    run: async ({ quick, environment }) =>
      renderDns(await runDns(dnsSettings(quick, process.argv.slice(2)), environment)),
  },
  {
    name: "blocking",
    run: async ({ quick, environment }) =>
      renderBlocking(await runBlocking(blockingSettings(quick), environment)),
  },
  {
    name: "locality",
    run: async ({ quick, environment }) =>
      renderLocality(await runLocality(localitySettings(quick), environment)),
  },
  {
    name: "xds",
    run: async ({ quick, environment }) => renderXds(await runXds(xdsSettings(quick), environment)),
  },
  {
    // Minutes long, with a control plane of its own: run it with --only=scale.
    name: "scale",
    explicitOnly: true,
    run: async ({ quick, environment }) =>
      renderScale(await runScale(scaleSettings(quick, process.argv.slice(2)), environment)),
  },
  {
    // A minute or more per operator build: run it with --only=standalone.
    name: "standalone",
    explicitOnly: true,
    run: async ({ quick, environment }) =>
      renderStandalone(
        await runStandalone(standaloneSettings(quick, process.argv.slice(2)), environment),
      ),
  },
  {
    // Servers of its own, builds compared side by side: run it with --only=flip.
    name: "flip",
    explicitOnly: true,
    run: async ({ quick, environment }) =>
      renderFlip(await runFlip(flipSettings(quick, process.argv.slice(2)), environment)),
  },
  {
    // Servers of its own, builds compared side by side: run it with --only=isolation.
    name: "isolation",
    explicitOnly: true,
    run: async ({ quick, environment }) =>
      renderIsolation(
        await runIsolation(isolationSettings(quick, process.argv.slice(2)), environment),
      ),
  },
];

// The heap figures need a garbage collector the benchmark can call: re-run with it exposed.
if (typeof globalThis.gc !== "function") {
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, "--expose-gc", fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: "inherit" },
  );
  process.exit(child.status ?? 1);
}

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const write = !quick || args.includes("--write");
const only = args
  .find((arg) => arg.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",");
const unknown = only?.filter((name) => !PARTS.some((part) => part.name === name)) ?? [];
if (unknown.length > 0) {
  console.error(
    `unknown benchmark part ${unknown.join(", ")}; the parts are ${PARTS.map((p) => p.name).join(", ")}`,
  );
  process.exit(2);
}
const documentPath = fileURLToPath(new URL("../docs/performance.md", import.meta.url));

/** The checked-out commit, and whether the measured code differs from it. */
function revision(): string | null {
  const git = (...gitArgs: string[]) =>
    spawnSync("git", gitArgs, {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      encoding: "utf8",
    });
  const head = git("rev-parse", "--short", "HEAD");
  if (head.status !== 0) return null;
  const dirty = git("status", "--porcelain", "--", "src").stdout.trim() !== "";
  return `${head.stdout.trim()}${dirty ? " + uncommitted changes in src/" : ""}`;
}

const environment: Environment = {
  date: new Date().toISOString(),
  node: process.versions.node,
  cpu: cpus()[0]?.model.trim() ?? "unknown CPU",
  cores: cpus().length,
  revision: revision(),
};
console.log(
  `konsul-lb benchmark${quick ? " (quick)" : ""}: Node ${environment.node}, ${environment.cpu}, ${environment.cores} cores, commit ${environment.revision ?? "unknown"}`,
);

for (const part of PARTS) {
  if (only ? !only.includes(part.name) : part.explicitOnly) continue;
  console.log(`\n== ${part.name}`);
  const section = await part.run({ quick, environment });
  console.log(`\n${section}\n`);
  if (write) {
    writeSection(documentPath, part.name, section);
    console.log(`Wrote the ${part.name} section of ${documentPath}`);
  } else {
    console.log(
      `Quick run: the ${part.name} section of docs/performance.md is left as it is (pass --write to update it).`,
    );
  }
}
