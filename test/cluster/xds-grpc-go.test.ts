/**
 * The same xDS assertions with a second, independent client: grpc-go's xDS support, built from
 * the Go module proxy into a tiny program (test/xds/go-client) and cached like the control
 * plane. It runs in the cluster suite, whose machines have the Go toolchain; it needs no
 * cluster itself. Each run of the program is a fresh client process, so every answer comes
 * through a whole xDS exchange.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceSpec } from "../support/manifests.ts";
import { startTestService, type TestService } from "../support/service.ts";
import { goClientBinary } from "../xds/go-client-binary.ts";
import {
  type Backends,
  backendEndpoints,
  bootstrap,
  HOLD_PATH,
  serviceYaml,
  startBackends,
} from "../xds/support.ts";

const run = promisify(execFile);

describe("a proxyless grpc-go client balanced by konsul-lb", () => {
  let binary: string;
  let backends: Backends;
  let service: TestService;

  interface Run {
    readonly target: string;
    readonly calls: number;
    readonly key?: string;
    readonly concurrency?: number;
    readonly method?: string;
    /** Uncounted calls first, so that every connection is up when the counting starts. */
    readonly warmup?: number;
  }

  /** One run of the Go client: hits per backend name. */
  async function goCalls(options: Run): Promise<Record<string, number>> {
    const args = [
      `-target=xds:///${options.target}`,
      `-calls=${options.calls}`,
      `-concurrency=${options.concurrency ?? 1}`,
      ...(options.key === undefined ? [] : [`-key=${options.key}`]),
      ...(options.method === undefined ? [] : [`-method=${options.method}`]),
      ...(options.warmup === undefined ? [] : [`-warmup=${options.warmup}`]),
    ];
    const config = JSON.stringify(bootstrap(service.xds?.port ?? 0, { nodeId: "go-client" }));
    const { stdout } = await run(binary, args, {
      env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: config },
      timeout: 30_000,
    });
    const result = JSON.parse(stdout) as Record<string, number> & { error?: string };
    if (typeof result.error === "string") throw new Error(`the Go client failed: ${result.error}`);
    return result;
  }

  async function metric(line: string): Promise<number> {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    const found = text.split("\n").find((each) => each.startsWith(`${line} `));
    return found === undefined ? 0 : Number(found.slice(line.length + 1));
  }

  beforeAll(async () => {
    binary = await goClientBinary();
    backends = await startBackends("web", 3);
    const base = (namespace: string, policy?: Record<string, unknown>): ServiceSpec => ({
      namespace,
      name: "web",
      port: backends.port,
      endpoints: backendEndpoints(backends),
      ...(policy === undefined ? {} : { policy }),
    });
    service = await startTestService(
      serviceYaml([
        base("rr"),
        {
          ...base("wrr", { strategy: "weighted-round-robin" }),
          endpoints: backendEndpoints(backends, (i) => ({ weightAnnotation: i === 1 ? "3" : "1" })),
        },
        base("sticky", { strategy: "ring-hash", ringHash: { hashOn: "session-key" } }),
        { ...base("unready"), endpoints: backendEndpoints(backends, (i) => ({ ready: i !== 1 })) },
        base("leastreq", { strategy: "least-request" }),
        base("maglev", { strategy: "maglev", maglev: { hashOn: "session-key" } }),
      ]),
      { xdsAddr: { host: "127.0.0.1", port: 0 } },
    );
  }, 25 * 60_000);

  afterAll(async () => {
    await service?.close();
    await backends?.stop();
  });

  it("round-robin: an even split", async () => {
    const hits = await goCalls({ target: "web.rr", calls: 300, warmup: 30 });
    expect(hits).toEqual({ "web-0": 100, "web-1": 100, "web-2": 100 });
  });

  it("weighted-round-robin 1:3:1 within tolerance", async () => {
    const hits = await goCalls({ target: "web.wrr", calls: 1000 });
    expect(Math.abs((hits["web-0"] ?? 0) - 200)).toBeLessThan(60);
    expect(Math.abs((hits["web-1"] ?? 0) - 600)).toBeLessThan(65);
    expect(Math.abs((hits["web-2"] ?? 0) - 200)).toBeLessThan(60);
  });

  it("an unready endpoint receives nothing", async () => {
    const hits = await goCalls({ target: "web.unready", calls: 100 });
    expect(hits["web-1"]).toBeUndefined();
    expect((hits["web-0"] ?? 0) + (hits["web-2"] ?? 0)).toBe(100);
  });

  it("ring-hash: each session key sticks to one backend; keys spread", async () => {
    const owners = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const hits = await goCalls({ target: "web.sticky", calls: 10, key: `user-${i}` });
      expect(Object.values(hits), `user-${i}`).toEqual([10]);
      owners.add(Object.keys(hits)[0] as string);
    }
    expect(owners.size).toBeGreaterThanOrEqual(2);
  });

  it("maglev degrades to ring_hash (still sticky), counted for grpc-go", async () => {
    const hits = await goCalls({ target: "web.maglev", calls: 10, key: "user-3" });
    expect(Object.values(hits)).toEqual([10]);
    expect(
      await metric(
        'konsul_lb_xds_fallbacks_total{strategy="maglev",client="grpc-go",policy="ring_hash"}',
      ),
    ).toBeGreaterThan(0);
  });

  it("least-request (gRFC A48): the backend holding long calls gets fewer new ones", async () => {
    const slow = backends.list[0];
    if (slow === undefined) throw new Error("no backend");
    slow.holdMs = 400;
    try {
      const load = { calls: 120, concurrency: 8, method: HOLD_PATH, warmup: 30 };
      // Round robin hands the slow backend its third regardless.
      const rr = await goCalls({ target: "web.rr", ...load });
      expect(rr).toEqual({ "web-0": 40, "web-1": 40, "web-2": 40 });
      const lr = await goCalls({ target: "web.leastreq", ...load });
      // Power of two choices sends a new call to the candidate with fewer calls in flight.
      expect(lr["web-0"] ?? 0).toBeLessThan(0.25 * 120);
      expect(
        await metric(
          'konsul_lb_xds_fallbacks_total{strategy="least-request",client="grpc-go",policy="wrr_locality"}',
        ),
      ).toBe(0);
    } finally {
      slow.holdMs = 0;
    }
  });
});
