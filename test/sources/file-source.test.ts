import { mkdtemp, rename, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Catalog } from "../../src/catalog/catalog.ts";
import type { Logger } from "../../src/shared/logger.ts";
import { FileSource, ManifestError } from "../../src/sources/file-source.ts";

/** A logger that keeps what it is told. */
function recordingLogger() {
  const lines: {
    level: "info" | "warn" | "error";
    fields: Record<string, unknown>;
    message: string;
  }[] = [];
  const logger: Pick<Logger, "info" | "warn" | "error"> = {
    info: (fields, message) =>
      lines.push({ level: "info", fields: fields as Record<string, unknown>, message }),
    warn: (fields, message) =>
      lines.push({ level: "warn", fields: fields as Record<string, unknown>, message }),
    error: (fields, message) =>
      lines.push({ level: "error", fields: fields as Record<string, unknown>, message }),
  };
  return { logger, lines };
}

/** Polls `condition` until it holds or the deadline passes. */
async function eventually(
  condition: () => boolean,
  what: string,
  deadlineMs = 5000,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function manifests(services: Record<string, string[]>): string {
  const documents: string[] = [];
  for (const [name, addresses] of Object.entries(services)) {
    documents.push(`apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec: {ports: [{name: http, port: 80}]}`);
    documents.push(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: shop, labels: {kubernetes.io/service-name: ${name}}}
ports: [{name: http, port: 8080}]
endpoints:
${addresses.map((address) => `- addresses: ["${address}"]`).join("\n")}`);
  }
  return `${documents.join("\n---\n")}\n`;
}

const BROKEN = `apiVersion: lb.konsul.io/v1alpha1
kind: LoadBalancingPolicy
metadata: {name: checkout-lb, namespace: shop}
spec:
  targetRef: {name: checkout}
  strategy: fastest
`;

let directory: string;
let file: string;
const sources: FileSource[] = [];

/**
 * "fast" follows the file quickly; "default" uses the shipped timings; "manual" reacts to no
 * event within a test, so that explicit reload() calls do not race the watcher.
 */
const TIMINGS = {
  fast: { debounceMs: 30, pollIntervalMs: 200 },
  default: {},
  manual: { debounceMs: 600_000, pollIntervalMs: 600_000 },
};

function newSource(
  catalog: Catalog,
  logger?: Pick<Logger, "info" | "warn" | "error">,
  timing: keyof typeof TIMINGS = "fast",
): FileSource {
  const source = new FileSource({
    path: file,
    catalog,
    ...(logger === undefined ? {} : { logger }),
    ...TIMINGS[timing],
  });
  sources.push(source);
  return source;
}

function addressesOf(catalog: Catalog, name: string): string[] | undefined {
  return catalog.get("shop", name)?.endpoints.map((e) => e.address);
}

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "konsul-lb-file-source-"));
  file = join(directory, "cluster.yaml");
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((source) => source.stop()));
  await rm(directory, { recursive: true, force: true });
});

describe("FileSource", () => {
  it("loads the file into the catalog on start and marks it synced", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1", "10.42.1.2"], cart: ["10.42.2.1"] }));
    const catalog = new Catalog();
    const { logger, lines } = recordingLogger();
    await newSource(catalog, logger).start();
    expect(catalog.synced).toBe(true);
    expect(catalog.list().map((e) => e.name)).toEqual(["cart", "checkout"]);
    expect(addressesOf(catalog, "checkout")).toEqual(["10.42.1.1", "10.42.1.2"]);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "info",
        message: "loaded the manifest file",
        fields: expect.objectContaining({ services: 2 }),
      }),
    );
  });

  it("reads a file that is rewritten faster than the debounce, within the longest delay", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1"] }));
    const catalog = new Catalog();
    const source = new FileSource({
      path: file,
      catalog,
      debounceMs: 200,
      maxDelayMs: 400,
      pollIntervalMs: 600_000,
    });
    sources.push(source);
    await source.start();
    // A rewrite every 50 ms for at most 4 s: each one alone would restart a 200 ms debounce, so
    // only the longest delay lets a read happen while the writes go on.
    let writes = 0;
    const end = Date.now() + 4000;
    while (addressesOf(catalog, "checkout")?.length === 1 && Date.now() < end) {
      writes++;
      await writeFile(file, manifests({ checkout: ["10.42.1.1", `10.42.9.${writes % 250}`] }));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(addressesOf(catalog, "checkout")).toHaveLength(2);
  });

  it("picks up an edit within the documented time, with default settings", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1"] }));
    const catalog = new Catalog();
    await newSource(catalog, undefined, "default").start();
    const before = catalog.get("shop", "checkout")?.version ?? 0;
    const startedAt = Date.now();
    await writeFile(file, manifests({ checkout: ["10.42.1.1", "10.42.1.7"] }));
    await eventually(
      () => addressesOf(catalog, "checkout")?.length === 2,
      "the edit to be loaded",
      3000,
    );
    expect(Date.now() - startedAt).toBeLessThan(2500);
    expect(catalog.get("shop", "checkout")?.version).toBeGreaterThan(before);
  });

  it("follows an editor that saves by renaming a new file over the old one", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1"] }));
    const catalog = new Catalog();
    await newSource(catalog).start();
    for (const address of ["10.42.1.8", "10.42.1.9"]) {
      const temporary = join(directory, ".cluster.yaml.swp");
      await writeFile(temporary, manifests({ checkout: [address] }));
      await rename(temporary, file);
      await eventually(
        () => addressesOf(catalog, "checkout")?.[0] === address,
        `address ${address}`,
      );
    }
  });

  it("keeps the last good catalog on a broken edit, reports it, and recovers when fixed", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1"] }));
    const catalog = new Catalog();
    const { logger, lines } = recordingLogger();
    const source = newSource(catalog, logger);
    await source.start();
    const good = catalog.get("shop", "checkout");
    const index = catalog.index;

    await writeFile(file, `${manifests({ checkout: ["10.42.1.2"] })}---\n${BROKEN}`);
    await eventually(
      () => lines.some((line) => line.level === "error"),
      "the error to be reported",
    );
    const report = lines.find((line) => line.level === "error");
    expect(report?.message).toBe("the manifest file has 1 error(s); keeping the last good catalog");
    expect(report?.fields.errors).toEqual([
      expect.stringMatching(
        /cluster\.yaml: document 3 of 3 \(line 18\): LoadBalancingPolicy shop\/checkout-lb: spec\.strategy: "fastest" is not allowed/,
      ),
    ]);
    expect(source.lastErrors).toEqual(report?.fields.errors);
    expect(catalog.get("shop", "checkout")).toBe(good);
    expect(catalog.index).toBe(index);

    await writeFile(file, manifests({ checkout: ["10.42.1.3"] }));
    await eventually(
      () => addressesOf(catalog, "checkout")?.[0] === "10.42.1.3",
      "the fixed file to be loaded",
    );
    expect(source.lastErrors).toEqual([]);
    expect(lines.filter((line) => line.level === "error")).toHaveLength(1);
  });

  it("survives the file disappearing for a while", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1"] }));
    const catalog = new Catalog();
    const { logger, lines } = recordingLogger();
    const source = newSource(catalog, logger);
    await source.start();
    await unlink(file);
    await eventually(() => source.lastErrors.length > 0, "the missing file to be reported");
    expect(source.lastErrors[0]).toMatch(/cluster\.yaml: cannot read the file: .*ENOENT/);
    expect(lines.some((line) => line.level === "error")).toBe(true);
    expect(addressesOf(catalog, "checkout")).toEqual(["10.42.1.1"]);
    await writeFile(file, manifests({ checkout: ["10.42.1.5"] }));
    await eventually(
      () => addressesOf(catalog, "checkout")?.[0] === "10.42.1.5",
      "the re-created file to be loaded",
    );
  });

  it("rejects start on a broken file with every message, and loads nothing", async () => {
    await writeFile(file, `${BROKEN}---\nkind: Pod\n`);
    const catalog = new Catalog();
    const start = newSource(catalog).start();
    await expect(start).rejects.toBeInstanceOf(ManifestError);
    const error = (await start.catch((e: unknown) => e)) as ManifestError;
    expect(error.errors).toHaveLength(2);
    expect(error.message).toMatch(
      /document 1 of 2 \(line 6\): LoadBalancingPolicy shop\/checkout-lb: spec\.strategy/,
    );
    expect(error.message).toMatch(/document 2 of 2 \(line 8\): Pod: apiVersion: is required/);
    expect(catalog.synced).toBe(false);
    expect(catalog.list()).toEqual([]);
  });

  it("takes an empty file after a good load as a write in progress, and a comment as intent", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1"] }));
    const catalog = new Catalog();
    const source = newSource(catalog, undefined, "manual");
    await source.start();
    await writeFile(file, "");
    expect(await source.reload()).toEqual({
      status: "failed",
      errors: [`${file}: the file is empty; to remove every service, leave a comment in it`],
    });
    expect(catalog.size).toBe(1);
    await writeFile(file, "# no services for now\n");
    expect(await source.reload()).toEqual({
      status: "loaded",
      changed: ["shop/checkout"],
      warnings: [],
    });
    expect(catalog.size).toBe(0);
  });

  it("rejects start on a missing file", async () => {
    const start = newSource(new Catalog()).start();
    await expect(start).rejects.toThrow(/cannot read the file/);
  });

  it("changes no version when the file is rewritten with the same content", async () => {
    const text = manifests({ checkout: ["10.42.1.1"] });
    await writeFile(file, text);
    const catalog = new Catalog();
    const source = newSource(catalog, undefined, "manual");
    await source.start();
    const index = catalog.index;
    await writeFile(file, text);
    expect(await source.reload()).toEqual({ status: "unchanged" });
    // Same services, written differently: loaded, but nothing changed.
    await writeFile(file, `# reformatted\n${text}`);
    expect(await source.reload()).toEqual({ status: "loaded", changed: [], warnings: [] });
    expect(catalog.index).toBe(index);
  });

  it("keeps the endpoint objects of the Services an edit did not touch", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1"], cart: ["10.42.2.1"] }));
    const catalog = new Catalog();
    const source = newSource(catalog, undefined, "manual");
    await source.start();
    const cart = catalog.get("shop", "cart");
    const checkout = catalog.get("shop", "checkout");
    await writeFile(file, manifests({ checkout: ["10.42.1.9"], cart: ["10.42.2.1"] }));
    expect(await source.reload()).toMatchObject({ status: "loaded", changed: ["shop/checkout"] });
    expect(catalog.get("shop", "cart")).toBe(cart);
    expect(catalog.get("shop", "checkout")?.endpoints[0]).not.toBe(checkout?.endpoints[0]);
    expect(addressesOf(catalog, "checkout")).toEqual(["10.42.1.9"]);
    // Back to the first text: the document read before is new again, not a stale cache entry.
    await writeFile(file, manifests({ checkout: ["10.42.1.1"], cart: ["10.42.2.1"] }));
    expect(await source.reload()).toMatchObject({ status: "loaded", changed: ["shop/checkout"] });
    expect(addressesOf(catalog, "checkout")).toEqual(["10.42.1.1"]);
  });

  it("keeps a load that the catalog applied even when one of its listeners throws", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1"] }));
    const catalog = new Catalog();
    catalog.onChange(() => {
      throw new Error("listener broke");
    });
    const { logger, lines } = recordingLogger();
    const source = newSource(catalog, logger, "manual");
    await source.start();
    expect(addressesOf(catalog, "checkout")).toEqual(["10.42.1.1"]);
    expect(source.lastErrors).toEqual([]);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "error",
        message: "a catalog listener failed on the changes from the manifest file",
      }),
    );
  });

  it("passes translation warnings to the logger", async () => {
    await writeFile(
      file,
      `${manifests({ checkout: ["10.42.1.1"] })}---
apiVersion: lb.konsul.io/v1alpha1
kind: LoadBalancingPolicy
metadata: {name: orphan, namespace: shop}
spec: {targetRef: {name: gone}}
`,
    );
    const { logger, lines } = recordingLogger();
    await newSource(new Catalog(), logger).start();
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "warn",
        message:
          "LoadBalancingPolicy shop/orphan targets Service shop/gone, which does not exist; the policy has no effect",
      }),
    );
  });

  it("stops following the file after stop", async () => {
    await writeFile(file, manifests({ checkout: ["10.42.1.1"] }));
    const catalog = new Catalog();
    const source = newSource(catalog);
    await source.start();
    await source.stop();
    await writeFile(file, manifests({ checkout: ["10.42.1.2"] }));
    expect(await source.reload()).toEqual({ status: "unchanged" });
    // Longer than the debounce and a poll interval: a live watcher would have fired by now.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(addressesOf(catalog, "checkout")).toEqual(["10.42.1.1"]);
  });
});
