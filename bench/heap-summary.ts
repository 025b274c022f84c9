/**
 * Where the bytes of a heap snapshot go: self sizes summed per kind of object. The scale
 * benchmark starts the operator with `--heapsnapshot-signal` (a Node option, off unless given)
 * and `--diagnostic-dir` pointing at a directory of its own, signals it, and reads the file here.
 */
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** The signal the benchmark asks Node to write a snapshot on (not one the operator handles). */
export const HEAP_SNAPSHOT_SIGNAL = "SIGTTIN";

/** Bytes and objects per group, e.g. "Object", "(strings)", "(array: object elements)". */
export type HeapSummary = ReadonlyMap<string, { readonly bytes: number; readonly count: number }>;

interface Snapshot {
  readonly snapshot: { readonly meta: { node_fields: string[]; node_types: [string[]] } };
  readonly nodes: number[];
  readonly strings: string[];
}

/** The group a node counts in: objects by constructor, everything else by V8's node type. */
function groupOf(type: string, name: string): string {
  switch (type) {
    case "object":
      return name;
    case "string":
    case "concatenated string":
    case "sliced string":
      return "(strings)";
    case "array":
    case "native":
    case "hidden":
    case "object shape":
      return `(${type}: ${name.length > 40 ? `${name.slice(0, 40)}…` : name})`;
    default:
      return `(${type})`;
  }
}

export function summarize(text: string): HeapSummary {
  const parsed = JSON.parse(text) as Snapshot;
  const fields = parsed.snapshot.meta.node_fields;
  const types = parsed.snapshot.meta.node_types[0];
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const summary = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < parsed.nodes.length; i += fields.length) {
    const type = types[parsed.nodes[i + typeAt] as number] as string;
    const name = parsed.strings[parsed.nodes[i + nameAt] as number] as string;
    const group = groupOf(type, name);
    const entry = summary.get(group) ?? { bytes: 0, count: 0 };
    entry.bytes += parsed.nodes[i + sizeAt] as number;
    entry.count++;
    summary.set(group, entry);
  }
  return summary;
}

/**
 * Signals `pid` to write a snapshot into `dir` (empty before), waits until the file stops
 * growing, summarizes it and deletes it: snapshots of a large heap are hundreds of MiB.
 */
export async function takeHeapSummary(pid: number, dir: string): Promise<HeapSummary> {
  process.kill(pid, HEAP_SNAPSHOT_SIGNAL);
  const deadline = Date.now() + 120_000;
  let lastSize = -1;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no heap snapshot appeared in ${dir} in 120 s`);
    await sleep(1000);
    const file = readdirSync(dir).find((name) => name.endsWith(".heapsnapshot"));
    if (file === undefined) continue;
    const path = join(dir, file);
    const size = statSync(path).size;
    // Node writes the snapshot synchronously, closing the file last: an unchanged size over a
    // second, with the JSON's closing bracket, means it is complete.
    if (size > 0 && size === lastSize) {
      const text = readFileSync(path, "utf8");
      if (text.trimEnd().endsWith("}")) {
        rmSync(path);
        return summarize(text);
      }
    }
    lastSize = size;
  }
}

/** Groups by how much more they hold in `after` than in `before`, largest first. */
export function growth(
  before: HeapSummary,
  after: HeapSummary,
): { group: string; bytes: number; count: number }[] {
  return [...after]
    .map(([group, entry]) => ({
      group,
      bytes: entry.bytes - (before.get(group)?.bytes ?? 0),
      count: entry.count - (before.get(group)?.count ?? 0),
    }))
    .sort((a, b) => b.bytes - a.bytes);
}
