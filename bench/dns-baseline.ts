/**
 * The yardstick of the DNS benchmark: the least a Node UDP server can do per query. It answers
 * every datagram with one fixed, pre-encoded answer, changing only the ID, and decides nothing.
 * konsul-lb's DNS server runs the same Node, the same event loop and the same socket calls, so
 * the ratio of the two isolates what decoding, deciding and encoding cost.
 *
 *   node bench/dns-baseline.ts <answer as hex>    prints "listening <port>" on 127.0.0.1
 */
import { createSocket } from "node:dgram";

const answer = Buffer.from(process.argv[2] ?? "", "hex");
if (answer.length < 12) {
  process.stderr.write("dns-baseline: expected an encoded DNS answer as hex\n");
  process.exit(2);
}
const socket = createSocket("udp4");
socket.on("message", (query, peer) => {
  if (query.length < 2) return;
  answer[0] = query[0] as number;
  answer[1] = query[1] as number;
  socket.send(answer, peer.port, peer.address);
});
socket.bind(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${socket.address().port}\n`);
});
process.on("SIGTERM", () => socket.close());
