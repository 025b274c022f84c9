/**
 * Fenced code blocks of the project's Markdown (README.md, docs/), for the tests that run the
 * documented commands. Only fences at the start of a line count, as the docs write them; a
 * block's directives are the `<!-- docs: ... -->` comments on the lines just before its fence.
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot } from "./cli.ts";

export interface FencedBlock {
  /** The info string's first word: sh, json, text, yaml, mermaid, ... ("" when none). */
  readonly lang: string;
  /** The lines between the fences, each ending in a newline. */
  readonly code: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** 1-based line of the closing fence. */
  readonly endLine: number;
  /** The text of each `<!-- docs: ... -->` comment right before the fence (blank lines allowed). */
  readonly directives: readonly string[];
  /** The nearest heading above the block, without its #s ("" before the first). */
  readonly heading: string;
}

const FENCE = /^(`{3,}|~{3,})\s*([^\s`]*)/;
const DIRECTIVE = /^<!--\s*docs:\s*(.*?)\s*-->\s*$/;

/** Every fenced block of `markdown`, in order. An unclosed fence is an error, not a silent end. */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split("\n");
  const blocks: FencedBlock[] = [];
  let heading = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heads = /^#{1,6}\s+(.*)$/.exec(line);
    if (heads) {
      heading = (heads[1] as string).trim();
      continue;
    }
    const open = FENCE.exec(line);
    if (!open) continue;
    const fence = open[1] as string;
    const directives: string[] = [];
    for (let j = i - 1; j >= 0; j--) {
      const before = (lines[j] as string).trim();
      if (before === "") continue;
      const directive = DIRECTIVE.exec(before);
      if (!directive) break;
      directives.unshift(directive[1] as string);
    }
    let end = i + 1;
    while (end < lines.length && !(lines[end] as string).startsWith(fence)) end++;
    if (end >= lines.length) throw new Error(`line ${i + 1}: a ${fence} fence is never closed`);
    const body = lines.slice(i + 1, end);
    blocks.push({
      lang: open[2] as string,
      code: body.length === 0 ? "" : `${body.join("\n")}\n`,
      line: i + 1,
      endLine: end + 1,
      directives,
      heading,
    });
    i = end;
  }
  return blocks;
}

/** The text of the `## heading` section (up to the next `## `), or undefined. */
export function section(markdown: string, heading: string): string | undefined {
  return markdown
    .split(/^## /m)
    .slice(1)
    .find((part) => part.startsWith(heading));
}

/** The `sh` blocks of one `## ` section, in order; throws when the section is missing. */
export function shellBlocks(markdown: string, heading: string): string[] {
  const text = section(markdown, heading);
  if (text === undefined) throw new Error(`no section "${heading}"`);
  return fencedBlocks(text)
    .filter((block) => block.lang === "sh")
    .map((block) => block.code);
}

/** A file of the repository, by its path from the root. */
export function readRepoFile(path: string): Promise<string> {
  return readFile(join(repoRoot, path), "utf8");
}
