import { mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { expiryOf, TokenFile } from "../../src/ha/peer-auth.ts";

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

const jwt = (claims: object) =>
  `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.signature`;

describe("TokenFile", () => {
  it("reads the token again when the kubelet rotates it", async () => {
    const folder = await mkdtemp(join(tmpdir(), "konsul-lb-token-"));
    folders.push(folder);
    const path = join(folder, "token");
    await writeFile(path, "first\n");
    const file = new TokenFile(path);
    expect(file.read()).toBe("first");
    await writeFile(path, "second-token");
    await utimes(path, new Date(), new Date(Date.now() + 5_000));
    expect(file.read()).toBe("second-token");
    await writeFile(path, "");
    await utimes(path, new Date(), new Date(Date.now() + 10_000));
    expect(() => file.read()).toThrow(/is empty/);
  });
});

describe("expiryOf", () => {
  it("reads a JWT's exp claim, in milliseconds, and nothing from anything else", () => {
    expect(expiryOf(jwt({ exp: 1_900_000_000 }))).toBe(1_900_000_000_000);
    expect(expiryOf(jwt({ sub: "x" }))).toBeNull();
    expect(expiryOf("not-a-jwt")).toBeNull();
    expect(expiryOf("a.%%%.c")).toBeNull();
  });
});
