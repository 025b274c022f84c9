import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { digestOfBytesInSlices } from "../../src/shared/digest.ts";
import { countTurns } from "../support/event-loop.ts";

describe("digest of bytes in slices", () => {
  const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => `line ${i}\n`).join(""));
  const whole = createHash("sha1").update(bytes).digest("base64");

  it("is the digest of the whole buffer, whatever the slice size", async () => {
    for (const slice of [1, 7, 4096, bytes.length, bytes.length * 2]) {
      expect(await digestOfBytesInSlices(bytes, slice)).toBe(whole);
    }
    expect(await digestOfBytesInSlices(Buffer.alloc(0))).toBe(createHash("sha1").digest("base64"));
  });

  it("lets the event loop run between slices", async () => {
    const turns = countTurns();
    await digestOfBytesInSlices(bytes, 1024);
    const turned = turns.stop();
    expect(turned).toBeGreaterThanOrEqual(Math.floor(bytes.length / 1024) - 1);
  });
});
