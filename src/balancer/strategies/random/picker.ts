import type { Endpoint } from "../../endpoint.ts";
import { type RandomSource, randomIndex } from "../../random.ts";
import type { BuildContext, Picker } from "../../strategy.ts";
import { selectionSize } from "../shared/selection.ts";

/** `count` distinct endpoints in uniformly random order (a partial Fisher-Yates shuffle). */
export function shuffledPrefix(
  endpoints: readonly Endpoint[],
  count: number,
  random: RandomSource,
): Endpoint[] {
  const pool = endpoints.slice();
  for (let i = 0; i < count; i++) {
    const j = i + randomIndex(random, pool.length - i);
    const chosen = pool[j] as Endpoint;
    pool[j] = pool[i] as Endpoint;
    pool[i] = chosen;
  }
  pool.length = count;
  return pool;
}

export class RandomPicker implements Picker {
  readonly endpoints: readonly Endpoint[];
  private readonly random: RandomSource;

  constructor(context: BuildContext) {
    this.endpoints = context.endpoints;
    this.random = context.random;
  }

  pick(): Endpoint {
    return this.endpoints[randomIndex(this.random, this.endpoints.length)] as Endpoint;
  }

  select(_request: unknown, limit: number): Endpoint[] {
    return shuffledPrefix(this.endpoints, selectionSize(this.endpoints.length, limit), this.random);
  }

  exportState() {
    return {};
  }

  dispose(): void {}
}
