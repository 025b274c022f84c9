import { createHash } from "node:crypto";
import { setImmediate as nextTurn } from "node:timers/promises";

/** A short fingerprint of a text, to tell whether it changed without keeping it. */
export function digestOf(text: string): string {
  return createHash("sha1").update(text).digest("base64");
}

/**
 * The fingerprint of a large byte buffer, hashed `sliceBytes` at a time with the event loop let
 * run between slices: the whole of a 20 MB file in one piece held every answer for tens of ms.
 * Not comparable with `digestOf` of the decoded text: a caller keeps to one of the two.
 */
export async function digestOfBytesInSlices(
  bytes: Uint8Array,
  sliceBytes = 1 << 20,
): Promise<string> {
  const hash = createHash("sha1");
  for (let at = 0; at < bytes.length; at += sliceBytes) {
    if (at > 0) await nextTurn();
    hash.update(bytes.subarray(at, at + sliceBytes));
  }
  return hash.digest("base64");
}
