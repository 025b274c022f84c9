const MAX_SHOWN_VALUE = 80;

/**
 * A value as it appears in an error message: JSON (so spaces and empty strings show), shortened
 * when long. Settings and policies name bad values the same way.
 */
export function showValue(value: unknown): string {
  const text = value === undefined ? "undefined" : JSON.stringify(value);
  return text.length > MAX_SHOWN_VALUE ? `${text.slice(0, MAX_SHOWN_VALUE - 3)}...` : text;
}
