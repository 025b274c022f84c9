/**
 * A proxyless gRPC client: it dials an xds:/// target (the bootstrap comes from
 * GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG), makes CALLS calls (default 100) and prints
 * how many each backend answered. Nothing of konsul-lb is in it: only @grpc/grpc-js-xds.
 *
 *   GRPC_XDS_BOOTSTRAP=examples/xds/bootstrap.json node examples/xds/client.ts xds:///greeter.demo
 */
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { register } from "@grpc/grpc-js-xds";

register();
const target = process.argv[2] ?? "xds:///greeter.demo";
const calls = Number(process.env.CALLS ?? 100);
const sessionKey = process.env.SESSION_KEY;
const raw = (value: Buffer) => value;
const client = new Client(target, credentials.createInsecure());

function who(): Promise<string> {
  // wait-for-ready: a fresh process's first calls wait for the connections (grpc-js 1.14 under
  // wrr_locality otherwise fails them at once with "No connection established"); the deadline
  // still bounds them.
  const metadata = new Metadata({ waitForReady: true });
  // Hash strategies (ring-hash, maglev) hash this header.
  if (sessionKey !== undefined) metadata.set("x-session-key", sessionKey);
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      "/demo.Greeter/Who",
      raw,
      raw,
      Buffer.alloc(0),
      metadata,
      { deadline: Date.now() + 5000 },
      (error, reply) => (error ? reject(error) : resolve(String(reply))),
    ),
  );
}

const counts: Record<string, number> = {};
for (let i = 0; i < calls; i++) {
  const name = await who();
  counts[name] = (counts[name] ?? 0) + 1;
}
console.log(JSON.stringify(Object.fromEntries(Object.entries(counts).sort())));
client.close();
