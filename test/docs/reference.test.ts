/**
 * The reference parts of docs/ against the code they describe: the CRD field table against the
 * schema, condition reasons against the status writer, error codes, metrics, settings and Helm
 * values against their definitions, the source tree, every policy and config file shown, and the
 * quoted figures against docs/performance.md and the simulator. Each check compares both ways
 * where it can, so a field, reason or metric added to the code without its line in the docs
 * fails as well as a line describing something that is gone.
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { STRATEGY_NAMES } from "../../src/balancer/strategy.ts";
import { CONFIG_KEYS } from "../../src/config/config-file.ts";
import { HELP_TEXT, loadSettings } from "../../src/config/settings.ts";
import { API_ERROR_CODES } from "../../src/http/errors.ts";
import { loadBalancingPolicySpecSchema, type OpenApiSchema } from "../../src/policy/schema.ts";
import { validatePolicy } from "../../src/policy/validate.ts";
import { loadService } from "../../src/simulate/load.ts";
import { simulate } from "../../src/simulate/simulate.ts";
import { repoRoot } from "../support/cli.ts";
import { fencedBlocks, section } from "../support/markdown.ts";
import { DOCS } from "./examples.ts";

const read = (path: string) => readFileSync(join(repoRoot, path), "utf8");
const guide = read("docs/load-balancing.md");
const comparison = read("docs/load-balancing-strategy-comparison.md");
const architecture = read("docs/architecture.md");
const performance = read("docs/performance.md");

/** The rows of the Markdown table whose header row starts with `first`, as trimmed cells. */
function table(markdown: string, first: string): string[][] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => new RegExp(`^\\|\\s*${first}\\s*\\|`).test(line));
  if (start < 0) throw new Error(`no table whose first column is "${first}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

/** The `code` spans of a cell. */
function codes(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
}

// ---- the LoadBalancingPolicy ----

interface FieldNode {
  readonly path: string;
  readonly schema: OpenApiSchema;
}

/**
 * Every node of a schema by path, as the docs write them: `weights[]` for a list of objects,
 * `weights[].weight` inside it; maps and scalars are leaves.
 */
function fieldNodes(schema: OpenApiSchema, path = ""): FieldNode[] {
  const listOfObjects = schema.type === "array" && schema.items?.properties !== undefined;
  const own = listOfObjects ? `${path}[]` : path;
  const nodes: FieldNode[] = path === "" ? [] : [{ path: own, schema }];
  const children = listOfObjects ? schema.items?.properties : schema.properties;
  for (const [name, child] of Object.entries(children ?? {})) {
    nodes.push(...fieldNodes(child, own === "" ? name : `${own}.${name}`));
  }
  return nodes;
}

function isLeaf(schema: OpenApiSchema): boolean {
  return !schema.properties && !(schema.type === "array" && schema.items?.properties);
}

/**
 * Every leaf is a row, or its parent's row names it in code (`key`, `operator`, `values` of a
 * matchExpressions entry); every row is a field.
 */
function expectFieldTable(rows: string[][], nodes: readonly FieldNode[]): void {
  const byPath = new Map(nodes.map((node) => [node.path, node]));
  const documented = new Map(rows.map((row) => [codes(row[0] as string)[0] as string, row]));
  for (const path of documented.keys())
    expect(byPath.has(path), `${path} is not a field`).toBe(true);
  for (const node of nodes.filter((n) => isLeaf(n.schema))) {
    if (documented.has(node.path)) continue;
    const cut = node.path.lastIndexOf(".");
    const parent = documented.get(node.path.slice(0, cut));
    const name = node.path.slice(cut + 1);
    expect(parent && codes(parent.join(" ")).includes(name), `${node.path} is not documented`).toBe(
      true,
    );
  }
}

describe("docs/load-balancing.md: LoadBalancingPolicy", () => {
  const specRows = table(guide, "field");

  it("the field table has every field of the spec, and no other", () => {
    expectFieldTable(specRows, fieldNodes(loadBalancingPolicySpecSchema));
  });

  it("each field's default and range are the schema's", () => {
    const nodes = new Map(fieldNodes(loadBalancingPolicySpecSchema).map((n) => [n.path, n]));
    for (const [field, allowed] of specRows) {
      const path = codes(field as string)[0] as string;
      const schema = nodes.get(path)?.schema as OpenApiSchema;
      if (schema.default !== undefined) {
        expect(codes(allowed as string), path).toContain(String(schema.default));
      }
      if (schema.minimum !== undefined && schema.maximum !== undefined) {
        expect(allowed, path).toContain(`${schema.minimum}–${schema.maximum}`);
      }
    }
  });

  it("the status table has every field of the CRD's status, and no other", () => {
    const crd = parseYaml(read("crds/lb.konsul.io_loadbalancingpolicies.yaml"));
    const status = crd.spec.versions[0].schema.openAPIV3Schema.properties.status;
    const rows = table(guide, "status field");
    expect(rows.length).toBeGreaterThan(0);
    expectFieldTable(rows, fieldNodes({ properties: { status } } as OpenApiSchema));
  });

  it("the conditions table has exactly the conditions and reasons the status writer sets", () => {
    const source = read("src/kubernetes/policy-status.ts");
    const written = [
      ...source.matchAll(/type: "(\w+)",\s*status: "(\w+)",\s*reason: "(\w+)"/g),
    ].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    expect(written.length).toBeGreaterThan(5);
    const documented = table(guide, "condition").map((row) =>
      row
        .slice(0, 3)
        .map((cell) => codes(cell)[0])
        .join(" "),
    );
    expect(documented.sort()).toEqual([...new Set(written)].sort());
  });
});

describe("every policy and config file the docs show", () => {
  const yamlBlocks = DOCS.flatMap((doc) =>
    fencedBlocks(read(doc))
      .filter((block) => block.lang === "yaml")
      .map((block) => ({ doc, block })),
  );

  it("every LoadBalancingPolicy is valid, as the operator and the file source read it", () => {
    const policies = yamlBlocks.filter(({ block }) => /kind: LoadBalancingPolicy/.test(block.code));
    expect(policies.length).toBeGreaterThanOrEqual(11);
    for (const { doc, block } of policies) {
      const object = parseYaml(block.code);
      const result = validatePolicy(
        {
          name: object.metadata.name,
          namespace: object.metadata.namespace,
          creationTimestamp: null,
        },
        object.spec,
      );
      expect(result.ok ? [] : result.errors, `${doc}:${block.line}`).toEqual([]);
    }
  });

  it("one policy per strategy in the comparison's use cases", () => {
    const strategies = fencedBlocks(comparison)
      .filter((block) => block.lang === "yaml")
      .map((block) => parseYaml(block.code).spec.strategy);
    expect(new Set(strategies)).toEqual(new Set(STRATEGY_NAMES));
  });

  it("the config file loads as konsul-lb serve --config reads it", () => {
    const block = fencedBlocks(guide).find((b) => b.directives.includes("file config.yaml"));
    expect(block).toBeDefined();
    const result = loadSettings(
      ["--file", "examples/demo.yaml", "--config", "config.yaml"],
      {},
      () => block?.code ?? "",
    );
    expect(result.kind === "error" ? result.message : "").toBe("");
    if (result.kind !== "ok") return;
    expect(result.settings.defaultStrategy).toBe("least-request");
    expect(result.settings.virtualNodes).toBe(300);
  });
});

describe("docs/load-balancing.md: operator settings", () => {
  /** flag → [env, config key] as `konsul-lb serve --help` prints them. */
  function helpFlags(): Map<string, [string, string]> {
    const flags = new Map<string, [string, string]>();
    const lines = HELP_TEXT.split("\n");
    lines.forEach((line, i) => {
      const flag = /^ {2}(--[a-z-]+)\b/.exec(line)?.[1];
      if (!flag || flag === "--help") return;
      const meta = lines.slice(i + 1).find((l) => /^\s+env: /.test(l)) ?? "";
      const env = /env: (\S+)/.exec(meta)?.[1] ?? "";
      const config = /config: (\S+)/.exec(meta)?.[1] ?? "";
      flags.set(flag, [env, config]);
    });
    return flags;
  }

  it("the table has every flag of serve --help with its variable and config key", () => {
    const documented = new Map(
      table(guide, "flag").map((row) => [
        codes(row[0] as string)[0] as string,
        [codes(row[1] as string)[0] ?? "", codes(row[2] as string)[0] ?? ""],
      ]),
    );
    expect(documented).toEqual(helpFlags());
  });

  it("the config file keys are the ones it reads", () => {
    const keys = table(guide, "flag").flatMap((row) => codes(row[2] as string));
    // What only the file sets, the config example shows.
    const fileOnly = CONFIG_KEYS.filter((key) => !keys.includes(key));
    expect(fileOnly.sort()).toEqual(["healthFilter", "strategies"]);
    const example = fencedBlocks(guide).find((b) => b.directives.includes("file config.yaml"));
    for (const key of fileOnly) expect(example?.code).toMatch(new RegExp(`^${key}:`, "m"));
    for (const key of keys) expect(CONFIG_KEYS).toContain(key);
  });
});

describe("docs/load-balancing.md: errors and metrics", () => {
  it("the error table has every code of the discovery API", () => {
    const codesInApi: string[] = [...API_ERROR_CODES];
    // Internal is a defect of the server, not something a client can cause or fix.
    const documented = table(guide, "code").map((row) => codes(row[0] as string)[0]);
    expect(documented.sort()).toEqual(codesInApi.filter((code) => code !== "Internal").sort());
  });

  it("the metrics table has every metric the code registers, with its labels", () => {
    const registered = new Map<string, string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory()) walk(path);
        else if (path.endsWith(".ts")) {
          const source = read(path);
          for (const match of source.matchAll(/name: "(konsul_lb_\w+)"/g)) {
            const rest = source.slice(match.index);
            const until = rest.indexOf("registers");
            const labels = /labelNames: \[([^\]]*)\]/.exec(rest.slice(0, until))?.[1] ?? "";
            const names = [...labels.matchAll(/"(\w+)"/g)].map((m) => m[1]).join(",");
            registered.set(match[1] as string, names);
          }
        }
      }
    };
    walk("src");
    expect(registered.size).toBeGreaterThan(20);
    const documented = new Map(
      table(guide, "metric").map((row) => {
        const [, name, labels] =
          /^(\w+)(?:\{([\w,]+)\})?$/.exec(codes(row[0] as string)[0] ?? "") ?? [];
        return [name as string, labels ?? ""];
      }),
    );
    expect(documented).toEqual(registered);
  });
});

describe("docs/load-balancing.md: Helm values", () => {
  const chart = "charts/konsul-lb";

  it("every value of the table is in the chart's values.yaml", () => {
    expect(existsSync(join(repoRoot, chart, "values.yaml")), `${chart}/values.yaml`).toBe(true);
    const values = parseYaml(read(`${chart}/values.yaml`));
    const rows = table(guide, "value");
    expect(rows.length).toBeGreaterThan(15);
    for (const row of rows) {
      let base = "";
      const defaults = codes(row[1] as string);
      codes(row[0] as string).forEach((path, i) => {
        // `.interval` continues the path before it; `serviceAccount.*` is the whole map.
        const full = path.startsWith(".") ? `${base}${path}` : path.replace(/\.\*$/, "");
        base = full.slice(0, full.lastIndexOf("."));
        const value = full
          .split(".")
          .reduce<unknown>(
            (node, key) => (node as Record<string, unknown> | undefined)?.[key],
            values,
          );
        expect(value, `${full} in ${chart}/values.yaml`).not.toBeUndefined();
        // The default shown, position by position: `2`, `"false"` (a string), `{}`.
        const shown = defaults[i];
        if (shown !== undefined) {
          expect([String(value), JSON.stringify(value)], full).toContain(shown);
        }
      });
    }
  });

  it("the values file shown passes the chart's values.schema.json", () => {
    const block = fencedBlocks(guide).find((b) => b.directives.includes("file values.yaml"));
    expect(block).toBeDefined();
    const schema = JSON.parse(read(`${chart}/values.schema.json`));
    const ajv = new Ajv2020.default({ strict: false, allErrors: true });
    const validate = ajv.compile({ ...schema, $schema: undefined });
    validate(parseYaml(block?.code ?? ""));
    expect(validate.errors ?? []).toEqual([]);
  });
});

describe("the architecture", () => {
  it("the folder table has every folder of src/, and no other", () => {
    const folders = readdirSync(join(repoRoot, "src"), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `src/${entry.name}/`);
    const documented = table(architecture, "folder").map((row) => codes(row[0] as string)[0]);
    expect(documented.sort()).toEqual(folders.sort());
  });

  it("every path of src/ the docs name exists", () => {
    for (const doc of DOCS) {
      const text = read(doc);
      const paths = [...text.matchAll(/`(src\/[\w./-]+)`/g)].map((m) => m[1] as string);
      for (const path of paths)
        expect(existsSync(join(repoRoot, path)), `${doc}: ${path}`).toBe(true);
    }
  });
});

describe("every mermaid diagram keeps to what GitHub renders", () => {
  const diagrams = DOCS.flatMap((doc) =>
    fencedBlocks(read(doc))
      .filter((block) => block.lang === "mermaid")
      .map((block) => ({ doc, block })),
  );

  it("there are diagrams of the data flow, Kubernetes, HA and the decision tree", () => {
    expect(diagrams.length).toBeGreaterThanOrEqual(6);
  });

  it("flowcharts quote every label; sequence diagrams write plain messages", () => {
    for (const { doc, block } of diagrams) {
      const [kind, ...lines] = block.code.trimEnd().split("\n");
      const where = `${doc}:${block.line}`;
      if (kind?.startsWith("flowchart")) {
        expect(kind, where).toMatch(/^flowchart (TD|TB|LR|RL|BT)$/);
        for (const line of lines) {
          const bare = line.replaceAll(/"[^"]*"/g, '""');
          // A node or subgraph label (id[...], id{...}, id[(...)], id([...])) is "quoted".
          for (const match of bare.matchAll(/\b[A-Za-z]\w*([[({]+)/g)) {
            expect(bare.charAt((match.index ?? 0) + match[0].length), `${where}: ${line}`).toBe(
              '"',
            );
          }
          // Edge labels too: -->|"..."|.
          expect(bare, where).not.toMatch(/\|(?!")[^|]*\|/);
          // `end` closes a subgraph; as a node id it would close one too early.
          if (bare.trim() !== "end") expect(bare, where).not.toMatch(/(^|[\s>-])end\b/);
        }
      } else {
        expect(kind, where).toBe("sequenceDiagram");
        for (const line of lines) {
          const text = line.trim();
          expect(text, where).toMatch(
            /^(participant \w+ as .+|Note (over|left of|right of) [\w,]+: .+|\w+ ?(->>|-->>|->|-->|-x|--x) ?\w+: .+)$/,
          );
          // A semicolon ends a statement and # starts an entity code.
          expect(text, where).not.toMatch(/[;#]/);
        }
      }
    }
  });
});

// ---- quoted figures ----

/** The cells of a performance.md table row whose first cell is `first`. */
function performanceRow(
  heading: string,
  first: string,
  match: (row: string[]) => boolean = () => true,
) {
  const text = section(performance.replaceAll("### ", "## "), heading);
  if (!text) throw new Error(`performance.md has no section ${heading}`);
  const row = text
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) =>
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim()),
    )
    .find((cells) => cells[0] === first && match(cells));
  if (!row) throw new Error(`performance.md, ${heading}: no row ${first}`);
  return row;
}

describe("docs/load-balancing-strategy-comparison.md", () => {
  it("every table has a row per strategy, in order", () => {
    const tables = comparison.split(/\n\n/).filter((chunk) => chunk.startsWith("| strategy"));
    expect(tables).toHaveLength(3);
    for (const chunk of tables) {
      const names = chunk
        .split("\n")
        .slice(2)
        .map((line) => codes(line.split("|")[1] ?? "")[0]);
      expect(names).toEqual([...STRATEGY_NAMES]);
    }
  });

  it("pick, build and memory figures are performance.md's", () => {
    const chunk = comparison
      .split(/\n\n/)
      .find((c) => c.startsWith("| strategy") && c.includes("pick (median)"));
    const rows = (chunk ?? "")
      .split("\n")
      .slice(2)
      .map((line) =>
        line
          .slice(1, -1)
          .split("|")
          .map((c) => c.trim()),
      );
    expect(rows).toHaveLength(STRATEGY_NAMES.length);
    for (const [name, pick, build, memory] of rows) {
      const strategy = codes(name as string)[0] as string;
      const perPick = performanceRow("Time per pick", strategy);
      expect(perPick[2], strategy).toContain(`${pick} ·`);
      const hashTable = ["ring-hash", "maglev", "ip-hash"].includes(strategy);
      if (hashTable) {
        const tableRow = performanceRow(
          "Heap per service",
          strategy,
          (cells) => cells[1] === "weight 1" && cells[2] === "1,000",
        );
        expect(tableRow[4], strategy).toBe(memory);
        if (strategy === "ip-hash") {
          expect(build).toBe("as maglev");
        } else {
          const built = performanceRow(
            "Hash table build time",
            strategy,
            (cells) => cells[1] === "weight 1" && cells[2] === "1,000",
          );
          expect(built[5], strategy).toBe(build);
        }
      } else {
        expect(build).toBe("none");
        expect(performanceRow("Heap per service", strategy)[1], strategy).toBe(memory);
      }
    }
  });

  it("the keys moved on a removal are the simulator's", () => {
    const loaded = loadService("docs/figures/fleet.yaml", "fleet", "api", (path) => read(path));
    const report = simulate(loaded, {
      file: "docs/figures/fleet.yaml",
      requests: 1000,
      clients: 1000,
      keys: 5000,
      regions: [
        { region: "us-east", weight: 70 },
        { region: "eu-west", weight: 30 },
      ],
      strategies: ["ip-hash", "ring-hash", "maglev"],
      compare: true,
      seed: 1,
      hold: 100,
      subset: null,
    });
    const chunk = comparison
      .split(/\n\n/)
      .find((c) => c.startsWith("| strategy") && c.includes("when an endpoint leaves"));
    for (const strategy of report.strategies) {
      const moved = (strategy.hash?.meanMovedOverIdeal ?? 0).toFixed(2);
      expect(chunk, strategy.strategy).toMatch(
        new RegExp(`\`${strategy.strategy}\`\\s*\\|[^|]*moved: ${moved}× the ideal`),
      );
      if (strategy.strategy === "ring-hash") {
        expect(comparison).toContain(`${moved}× the ideal`);
        expect(guide).toContain(`keys moved ${moved}x the ideal`);
        expect(guide).toContain(`(${moved} times here)`);
      }
    }
  });
});

describe("docs/load-balancing.md: performance considerations", () => {
  it("every figure quoted is one docs/performance.md gives", () => {
    const text = section(guide, "Performance considerations") ?? "";
    const figures = [
      ...text.matchAll(
        /\b\d[\d,]*(?:\.\d+)?(?: (?:ns|ms|s|KiB|MiB|B)\b|×|x\b|(?= (?:requests|queries)\/s))/g,
      ),
    ].map((m) => m[0]);
    expect(figures.length).toBeGreaterThan(20);
    for (const figure of figures) {
      const plain = figure.replace("×", "x");
      const inPerformance = performance.replaceAll("×", "x");
      expect(inPerformance, figure).toContain(plain);
    }
  });

  it("each pick time is its strategy's at 1,000 endpoints", () => {
    const text = section(guide, "Performance considerations") ?? "";
    const picks = [...text.matchAll(/([\d.,]+) ns\s+\(([a-z-]+)\)/g)];
    expect(picks.map((m) => m[2]).sort()).toEqual(
      STRATEGY_NAMES.filter(
        (name) => name !== "weighted-random" && name !== "latency-based",
      ).sort(),
    );
    for (const [, value, strategy] of picks) {
      expect(performanceRow("Time per pick", strategy as string)[2], strategy).toMatch(
        new RegExp(`^${(value as string).replace(".", "\\.")} ns `),
      );
    }
  });
});

describe("links", () => {
  /** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
  function slug(heading: string): string {
    return heading
      .toLowerCase()
      .replaceAll(/[^\p{L}\p{N} _-]/gu, "")
      .replaceAll(" ", "-");
  }

  function anchors(markdown: string): Set<string> {
    const found = new Set<string>();
    let inFence = false;
    for (const line of markdown.split("\n")) {
      if (/^(```|~~~)/.test(line)) inFence = !inFence;
      const heading = inFence ? null : /^#{1,6}\s+(.*)$/.exec(line);
      if (heading) found.add(slug((heading[1] as string).replaceAll("`", "")));
    }
    return found;
  }

  it("every relative link of the docs reaches a file, and its anchor a heading", () => {
    let checked = 0;
    for (const doc of DOCS) {
      const text = read(doc);
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split("#");
        const file = path === "" ? doc : join(doc, "..", path as string);
        expect(existsSync(join(repoRoot, file)), `${doc}: ${target}`).toBe(true);
        if (anchor) expect(anchors(read(file)), `${doc}: ${target}`).toContain(anchor);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});
