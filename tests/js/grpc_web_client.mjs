// A real grpc-web client (@connectrpc/connect-web's grpc-web transport) calling BookingService
// through the gateway. The service comes from the contracts' descriptor set at run time, so no
// code generation is needed. Prints one JSON line per call for the Rust test to check.
//
// Usage: node grpc_web_client.mjs <gateway base URL> <descriptor set file> <calls JSON>
//   calls: [{"method": "getLaunch", "request": {...}, "headers": {...}}, ...]
import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary, toJson } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

const [baseUrl, descriptorPath, callsJson] = process.argv.slice(2);
const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, readFileSync(descriptorPath)),
);
const service = registry.getService("astrobookings.booking.v1.BookingService");
const transport = createGrpcWebTransport({ baseUrl, useBinaryFormat: true });
const client = createClient(service, transport);

for (const call of JSON.parse(callsJson)) {
  const method = service.methods.find((m) => m.localName === call.method);
  try {
    const response = await client[call.method](call.request, { headers: call.headers ?? {} });
    console.log(JSON.stringify({ ok: toJson(method.output, response, { registry }) }));
  } catch (error) {
    const connectError = ConnectError.from(error);
    console.log(
      JSON.stringify({
        code: Code[connectError.code],
        message: connectError.rawMessage,
        retryAfter: connectError.metadata.get("retry-after"),
      }),
    );
  }
}
