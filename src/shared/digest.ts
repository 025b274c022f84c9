import { createHash } from "node:crypto";

/** A short fingerprint of a text, to tell whether it changed without keeping it. */
export function digestOf(text: string): string {
  return createHash("sha1").update(text).digest("base64");
}
