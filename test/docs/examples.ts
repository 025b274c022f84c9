/**
 * The documented examples of docs/: which shell blocks run where, how they run, and how their
 * shown output is compared with the real one. Shared by test/docs/examples.test.ts (which fails
 * when a shown output is stale), test/cluster/docs.test.ts (the blocks that need a cluster) and
 * `npm run docs:examples` (which rewrites stale output blocks with the real output).
 *
 * The conventions, which the docs follow:
 *
 * - An `sh` block is a command example. The block right after it (only blank lines between), when
 *   it is `json` or `text`, is its output: what the commands print on standard output.
 * - `<!-- docs: ... -->` comments just before a block are directives:
 *   `cluster-only` — needs a Kubernetes cluster: run by the cluster suite, not against the demo;
 *   `varies NAME, ...` — the named fields of the output change from run to run (a connection's
 *     `id`, its `expiresAt`, a random pick's `endpoint`, the `AGE` column of kubectl): compared
 *     after replacing their values on both sides, and nothing else is;
 *   `file NAME` — on a block that is not a command: written to NAME in the working directory
 *     before the next command runs (a config file, a values file).
 * - A block whose every line is an `npm` command (`npm run docs:figures`) is not run: the test
 *   checks that package.json defines the script.
 * - Every other `sh` block runs against the demo as `npm start` serves it (HTTP on localhost:8080,
 *   DNS on 127.0.0.1:5353), in document order, one fresh server per document, so rotations,
 *   counters and versions are the same on every run. Ports are rewritten to the test server's;
 *   `konsul-lb` is the CLI of this checkout; commands run in a scratch directory where
 *   `examples/` and `docs/` are the repository's.
 */

import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deepEqual } from "../../src/balancer/index.ts";
import { cliPath, repoRoot, type ServingCli, serveCli } from "../support/cli.ts";
import { type FencedBlock, fencedBlocks } from "../support/markdown.ts";
import { runProcess } from "../support/process.ts";

/** The documents whose examples are kept true. */
export const DOCS = [
  "docs/load-balancing.md",
  "docs/load-balancing-strategy-comparison.md",
  "docs/architecture.md",
] as const;

export type ExampleKind = "demo" | "cluster" | "npm";

export interface ShownOutput {
  readonly lang: "json" | "text";
  readonly text: string;
  readonly block: FencedBlock;
}

export interface Example {
  readonly doc: string;
  readonly kind: ExampleKind;
  readonly block: FencedBlock;
  readonly command: string;
  readonly output: ShownOutput | null;
  /** Field names (JSON keys, or column headers of a text table) whose values vary. */
  readonly varies: readonly string[];
  /** Files to write into the working directory before the command runs. */
  readonly files: readonly { readonly name: string; readonly content: string }[];
}

/** "docs/x.md:42 curl -s localhost:8080/v1/services": how a test names an example. */
export function exampleTitle(example: Example): string {
  const first = example.command.split("\n").find((line) => line.trim() && !line.startsWith("#"));
  return `${example.doc}:${example.block.line} ${first ?? ""}`.trim();
}

function directive(block: FencedBlock, name: string): string | undefined {
  for (const text of block.directives) {
    if (text === name) return "";
    if (text.startsWith(`${name} `)) return text.slice(name.length + 1).trim();
  }
  return undefined;
}

const KNOWN_DIRECTIVES = ["cluster-only", "varies", "file"];

/** The examples of one document, in order; a misuse of the conventions is an error. */
export function examplesOf(doc: string, markdown: string): Example[] {
  const blocks = fencedBlocks(markdown);
  const examples: Example[] = [];
  let files: { name: string; content: string }[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i] as FencedBlock;
    for (const text of block.directives) {
      const name = text.split(" ")[0] as string;
      if (!KNOWN_DIRECTIVES.includes(name)) {
        throw new Error(`${doc}:${block.line}: unknown directive <!-- docs: ${text} -->`);
      }
    }
    const fileName = directive(block, "file");
    if (fileName !== undefined) {
      if (!/^[\w.-]+$/.test(fileName)) throw new Error(`${doc}:${block.line}: bad file name`);
      files.push({ name: fileName, content: block.code });
      continue;
    }
    if (block.lang !== "sh") continue;
    const next = blocks[i + 1];
    const between =
      next === undefined
        ? ""
        : markdown
            .split("\n")
            .slice(block.endLine, next.line - 1)
            .join("");
    let output: ShownOutput | null = null;
    if (next && between.trim() === "" && (next.lang === "json" || next.lang === "text")) {
      output = { lang: next.lang, text: next.code, block: next };
      i++;
    }
    const lines = block.code.split("\n").filter((line) => line.trim() && !line.startsWith("#"));
    const npmOnly = lines.length > 0 && lines.every((line) => /^npm( |$)/.test(line));
    const clusterOnly = directive(block, "cluster-only") !== undefined;
    const varies = (directive(block, "varies") ?? "")
      .split(",")
      .map((name) => name.trim())
      .filter((name) => name !== "");
    examples.push({
      doc,
      kind: clusterOnly ? "cluster" : npmOnly ? "npm" : "demo",
      block,
      command: block.code,
      output,
      varies,
      files,
    });
    files = [];
  }
  if (files.length > 0) throw new Error(`${doc}: a file block is not followed by a command`);
  return examples;
}

/** Reads a document of the repository and returns its examples. */
export function loadExamples(doc: string): Example[] {
  return examplesOf(doc, readFileSync(join(repoRoot, doc), "utf8"));
}

// ---- comparing outputs ----

const VARIES = "<varies>";

function replaceKeys(value: unknown, names: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((item) => replaceKeys(item, names));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        names.has(key) ? VARIES : replaceKeys(item, names),
      ]),
    );
  }
  return value;
}

function textLines(text: string): string[] {
  const lines = text.split("\n").map((line) => line.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * Replaces the cells of column `name` of a table whose first line holds the headers, as kubectl
 * prints it: a cell runs from its header's start to the next header's start.
 */
function replaceColumn(lines: string[], name: string): string[] {
  const header = lines[0] ?? "";
  const match = new RegExp(`(^|\\s)(${name})(\\s|$)`).exec(header);
  if (!match) return lines;
  const start = match.index + (match[1] as string).length;
  const rest = header.slice(start + name.length);
  const next = /\S/.exec(rest);
  const end = next ? start + name.length + next.index : Number.POSITIVE_INFINITY;
  return lines.map((line, i) =>
    i === 0 ? line : `${line.slice(0, start)}${VARIES}${line.slice(end)}`.trimEnd(),
  );
}

/** `"name":"..."` or `"name": value` inside text, as JSON printed on one line. */
function replaceJsonKeyInText(lines: string[], name: string): string[] {
  const pattern = new RegExp(`("${name}"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|[^,}\\]\\s]+)`, "g");
  return lines.map((line) => line.replace(pattern, `$1"${VARIES}"`));
}

/** The output in the form compared: parsed JSON, or lines of text; varying fields replaced. */
export function normalise(lang: "json" | "text", text: string, varies: readonly string[]): unknown {
  if (lang === "json") {
    return replaceKeys(JSON.parse(text), new Set(varies));
  }
  let lines = textLines(text);
  for (const name of varies) {
    lines = /^[A-Z][A-Z-]*$/.test(name)
      ? replaceColumn(lines, name)
      : replaceJsonKeyInText(lines, name);
  }
  return lines;
}

export interface Comparison {
  readonly equal: boolean;
  readonly shown: unknown;
  readonly actual: unknown;
}

/** Either side may fail to parse as JSON: it is then compared as its text, and differs. */
function normaliseOrText(lang: "json" | "text", text: string, varies: readonly string[]): unknown {
  try {
    return normalise(lang, text, varies);
  } catch (error) {
    return `not JSON (${(error as Error).message}): ${text}`;
  }
}

export function compareOutput(
  output: ShownOutput,
  actual: string,
  varies: readonly string[],
): Comparison {
  const shown = normaliseOrText(output.lang, output.text, varies);
  const got = normaliseOrText(output.lang, actual, varies);
  return { equal: deepEqual(shown, got), shown, actual: got };
}

// ---- running ----

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A free TCP port on loopback, for examples that start a server of their own. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export interface Ports {
  /** The demo's HTTP port (localhost:8080 in the docs). */
  readonly http: number;
  /** The demo's DNS port (5353 in the docs). */
  readonly dns: number;
  /** A second server an example starts itself (9090 in the docs). */
  readonly spare: number;
}

/** The command as it runs here: the docs' ports replaced by the test's. */
export function withPorts(command: string, ports: Ports): string {
  return command
    .replaceAll(/\b(?:localhost|127\.0\.0\.1):8080\b/g, `127.0.0.1:${ports.http}`)
    .replaceAll(/\b(?:localhost|127\.0\.0\.1):9090\b/g, `127.0.0.1:${ports.spare}`)
    .replaceAll(/\b127\.0\.0\.1:5353\b/g, `127.0.0.1:${ports.dns}`)
    .replaceAll(/-p 5353\b/g, `-p ${ports.dns}`);
}

/** The output as the docs show it: the test's ports back to the docs'. */
export function withDocPorts(output: string, ports: Ports): string {
  return output
    .replaceAll(`127.0.0.1:${ports.http}`, "localhost:8080")
    .replaceAll(`127.0.0.1:${ports.spare}`, "localhost:9090")
    .replaceAll(`127.0.0.1:${ports.dns}`, "127.0.0.1:5353");
}

/**
 * A scratch directory to run examples in: `examples/`, `docs/`, `crds/` and `charts/` link to the
 * repository's, and `bin/konsul-lb` runs this checkout's CLI with the Node running the tests.
 */
export class Workspace {
  readonly dir: string;
  readonly bin: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.bin = join(dir, ".bin");
  }

  static async create(): Promise<Workspace> {
    const workspace = new Workspace(mkdtempSync(join(tmpdir(), "konsul-lb-docs-")));
    for (const name of ["examples", "docs", "crds", "charts"]) {
      symlinkSync(join(repoRoot, name), join(workspace.dir, name));
    }
    await mkdir(workspace.bin);
    const wrapper = join(workspace.bin, "konsul-lb");
    await writeFile(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${cliPath}" "$@"\n`);
    await chmod(wrapper, 0o755);
    return workspace;
  }

  async writeFiles(files: Example["files"]): Promise<void> {
    for (const file of files) await writeFile(join(this.dir, file.name), file.content);
  }

  /**
   * Runs a block with bash -eu (no pipefail: `curl … | head` ends curl early by design, as in a
   * reader's shell). Background jobs the block leaves behind are killed when it ends.
   */
  async run(
    script: string,
    env: Record<string, string> = {},
    timeoutMs = 60_000,
  ): Promise<RunResult> {
    const wrapped = `trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n${script}`;
    const result = await runProcess("bash", ["-eu", "-c", wrapped], {
      cwd: this.dir,
      env: { ...env, PATH: `${this.bin}:${env.PATH ?? process.env.PATH ?? ""}` },
      timeoutMs,
    });
    if (result.timedOut) {
      throw new Error(
        `timed out after ${timeoutMs} ms:\n${script}\n${result.stdout}\n${result.stderr}`,
      );
    }
    return result;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * How long one demo example may run. Some are simulations over hundreds of thousands of keys
 * (about 20 s of CPU each); with the suite's other worker on the same cores they need more
 * than a minute.
 */
export const EXAMPLE_TIMEOUT_MS = 180_000;

/** The demo as `npm start` serves it, for the examples of one document. */
export class DemoRunner {
  readonly ports: Ports;
  private readonly server: ServingCli;
  private readonly workspace: Workspace;

  private constructor(server: ServingCli, ports: Ports, workspace: Workspace) {
    this.server = server;
    this.ports = ports;
    this.workspace = workspace;
  }

  static async start(): Promise<DemoRunner> {
    const server = await serveCli(["--file", "examples/demo.yaml", "--dns-addr", "127.0.0.1:0"]);
    const http = Number(new URL(server.url).port);
    const dns = Number(/DNS on 127\.0\.0\.1:(\d+)/.exec(server.output())?.[1]);
    if (!dns) throw new Error(`no DNS port in the server's log:\n${server.output()}`);
    const ports = { http, dns, spare: await freePort() };
    return new DemoRunner(server, ports, await Workspace.create());
  }

  async run(example: Example): Promise<RunResult> {
    await this.workspace.writeFiles(example.files);
    const result = await this.workspace.run(
      withPorts(example.command, this.ports),
      {},
      EXAMPLE_TIMEOUT_MS,
    );
    return { ...result, stdout: withDocPorts(result.stdout, this.ports) };
  }

  async stop(): Promise<void> {
    this.server.child.kill("SIGTERM");
    await this.server.exited;
    this.workspace.remove();
  }
}

/** The npm scripts an `npm`-only block uses, each of which package.json must define. */
export function npmScripts(command: string): string[] {
  return command
    .split("\n")
    .filter((line) => /^npm( |$)/.test(line))
    .map((line) => {
      const run = /^npm run ([\w:-]+)/.exec(line);
      if (run) return run[1] as string;
      return (/^npm (\w+)/.exec(line)?.[1] ?? "") as string;
    });
}

// ---- rewriting stale outputs (npm run docs:examples) ----

/**
 * The output block as `npm run docs:examples` writes it. JSON goes on one line, for Biome to lay
 * out within the line width (it keeps an object expanded once it is, so this keeps blocks short).
 */
export function formatOutput(lang: "json" | "text", actual: string): string {
  if (lang === "json") return `${JSON.stringify(JSON.parse(actual))}\n`;
  const lines = textLines(actual);
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** `markdown` with the bodies of the given output blocks replaced. */
export function replaceOutputs(
  markdown: string,
  replacements: readonly { readonly block: FencedBlock; readonly body: string }[],
): string {
  const lines = markdown.split("\n");
  const ordered = [...replacements].sort((a, b) => b.block.line - a.block.line);
  for (const { block, body } of ordered) {
    const bodyLines = body === "" ? [] : body.replace(/\n$/, "").split("\n");
    lines.splice(block.line, block.endLine - block.line - 1, ...bodyLines);
  }
  return lines.join("\n");
}

// ---- the cluster-only examples ----

/**
 * The cluster-only examples of a document, run in one bash session in document order, as a
 * reader types them into one terminal: a server started in the background by one block serves
 * the next. Each block's standard output is cut out between markers.
 */
export class ClusterSession {
  readonly ports: Ports;
  private readonly workspace: Workspace;
  private readonly env: Record<string, string>;

  private constructor(workspace: Workspace, ports: Ports, env: Record<string, string>) {
    this.workspace = workspace;
    this.ports = ports;
    this.env = env;
  }

  /** `env` must carry KUBECONFIG; a PATH in it replaces the process's (after `konsul-lb`). */
  static async start(env: Record<string, string>): Promise<ClusterSession> {
    const ports = { http: await freePort(), dns: await freePort(), spare: await freePort() };
    return new ClusterSession(await Workspace.create(), ports, env);
  }

  get dir(): string {
    return this.workspace.dir;
  }

  async runAll(
    examples: readonly Example[],
    timeoutMs = 300_000,
  ): Promise<Map<Example, RunResult>> {
    for (const example of examples) await this.workspace.writeFiles(example.files);
    const script = examples
      .map(
        (example, i) =>
          `printf '@@docs-begin ${i}@@\\n'\n${withPorts(example.command, this.ports)}\nprintf '\\n@@docs-end ${i}@@\\n'`,
      )
      .join("\n");
    const result = await this.workspace.run(script, this.env, timeoutMs);
    const results = new Map<Example, RunResult>();
    examples.forEach((example, i) => {
      const begin = `@@docs-begin ${i}@@\n`;
      const start = result.stdout.indexOf(begin);
      const end = result.stdout.indexOf(`\n@@docs-end ${i}@@\n`);
      if (start < 0 || end < 0) {
        throw new Error(
          `${exampleTitle(example)} did not finish (exit ${result.code}):\n${result.stdout}\n${result.stderr}`,
        );
      }
      const stdout = withDocPorts(result.stdout.slice(start + begin.length, end), this.ports);
      results.set(example, { code: 0, stdout, stderr: result.stderr });
    });
    return results;
  }

  async stop(): Promise<void> {
    this.workspace.remove();
  }
}
