import { describe, expect, it } from "vitest";
import { runCli, serveCli } from "../support/cli.ts";

describe("konsul-lb command", () => {
  it("--help describes serve, its flags and environment variables", async () => {
    const { code, stdout } = await runCli(["--help"]);
    expect(code).toBe(0);
    for (const word of [
      "serve",
      "--file",
      "--http-addr",
      "--default-strategy",
      "--config",
      "--log-level",
      "KONSUL_LB_HTTP_ADDR",
    ]) {
      expect(stdout).toContain(word);
    }
    expect((await runCli(["serve", "--help"])).code).toBe(0);
  });

  it("exits 2 with a message naming the setting for bad input", async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [["serve", "--log-level", "loud"], {}, "--log-level"],
      [["serve", "--default-strategy", "fastest"], {}, "fastest"],
      [["serve", "--http-addr", "localhost"], {}, "--http-addr"],
      [["serve", "--no-such-flag"], {}, "--no-such-flag"],
      [["serve"], { KONSUL_LB_LOG_LEVEL: "loud" }, "KONSUL_LB_LOG_LEVEL"],
      [["frobnicate"], {}, "frobnicate"],
    ];
    for (const [args, env, mentions] of cases) {
      const { code, stderr } = await runCli(args, env);
      expect(code, args.join(" ")).toBe(2);
      expect(stderr).toContain(mentions);
    }
  });

  it("exits 1 and says why when the manifest file cannot be loaded", async () => {
    const { code, stderr } = await runCli([
      "serve",
      "--file",
      "does-not-exist.yaml",
      "--http-addr",
      "127.0.0.1:0",
    ]);
    expect(code).toBe(1);
    expect(stderr).toContain("does-not-exist.yaml");
  });

  it("serves the demo and stops cleanly on SIGTERM, finishing requests in flight", async () => {
    const server = await serveCli(["--file", "examples/demo.yaml"]);
    const services: any = await (await fetch(`${server.url}/v1/services`)).json();
    expect(services.services.length).toBeGreaterThanOrEqual(3);
    const inFlight = Array.from({ length: 50 }, () =>
      fetch(`${server.url}/v1/services/shop/cart/pick`).then(
        (response) => response.status,
        () => "refused",
      ),
    );
    server.child.kill("SIGTERM");
    const statuses = await Promise.all(inFlight);
    for (const status of statuses) expect([200, "refused"]).toContain(status);
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain("konsul-lb stopped");
  });

  it("takes its settings from environment variables", async () => {
    const server = await serveCli([], {
      KONSUL_LB_FILE: "examples/demo.yaml",
      KONSUL_LB_DEFAULT_STRATEGY: "random",
    });
    const reply: any = await (await fetch(`${server.url}/v1/services/shop/cart/pick`)).json();
    expect(reply.strategy).toBe("random");
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });
});
