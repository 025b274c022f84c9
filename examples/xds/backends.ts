/**
 * Three gRPC backends for examples/xds/greeter.yaml: greeter-0..2 on 127.0.0.2..4, port 50051.
 * Each answers /demo.Greeter/Who with its own name. Stop with Ctrl-C.
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";

const PORT = Number(process.env.PORT ?? 50051);
const raw = (value: Buffer) => value;

for (let i = 0; i < 3; i++) {
  const name = `greeter-${i}`;
  const server = new Server();
  server.addService(
    {
      Who: {
        path: "/demo.Greeter/Who",
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    {
      Who: (_call: unknown, done: (error: null, reply: Buffer) => void) =>
        done(null, Buffer.from(name)),
    },
  );
  server.bindAsync(
    `127.0.0.${i + 2}:${PORT}`,
    ServerCredentials.createInsecure(),
    (error, port) => {
      if (error) throw error;
      console.log(`${name} listening on 127.0.0.${i + 2}:${port}`);
    },
  );
}
