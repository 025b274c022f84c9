import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type express from "express";
import { answerClientErrors, MAX_HEADER_BYTES } from "./limits.ts";

export interface Listening {
  readonly server: Server;
  /** Base URL with the port actually bound (port 0 asks for any free one). */
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish, then resolves. */
  close(): Promise<void>;
}

/** Answers a request itself and returns true, or returns false to leave it to the app. */
export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

export function listen(
  app: express.Express,
  host: string,
  port: number,
  fastPath?: FastPath,
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
      if (!fastPath?.(req, res)) app(req, res);
    });
    answerClientErrors(server);
    server.listen(port, host);
    server.once("error", reject);
    server.once("listening", () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
      resolve({
        server,
        url: `http://${shownHost}:${address.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // Idle keep-alive sockets would hold close() open; busy ones finish their request.
            server.closeIdleConnections();
          }),
      });
    });
  });
}
