/** How many endpoints a select returns: `limit` 0 means all. */
export function selectionSize(available: number, limit: number): number {
  return limit > 0 && limit < available ? limit : available;
}
