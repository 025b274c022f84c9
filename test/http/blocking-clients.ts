/**
 * A crowd of blocking-query clients in a process of its own, so that the server's process holds
 * only the server's side of them. Opens `count` requests to `url` (connections in batches, so
 * the listen backlog never overflows), prints "connected" once all are sent, and a JSON summary
 * once all are answered: arrival times on the shared wall clock (performance.timeOrigin + now).
 *
 *   node test/http/blocking-clients.ts <url> <count>
 */
import { Agent, get } from "node:http";

const [url = "", countText = "0"] = process.argv.slice(2);
const count = Number(countText);
const BATCH = 250;
const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

interface Arrival {
  readonly at: number;
  readonly status: number;
  readonly index: number;
}

function request(): { connected: Promise<void>; answered: Promise<Arrival> } {
  let connected!: () => void;
  const connectedPromise = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const answered = new Promise<Arrival>((resolve, reject) => {
    const req = get(url, { agent }, (res) => {
      const at = performance.timeOrigin + performance.now();
      res.resume();
      res.on("end", () =>
        resolve({ at, status: res.statusCode ?? 0, index: Number(res.headers["x-konsul-index"]) }),
      );
    });
    req.on("socket", (socket) => {
      if (socket.connecting) socket.once("connect", connected);
      else connected();
    });
    req.on("error", reject);
  });
  return { connected: connectedPromise, answered };
}

const answers: Promise<Arrival>[] = [];
for (let sent = 0; sent < count; sent += BATCH) {
  const batch = Array.from({ length: Math.min(BATCH, count - sent) }, request);
  answers.push(...batch.map((r) => r.answered));
  await Promise.all(batch.map((r) => r.connected));
}
process.stdout.write("connected\n");
const arrivals = await Promise.all(answers);
const times = arrivals.map((a) => a.at).sort((a, b) => a - b);
const summary = {
  count: arrivals.length,
  statuses: [...new Set(arrivals.map((a) => a.status))],
  indexes: [...new Set(arrivals.map((a) => a.index))],
  first: times[0],
  median: times[Math.floor(times.length / 2)],
  last: times[times.length - 1],
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
