import type { Endpoint } from "../../endpoint.ts";
import type { BuildContext, Picker } from "../../strategy.ts";
import { resumePosition, rotated } from "../shared/rotation.ts";
import { selectionSize } from "../shared/selection.ts";

/** Exact equal shares: after any number of picks, counts differ by at most one. */
export class RoundRobinPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private next: number;

  constructor(context: BuildContext) {
    this.endpoints = context.endpoints;
    this.next = resumePosition(this.endpoints, context.carried?.cursor);
  }

  pick(): Endpoint {
    const endpoint = this.endpoints[this.next] as Endpoint;
    this.next = this.next + 1 === this.endpoints.length ? 0 : this.next + 1;
    return endpoint;
  }

  /** The rotation from the cursor; the cursor advances by one, as for a pick. */
  select(_request: unknown, limit: number): Endpoint[] {
    const start = this.next;
    this.pick();
    return rotated(this.endpoints, start, selectionSize(this.endpoints.length, limit));
  }

  exportState() {
    return { cursor: (this.endpoints[this.next] as Endpoint).identity };
  }

  dispose(): void {}
}
