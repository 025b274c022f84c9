/**
 * Go-style duration strings ("80ms", "1.5s", "2m30s"), the form Kubernetes users already write
 * in other resources. Parsing is exact: each term is summed in whole nanoseconds, as Go does, so
 * "1.1s" is 1100 ms and not 1100.0000000000002.
 */

/** Nanoseconds per unit. Both micro signs (U+00B5 and U+03BC) are accepted, as in Go. */
const UNIT_NANOSECONDS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/**
 * The syntax as a regular expression, for schemas. Written for both ECMAScript and RE2 (the
 * Kubernetes API server checks CRD patterns with Go's regexp). Signs are not accepted: no
 * duration in a policy may be negative.
 */
export const DURATION_PATTERN = "^(0|(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

const TERM = /([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)/y;

/** Go's limit: a duration is an int64 count of nanoseconds. */
const MAX_NANOSECONDS = 2n ** 63n - 1n;

export const DURATION_EXAMPLES = '"80ms", "1.5s" or "2m30s"';

export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DurationError";
  }
}

/** Milliseconds in `text`, or null when it is not a duration. */
export function tryParseDuration(text: string): number | null {
  if (text === "0") return 0;
  if (text.length === 0) return null;
  let total = 0n;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < text.length) {
    const match = TERM.exec(text);
    if (match === null) return null;
    const whole = match[1] ?? "";
    const fraction = match[2] ?? "";
    const unit = UNIT_NANOSECONDS[match[3] ?? ""];
    // "s" and "." alone are not numbers.
    if (unit === undefined || (whole === "" && fraction === "")) return null;
    total += BigInt(whole === "" ? "0" : whole) * unit;
    if (fraction !== "") {
      // Digits beyond one nanosecond are dropped, as Go drops them.
      const scale = 10n ** BigInt(fraction.length);
      total += (BigInt(fraction) * unit) / scale;
    }
    if (total > MAX_NANOSECONDS) return null;
  }
  return Number(total) / 1e6;
}

/** Milliseconds in `text`; throws DurationError naming the text and the accepted form. */
export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === null) {
    throw new DurationError(
      `${JSON.stringify(text)} is not a duration; expected a number and a unit ` +
        `(ns, us, ms, s, m, h), such as ${DURATION_EXAMPLES}`,
    );
  }
  return ms;
}

const FORMAT_UNITS: readonly [string, number][] = [
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
];

/** The shortest Go-style spelling of a whole number of milliseconds: 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) {
    throw new RangeError(`duration ${ms} is not a whole number of milliseconds of at least 0`);
  }
  if (ms === 0) return "0";
  let rest = ms;
  let text = "";
  for (const [unit, size] of FORMAT_UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return rest > 0 ? `${text}${rest}ms` : text;
}

/**
 * A range of durations in words, "from 1s to 1h" or (with no upper bound) "at least 1ms": one
 * spelling for the CRD's CEL messages and the file source's, so that they read alike.
 */
export function durationRange(minMs: number, maxMs: number | null): string {
  return maxMs === null
    ? `at least ${formatDuration(minMs)}`
    : `from ${formatDuration(minMs)} to ${formatDuration(maxMs)}`;
}
