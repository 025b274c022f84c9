import { BalancerError } from "../../errors.ts";
import { HASH_ON_VALUES, type HashOn } from "../../hash-on.ts";

/** Throws InvalidPolicy naming the field, its value and what is allowed. */
export function invalid(field: string, value: unknown, allowed: string): never {
  throw new BalancerError(
    "InvalidPolicy",
    `${field}: ${JSON.stringify(value)} is not allowed; expected ${allowed}`,
  );
}

export function integerIn(
  field: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    invalid(field, value, `an integer from ${min} to ${max}`);
  }
  return value as number;
}

export function hashOnValue(field: string, value: unknown): HashOn {
  if (value === undefined) return "session-key";
  if (!HASH_ON_VALUES.includes(value as HashOn)) invalid(field, value, HASH_ON_VALUES.join(" or "));
  return value as HashOn;
}

/**
 * The raw section with the server's defaults underneath: each field the policy leaves out (or
 * sets to undefined) takes the server's value.
 */
export function withServerDefaults<Raw extends object>(
  raw: Raw | undefined,
  serverDefaults: Raw | undefined,
): Partial<Raw> {
  if (serverDefaults === undefined) return raw ?? {};
  const merged: Record<string, unknown> = { ...(serverDefaults as Record<string, unknown>) };
  for (const [field, value] of Object.entries(raw ?? {})) {
    if (value !== undefined) merged[field] = value;
  }
  return merged as Partial<Raw>;
}
