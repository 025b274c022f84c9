/**
 * The DNS server's sockets: one UDP socket and one TCP listener on the same address and port,
 * both handing each message to the responder. TCP carries each message after a two-byte length
 * (RFC 1035 section 4.2.2) and may carry several queries on one connection (RFC 7766).
 */

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { createServer, isIP, type Server, type Socket } from "node:net";
import type { Logger } from "../observability/logger.ts";
import type { DnsResponder } from "./responder.ts";

export interface DnsListening {
  /** The address bound, without brackets for IPv6. */
  readonly host: string;
  /** The port bound on both UDP and TCP (port 0 asks for any free one). */
  readonly port: number;
  /** Stops both sockets and ends open TCP connections. */
  close(): Promise<void>;
}

export interface DnsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly responder: DnsResponder;
  readonly logger: Logger;
}

/** An idle TCP connection is closed after this long (RFC 7766 suggests seconds, not minutes). */
const TCP_IDLE_MS = 10_000;
const MAX_TCP_CONNECTIONS = 1024;
/** A client that stops reading its answers is cut off rather than buffered for without end. */
const MAX_TCP_BACKLOG_BYTES = 1024 * 1024;
/** Attempts at finding a port free on both UDP and TCP when any port will do. */
const PORT_ATTEMPTS = 10;

export async function startDnsServer(options: DnsServerOptions): Promise<DnsListening> {
  const address = isIP(options.host) === 0 ? (await lookup(options.host)).address : options.host;
  for (let attempt = 1; ; attempt++) {
    const udp = await bindUdp(address, options.port, options);
    const port = udp.address().port;
    try {
      const tcp = await listenTcp(address, port, options);
      return listening(address, port, udp, tcp);
    } catch (error) {
      udp.close();
      // The port UDP got may be taken on TCP; only when any port will do is another one as good.
      const busy = (error as NodeJS.ErrnoException).code === "EADDRINUSE";
      if (options.port !== 0 || !busy || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

function bindUdp(host: string, port: number, options: DnsServerOptions): Promise<UdpSocket> {
  const socket = createSocket({ type: isIP(host) === 6 ? "udp6" : "udp4" });
  socket.on("message", (message, peer) => {
    const answer = options.responder.answer(message, {
      address: peer.address,
      transport: "udp",
    });
    // Without a callback, a failed send is an "error" event, logged below.
    if (answer !== null) socket.send(answer, peer.port, peer.address);
  });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, host, () => {
      socket.off("error", reject);
      // Errors after binding (a send to an unreachable peer) concern one datagram only.
      socket.on("error", (error) => options.logger.warn({ err: error }, "DNS UDP socket error"));
      resolve(socket);
    });
  });
}

interface TcpListener {
  readonly server: Server;
  readonly connections: ReadonlySet<Socket>;
}

function listenTcp(host: string, port: number, options: DnsServerOptions): Promise<TcpListener> {
  const connections = new Set<Socket>();
  const server = createServer((socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
    serveConnection(socket, options);
  });
  server.maxConnections = MAX_TCP_CONNECTIONS;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve({ server, connections });
    });
  });
}

function serveConnection(socket: Socket, options: DnsServerOptions): void {
  let pending: Buffer = Buffer.alloc(0);
  const peer = socket.remoteAddress ?? "";
  socket.setNoDelay(true);
  socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
  socket.on("error", () => socket.destroy());
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (pending.length < 2 + length) break;
      const message = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      const answer = options.responder.answer(message, { address: peer, transport: "tcp" });
      if (answer === null) continue;
      const frame = Buffer.allocUnsafe(2 + answer.length);
      frame.writeUInt16BE(answer.length, 0);
      answer.copy(frame, 2);
      socket.write(frame);
      if (socket.writableLength > MAX_TCP_BACKLOG_BYTES) {
        socket.destroy();
        return;
      }
    }
  });
}

function listening(host: string, port: number, udp: UdpSocket, tcp: TcpListener): DnsListening {
  let closing: Promise<void> | null = null;
  return {
    host,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        let open = 2;
        const done = () => {
          if (--open === 0) resolve();
        };
        udp.close(done);
        tcp.server.close(() => done());
        // Answers are written as soon as their query arrives: once written out, nothing is left
        // to wait for on a connection but the client's next query.
        for (const socket of tcp.connections) socket.end(() => socket.destroy());
      });
      return closing;
    },
  };
}
