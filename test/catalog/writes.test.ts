import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Catalog, type CatalogEndpoint } from "../../src/catalog/catalog.ts";
import { endpoint, service } from "./fixtures.ts";

const POOL = Array.from({ length: 10 }, (_, i) => `web-${i}`);

type Write =
  | { readonly kind: "flip"; readonly at: number; readonly rotate: number; readonly back: boolean }
  | { readonly kind: "eject"; readonly ids: readonly string[] };

const write: fc.Arbitrary<Write> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.nat(),
    rotate: fc.nat(),
    // A source that writes back the entry it read (ejection marks and all).
    back: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("eject" as const), ids: fc.subarray(POOL) }),
);

describe("Catalog writes, one after another", () => {
  it("hold what a catalog written once with the same endpoints and ejections holds", () => {
    fc.assert(
      fc.property(fc.array(write, { minLength: 1, maxLength: 30 }), (writes) => {
        const catalog = new Catalog();
        let list: CatalogEndpoint[] = POOL.map((id) => endpoint(id));
        catalog.upsert(service("shop", "web", list));
        let ejected: readonly string[] = [];
        for (const w of writes) {
          if (w.kind === "eject") {
            catalog.setEjected("shop", "web", w.ids);
            ejected = w.ids;
          } else {
            const i = w.at % list.length;
            list = list.map((e, k) => (k === i ? { ...e, ready: !e.ready } : e));
            const current = catalog.get("shop", "web")?.endpoints ?? [];
            const from = w.back
              ? list.map((e) => ({
                  ...e,
                  ...(current.find((c) => c.identity === e.identity)?.ejected
                    ? { ejected: true }
                    : {}),
                }))
              : list;
            // In identity order or not, as a source may hand them.
            const r = w.rotate % from.length;
            catalog.upsert(service("shop", "web", [...from.slice(r), ...from.slice(0, r)]));
          }
          const fresh = new Catalog();
          fresh.upsert(service("shop", "web", list));
          fresh.setEjected("shop", "web", ejected);
          expect(catalog.get("shop", "web")?.endpoints).toEqual(
            fresh.get("shop", "web")?.endpoints,
          );
        }
      }),
      { numRuns: 200 },
    );
  });
});
