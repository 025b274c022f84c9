/**
 * A crowd of xDS clients in a process of its own (so the server's heap is the server's alone):
 *
 *   node test/xds/ads-crowd-process.ts <port> <clients> <pushes> <name>
 *
 * Each client opens its own connection and subscribes as gRPC does (Listener, then route,
 * cluster and endpoints of <name>, ACKing each). It prints "ready <clients>" once every client
 * holds all four, then records when each endpoint push arrives (wall clock, ms), ACKs it, and
 * after <pushes> pushes on every client prints one JSON line, {"arrivals": [[...per client]...
 * per push]}, and exits. Bounded: it gives up after two minutes.
 */
import { AdsTestClient, type Kind } from "./ads-client.ts";

const [port, clients, pushes, name] = process.argv.slice(2);
const count = Number(clients);
const rounds = Number(pushes);
const ORDER: readonly Kind[] = ["listener", "route", "cluster", "endpoint"];
const now = () => performance.timeOrigin + performance.now();

setTimeout(() => {
  console.error("the xDS crowd gave up after two minutes");
  process.exit(3);
}, 120_000).unref();

async function subscribe(client: AdsTestClient): Promise<void> {
  for (const kind of ORDER) {
    client.send(kind, { resource_names: [name as string] });
    const response = await client.next(30_000);
    client.send(kind, {
      resource_names: [name as string],
      response_nonce: response.nonce,
      version_info: response.version_info,
    });
  }
}

const crowd = Array.from(
  { length: count },
  (_, i) => new AdsTestClient(Number(port), { id: `crowd-${i}`, locality: {} }, true),
);
for (let i = 0; i < crowd.length; i += 50) await Promise.all(crowd.slice(i, i + 50).map(subscribe));
console.log(`ready ${count}`);

const arrivals: number[][] = Array.from({ length: rounds }, () => []);
await Promise.all(
  crowd.map(async (client) => {
    for (let round = 0; round < rounds; ) {
      const response = await client.next(60_000);
      // Only the endpoints change between pushes; anything else would be a defect, and shows
      // up as a missing round.
      if (!response.type_url.endsWith("ClusterLoadAssignment")) continue;
      (arrivals[round++] as number[]).push(now());
      client.send("endpoint", {
        resource_names: [name as string],
        response_nonce: response.nonce,
        version_info: response.version_info,
      });
    }
  }),
);
console.log(JSON.stringify({ arrivals }));
for (const client of crowd) client.close();
process.exit(0);
