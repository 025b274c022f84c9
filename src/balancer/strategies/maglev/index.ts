import type { PolicySection, StrategyDefinition } from "../../definition.ts";
import type { Endpoint } from "../../endpoint.ts";
import type { HashOn } from "../../hash-on.ts";
import type { ResolvedPolicy } from "../../policy.ts";
import type { BuildContext } from "../../strategy.ts";
import type { TableJob } from "../../table-builds/jobs.ts";
import { hashKeyOf } from "../shared/hash-key.ts";
import { hashOnValue, invalid, withServerDefaults } from "../shared/settings-check.ts";
import { MaglevPicker } from "./picker.ts";

// Envoy's default table size.
export const DEFAULT_MAGLEV_TABLE_SIZE = 65_537;
export const MAX_MAGLEV_TABLE_SIZE = 5_000_011;
/** The smallest prime; a Maglev table needs at least as many slots as it has endpoints. */
export const MIN_MAGLEV_TABLE_SIZE = 3;

/** `spec.maglev` in the engine's units. */
export interface MaglevSettings {
  tableSize?: number;
  hashOn?: HashOn;
}

export interface ResolvedMaglev {
  readonly tableSize: number;
  readonly hashOn: HashOn;
}

export function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Read by maglev and by ip-hash, which builds the same table. */
export const maglevSection: PolicySection<MaglevSettings, ResolvedMaglev> = {
  key: "maglev",
  crd: (kit) => ({
    type: "object",
    description:
      "Settings of the maglev strategy (Maglev consistent hashing). ip-hash builds the same " +
      "table and so uses tableSize too; it always hashes the client IP, whatever hashOn says.",
    properties: {
      tableSize: {
        type: "integer",
        minimum: MIN_MAGLEV_TABLE_SIZE,
        maximum: MAX_MAGLEV_TABLE_SIZE,
        default: DEFAULT_MAGLEV_TABLE_SIZE,
        description:
          `Slots in the lookup table: a prime number from ${MIN_MAGLEV_TABLE_SIZE} to ${MAX_MAGLEV_TABLE_SIZE}, ` +
          "well above the number of endpoints (65537 suits up to a few hundred). The API server " +
          "checks only the range; the operator checks that it is prime, and reports a policy " +
          "with another size as Accepted=False.",
      },
      hashOn: kit.hashOn(),
    },
  }),
  fromSpec(spec, _kit, problems) {
    const maglev = spec as MaglevSettings;
    if (maglev.tableSize !== undefined && !isPrime(maglev.tableSize)) {
      problems.push({
        path: ["tableSize"],
        value: maglev.tableSize,
        allowed: `a prime number from ${MIN_MAGLEV_TABLE_SIZE} to ${MAX_MAGLEV_TABLE_SIZE} (e.g. 65537)`,
      });
    }
    return { ...maglev };
  },
  resolve(raw, serverDefaults) {
    const maglev = withServerDefaults(raw, serverDefaults);
    const tableSize = maglev.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    if (!isPrime(tableSize) || tableSize > MAX_MAGLEV_TABLE_SIZE) {
      invalid(
        "maglev.tableSize",
        tableSize,
        `a prime number up to ${MAX_MAGLEV_TABLE_SIZE} (e.g. 65537)`,
      );
    }
    return { tableSize, hashOn: hashOnValue("maglev.hashOn", maglev.hashOn) };
  },
};

export const maglev: StrategyDefinition<"maglev"> = {
  name: "maglev",
  settings: maglevSection,
  traits: {
    variesPerRequest: false,
    srvPriority: "rank",
    weighted: true,
    hashesOn: (policy) => policy.maglev.hashOn,
    expectedShare: "weight",
  },
  build: ({ endpoints, policy }) => maglevPicker(endpoints, policy),
  table: {
    job: maglevTableJob,
    picker: ({ endpoints, policy }, table) =>
      maglevPicker(endpoints, policy, table as Uint16Array | Uint32Array),
  },
};

/** The Maglev table of a build as a job (ip-hash builds the same table). */
export function maglevTableJob({ endpoints, policy }: BuildContext): TableJob {
  return {
    kind: "maglev",
    identities: endpoints.map((endpoint) => endpoint.identity),
    weights: Float64Array.from(endpoints, (endpoint) => endpoint.weight),
    size: policy.maglev.tableSize,
  };
}

function maglevPicker(
  endpoints: readonly Endpoint[],
  policy: ResolvedPolicy,
  table?: Uint16Array | Uint32Array,
): MaglevPicker {
  const { tableSize, hashOn } = policy.maglev;
  return new MaglevPicker(
    endpoints,
    tableSize,
    (request) => hashKeyOf(request, hashOn, "maglev"),
    table,
  );
}
