import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { ClientCredential } from "./pki.ts";

export interface TlsClient {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export function tlsClient(caCert: string, credential: ClientCredential): TlsClient {
  return {
    ca: readFileSync(caCert),
    cert: readFileSync(credential.cert),
    key: readFileSync(credential.key),
  };
}

export interface HttpReply {
  readonly status: number;
  readonly body: string;
}

/**
 * GET with a client certificate. Global fetch takes no CA or client certificate without an
 * undici dispatcher, which is not a dependency of the project.
 */
export function httpsGet(url: string, tls: TlsClient, timeoutMs = 5000): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, method: "GET", timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}
