import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadService } from "../../src/simulate/load.ts";
import { parseSimulateArgs } from "../../src/simulate/options.ts";
import type { SimulationReport } from "../../src/simulate/report.ts";
import { simulate } from "../../src/simulate/simulate.ts";
import { repoRoot } from "../support/cli.ts";
import { DUMP } from "./fixtures.ts";

/** The generated `kubectl get ... -o yaml` dump, under a name no real file has. */
export const DUMP_PATH = "cluster-dump.yaml";
export const DEMO_PATH = "examples/demo.yaml";

/** Reads the demo from the checkout and the dump from memory. */
export function readFixture(path: string): string {
  return path === DUMP_PATH ? DUMP : readFileSync(join(repoRoot, path), "utf8");
}

/** The report of `konsul-lb simulate <args>`, run in this process. */
export function report(args: readonly string[]): SimulationReport {
  const parsed = parseSimulateArgs(args);
  if (parsed.kind !== "ok")
    throw new Error(`bad arguments ${args.join(" ")}: ${JSON.stringify(parsed)}`);
  const { options } = parsed;
  return simulate(loadService(options.file, options.namespace, options.name, readFixture), options);
}

export function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const ENTITY = /&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/g;
const NAME = "[A-Za-z_:][\\w:.-]*";
const ATTRIBUTE = new RegExp(`\\s+(${NAME})="([^"<]*)"`, "y");
const OPEN_TAG = new RegExp(`^<(${NAME})`);

function checkText(text: string, where: string): string {
  if (text.replaceAll(ENTITY, "").includes("&")) throw new Error(`bare & in ${where}`);
  return text
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");
}

/**
 * A small XML well-formedness check, enough for the SVG the simulator writes: one root, tags
 * balanced and properly nested, attributes quoted and unique, no bare & or < in text. Throws
 * saying what is wrong; returns the element tree.
 */
export function parseXml(text: string): XmlElement {
  const root: XmlElement = { name: "#document", attributes: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  let at = 0;
  while (at < text.length) {
    const lt = text.indexOf("<", at);
    const chunk = text.slice(at, lt < 0 ? text.length : lt);
    const top = stack[stack.length - 1] as XmlElement;
    if (stack.length === 1 && chunk.trim() !== "") throw new Error("text outside the root element");
    top.text += checkText(chunk, `<${top.name}>`);
    if (lt < 0) break;
    const gt = text.indexOf(">", lt);
    if (gt < 0) throw new Error(`unterminated tag at ${lt}`);
    const tag = text.slice(lt, gt + 1);
    if (tag.startsWith("</")) {
      const name = tag.slice(2, -1).trim();
      const open = stack.pop();
      if (open === undefined || open.name !== name || stack.length === 0) {
        throw new Error(`</${name}> closes <${open?.name}>`);
      }
    } else {
      const opened = OPEN_TAG.exec(tag);
      if (!opened) throw new Error(`bad tag ${tag}`);
      const name = opened[1] as string;
      const attributes: Record<string, string> = {};
      let position = opened[0].length;
      for (;;) {
        ATTRIBUTE.lastIndex = position;
        const attribute = ATTRIBUTE.exec(tag);
        if (!attribute) break;
        const key = attribute[1] as string;
        if (Object.hasOwn(attributes, key)) throw new Error(`attribute ${key} twice in ${tag}`);
        attributes[key] = checkText(attribute[2] as string, `${name}@${key}`);
        position = ATTRIBUTE.lastIndex;
      }
      const rest = tag.slice(position);
      if (rest !== ">" && rest !== "/>") throw new Error(`bad attributes in ${tag}`);
      const element: XmlElement = { name, attributes, children: [], text: "" };
      const parent = stack[stack.length - 1] as XmlElement;
      if (parent === root && root.children.length > 0) throw new Error("a second root element");
      parent.children.push(element);
      if (rest === ">") stack.push(element);
    }
    at = gt + 1;
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]?.name}> is never closed`);
  const [document] = root.children;
  if (document === undefined) throw new Error("no root element");
  return document;
}

/** Every element under `element` (itself included) that `test` accepts. */
export function findAll(element: XmlElement, test: (e: XmlElement) => boolean): XmlElement[] {
  const found = test(element) ? [element] : [];
  for (const child of element.children) found.push(...findAll(child, test));
  return found;
}
