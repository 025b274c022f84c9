import type { Endpoint } from "../../endpoint.ts";

/**
 * Where a rotation resumes after a rebuild: the position of the endpoint that was due next or,
 * when that endpoint is gone, of the first identity after it, so a scale-up or scale-down
 * neither restarts the rotation nor skips a survivor.
 */
export function resumePosition(endpoints: readonly Endpoint[], cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  let low = 0;
  let high = endpoints.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((endpoints[mid] as Endpoint).identity < cursor) low = mid + 1;
    else high = mid;
  }
  return low === endpoints.length ? 0 : low;
}

/** `count` endpoints starting at `start`, wrapping around. */
export function rotated(endpoints: readonly Endpoint[], start: number, count: number): Endpoint[] {
  const result = new Array<Endpoint>(count);
  const n = endpoints.length;
  for (let i = 0; i < count; i++) result[i] = endpoints[(start + i) % n] as Endpoint;
  return result;
}
