import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_REPLAY_CYCLE } from "../../src/balancer/strategies/weighted-round-robin/picker.ts";
import { build, countBy, endpoints } from "./fixtures.ts";

/** NGINX's smooth weighted round robin exactly as ngx_http_upstream_get_peer writes it: O(n). */
function nginxSequence(
  weights: number[],
  initial: number[],
  picks: number,
  current: number[] = [...initial],
): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const sequence: number[] = [];
  for (let p = 0; p < picks; p++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      current[i] = (current[i] as number) + (weights[i] as number);
      if (best === -1 || (current[i] as number) > (current[best] as number)) best = i;
    }
    current[best] = (current[best] as number) - total;
    sequence.push(best);
  }
  return sequence;
}

describe("round-robin", () => {
  it("gives exact equal shares after any number of picks", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 500 }), (n, picks) => {
        const { picker } = build("round-robin", endpoints(n));
        const counts = countBy(
          Array.from({ length: picks }, () => picker.pick({})),
          (e) => e.identity,
        );
        const values =
          picks === 0
            ? [0]
            : [...Array(n)].map((_, i) => counts.get(picker.endpoints[i]?.identity ?? "") ?? 0);
        expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it("select rotates the list from the cursor", () => {
    const { picker } = build("round-robin", endpoints(4));
    const ids = (list: { identity: string }[]) => list.map((e) => e.identity);
    expect(ids(picker.select({}, 0))).toEqual(["ep-0", "ep-1", "ep-2", "ep-3"]);
    expect(ids(picker.select({}, 2))).toEqual(["ep-1", "ep-2"]);
    expect(ids(picker.select({}, 0))).toEqual(["ep-2", "ep-3", "ep-0", "ep-1"]);
  });

  it("carries its cursor over a scale-up instead of starting again", () => {
    const first = build("round-robin", endpoints(3)).picker;
    first.pick({});
    first.pick({}); // next is ep-2
    const state = first.exportState();
    expect(state.cursor).toBe("ep-2");
    const scaled = build("round-robin", endpoints(5), { carried: state }).picker;
    expect(scaled.pick({}).identity).toBe("ep-2");
  });

  it("resumes at the next identity when the endpoint due next was removed", () => {
    const first = build("round-robin", endpoints(4)).picker;
    first.pick({}); // next is ep-1
    const without = endpoints(4).filter((e) => e.identity !== "ep-1");
    const rebuilt = build("round-robin", without, { carried: first.exportState() }).picker;
    expect(rebuilt.pick({}).identity).toBe("ep-2");
  });
});

describe("weighted-round-robin", () => {
  const named = (n: number, weights: number[]) => endpoints(n, (i) => weights[i] as number);

  it("weights 5,1,1 give a a b a c a a, as NGINX", () => {
    const { picker } = build("weighted-round-robin", named(3, [5, 1, 1]));
    const letters = Array.from(
      { length: 14 },
      () => "abc"[Number(picker.pick({}).identity.slice(3))],
    );
    expect(letters.join(" ")).toBe("a a b a c a a a a b a c a a");
  });

  it("gives exact shares over every full period", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 30 }),
        (weights) => {
          const { picker } = build("weighted-round-robin", named(weights.length, weights));
          const total = weights.reduce((a, b) => a + b, 0);
          const counts = countBy(
            Array.from({ length: 3 * total }, () => picker.pick({})),
            (e) => e.identity,
          );
          for (const [i, e] of picker.endpoints.entries()) {
            expect(counts.get(e.identity)).toBe(3 * (weights[i] as number));
          }
        },
      ),
    );
  });

  it("makes exactly NGINX's sequence for any weights and starting weights", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: -50, max: 50 })), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 3000 }),
        (spec, picks) => {
          const weights = spec.map(([w]) => w);
          const total = weights.reduce((a, b) => a + b, 0);
          // Carried weights beyond the total weight are rejected as corrupt; stay within it.
          const initial = spec.map(([, c]) => Math.max(-total, Math.min(total, c)));
          const list = named(weights.length, weights);
          const currentWeights = Object.fromEntries(
            list.map((e, i) => [e.identity, initial[i] as number]),
          );
          const { picker } = build("weighted-round-robin", list, { carried: { currentWeights } });
          const ours = Array.from({ length: picks }, () =>
            picker.endpoints.indexOf(picker.pick({})),
          );
          expect(ours).toEqual(nginxSequence(weights, initial, picks));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("replays NGINX's sequence and current weights over many cycles, from any carried state", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: -60, max: 60 })), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.integer({ min: 0, max: 400 }),
        (spec, extra) => {
          const weights = spec.map(([w]) => w);
          const total = weights.reduce((a, b) => a + b, 0);
          const initial = spec.map(([, c]) => Math.max(-total, Math.min(total, c)));
          const list = named(weights.length, weights);
          const currentWeights = Object.fromEntries(
            list.map((e, i) => [e.identity, initial[i] as number]),
          );
          const { picker } = build("weighted-round-robin", list, { carried: { currentWeights } });
          // Five cycles at least: two to record and settle, the rest replayed.
          const picks = 5 * total + extra;
          const ours = Array.from({ length: picks }, () =>
            picker.endpoints.indexOf(picker.pick({})),
          );
          const current = [...initial];
          expect(ours).toEqual(nginxSequence(weights, initial, picks, current));
          const exported = picker.exportState().currentWeights ?? {};
          expect(list.map((e) => exported[e.identity])).toEqual(current);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("follows NGINX from the tournament alone when the cycle is too long to keep", () => {
    // 300 x 1,000 + 999: a cycle of 300,999 picks, beyond MAX_REPLAY_CYCLE.
    const weights = [...Array.from({ length: 300 }, () => 1000), 999];
    expect(weights.reduce((a, b) => a + b, 0)).toBeGreaterThan(MAX_REPLAY_CYCLE);
    const list = named(weights.length, weights);
    const { picker } = build("weighted-round-robin", list);
    const picks = 2000;
    const ours = Array.from({ length: picks }, () => picker.endpoints.indexOf(picker.pick({})));
    const current = weights.map(() => 0);
    expect(ours).toEqual(nginxSequence(weights, current, picks, current));
    const exported = picker.exportState().currentWeights ?? {};
    expect(list.map((e) => exported[e.identity])).toEqual(current);
  });

  it("stays exact across its periodic rebase (over a million picks)", () => {
    const weights = [7, 3, 1];
    const { picker } = build("weighted-round-robin", named(3, weights));
    const expected = nginxSequence(weights, [0, 0, 0], 11);
    for (let i = 0; i < (1 << 20) - 5; i++) picker.pick({});
    // 2^20 - 5 picks is 5 short of a period boundary (11 divides neither), so compare by phase.
    const phase = ((1 << 20) - 5) % 11;
    const window = Array.from({ length: 22 }, () => picker.endpoints.indexOf(picker.pick({})));
    expect(window).toEqual(Array.from({ length: 22 }, (_, k) => expected[(phase + k) % 11]));
  });

  it("carries current weights by identity over a rebuild", () => {
    const weights = [5, 1, 1];
    const first = build("weighted-round-robin", named(3, weights)).picker;
    for (let i = 0; i < 3; i++) first.pick({});
    const state = first.exportState();
    // NGINX's current weights after a a b: a=1, b=-4, c=3
    expect(state.currentWeights).toEqual({ "ep-0": 1, "ep-1": -4, "ep-2": 3 });
    const rebuilt = build("weighted-round-robin", named(3, weights), { carried: state }).picker;
    const rest = Array.from(
      { length: 4 },
      () => "abc"[rebuilt.endpoints.indexOf(rebuilt.pick({}))],
    );
    expect(rest.join(" ")).toBe("a c a a");
  });

  it("ignores carried weights that are out of range", () => {
    const { picker } = build("weighted-round-robin", named(2, [1, 1]), {
      carried: { currentWeights: { "ep-0": 1e12, "ep-1": Number.NaN } },
    });
    expect(picker.exportState().currentWeights).toEqual({ "ep-0": 0, "ep-1": 0 });
  });

  it("select starts with the pick and orders the rest by who is due next", () => {
    const { picker } = build("weighted-round-robin", named(3, [5, 1, 1]));
    const order = picker.select({}, 0).map((e) => e.identity);
    expect(order[0]).toBe("ep-0");
    expect(new Set(order).size).toBe(3);
    expect(picker.select({}, 1)).toHaveLength(1);
  });
});
