/**
 * Builds test/xds/go-client (grpc-go's xDS client in a tiny program) from the Go module proxy
 * and caches the executable outside the repository, keyed by the hash of its sources, as the
 * control-plane binaries are: the first run compiles for a few minutes, later runs reuse it.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { controlPlaneCacheRoot } from "../cluster/harness/paths.ts";

const execFileAsync = promisify(execFile);
const SOURCE = fileURLToPath(new URL("./go-client/", import.meta.url));
const FILES = ["go.mod", "go.sum", "main.go"];
/** A cold build downloads grpc-go and the Envoy API modules and compiles them. */
const BUILD_TIMEOUT_MS = 20 * 60_000;

export async function goClientBinary(): Promise<string> {
  const hash = createHash("sha256");
  for (const file of FILES) hash.update(file).update(await readFile(join(SOURCE, file)));
  const dir = join(controlPlaneCacheRoot(), "..", "xds-go-client", hash.digest("hex").slice(0, 16));
  const binary = join(dir, "client");
  if (existsSync(binary)) return binary;
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, "build-"));
  try {
    for (const file of FILES) await cp(join(SOURCE, file), join(work, file));
    await execFileAsync("go", ["build", "-o", "client", "."], {
      cwd: work,
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, CGO_ENABLED: "0" },
    });
    // A rename is atomic: a concurrent run sees the whole executable or none.
    await rename(join(work, "client"), binary);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return binary;
}
