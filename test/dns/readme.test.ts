/** The README's DNS examples, run against the demo as `npm start` serves it. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { serveCli } from "../support/cli.ts";
import { readRepoFile, shellBlocks } from "../support/markdown.ts";

const run = promisify(execFile);

async function shellBlock(heading: string): Promise<string> {
  const [block] = shellBlocks(await readRepoFile("README.md"), heading);
  if (block === undefined) throw new Error(`README has no shell block under "${heading}"`);
  return block;
}

describe("README: DNS", () => {
  it("npm start serves DNS on 127.0.0.1:5353", async () => {
    const scripts = JSON.parse(await readRepoFile("package.json")).scripts;
    expect(scripts.start).toContain("--dns-addr 127.0.0.1:5353");
  });

  it("every dig of the DNS section answers as the text says", async () => {
    const server = await serveCli(["--file", "examples/demo.yaml", "--dns-addr", "127.0.0.1:0"]);
    try {
      const port = /DNS on 127\.0\.0\.1:(\d+)/.exec(server.output())?.[1];
      expect(port).toBeDefined();
      const block = (await shellBlock("DNS")).replaceAll("-p 5353", `-p ${port}`);
      const commands = block.split("\n").filter((line) => line.startsWith("dig "));
      expect(commands).toHaveLength(5);
      const outputs: string[] = [];
      for (const command of commands) {
        const { stdout } = await run("bash", ["-eu", "-c", `${command} +tries=1 +time=3`]);
        outputs.push(stdout);
      }
      const [cart, checkout, payments, srv, subnet] = outputs.map((o) =>
        o.split("\n").filter((line) => line.trim() !== ""),
      ) as [string[], string[], string[], string[], string[]];
      expect(cart.slice().sort()).toEqual(["10.42.1.64", "10.44.1.12"]);
      // The ready checkout pods; the one that is not ready is left out.
      expect(checkout.slice().sort()).toEqual(["10.42.1.17", "10.42.2.31"]);
      expect(payments[0]).toBe("10.44.1.30");
      expect(srv.filter((line) => /\sSRV\s/.test(line))).toHaveLength(3);
      expect(srv.filter((line) => /\sA\s/.test(line))).toHaveLength(3);
      expect(subnet.slice().sort()).toEqual(["10.42.1.17", "10.42.2.31"]);

      // The DNS answer for a key puts first the pod that the HTTP API picks for it.
      const pick = (await (
        await fetch(`${server.url}/v1/services/shop/checkout/pick?session-key=user-42`)
      ).json()) as { endpoint: { address: string } };
      expect(checkout[0]).toBe(pick.endpoint.address);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  });
});
