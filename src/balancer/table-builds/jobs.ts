/**
 * A hash table's build as plain data, so that it can run on a worker thread (pool.ts) as well
 * as inline, through the same function: the same job gives the same bytes wherever it runs.
 * Jobs carry identities and weights only; tables come back as typed arrays whose buffers move
 * (are transferred) rather than being copied.
 */
import { buildMaglevTable } from "../strategies/maglev/picker.ts";
import { buildRing, type Ring } from "../strategies/ring-hash/ring.ts";

export type TableJob =
  | {
      readonly kind: "ring";
      readonly identities: readonly string[];
      /** Ring entries per endpoint (ring.ts entriesPerEndpoint). */
      readonly counts: Uint32Array;
    }
  | {
      readonly kind: "maglev";
      readonly identities: readonly string[];
      readonly weights: Float64Array;
      readonly size: number;
    };

export type BuiltTable = Ring | Uint16Array | Uint32Array;

/** Table entries a job makes: what its cost grows with, and what decides where it runs. */
export function jobEntries(job: TableJob): number {
  if (job.kind === "maglev") return job.size;
  let total = 0;
  for (const count of job.counts) total += count;
  return total;
}

export function runTableJob(job: TableJob): BuiltTable {
  if (job.kind === "ring") {
    return buildRing(
      job.identities.map((identity) => ({ identity })),
      job.counts,
    );
  }
  return buildMaglevTable(
    job.identities.map((identity, i) => ({ identity, weight: job.weights[i] as number })),
    job.size,
  );
}

/** The buffers of a built table, to transfer rather than copy. */
export function tableBuffers(table: BuiltTable): ArrayBuffer[] {
  const views = ArrayBuffer.isView(table) ? [table] : [table.entries, table.bucketStart];
  return views.map((view) => view.buffer as ArrayBuffer);
}
