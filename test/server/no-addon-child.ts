/**
 * Run by cork.test.ts in a child process with ROUNDTRIP_NO_ZEROCOPY=1: serves a file with
 * `tcpCork: true`, where TCP_CORK cannot be set, and reports whether the response was
 * byte-exact, the route and path it took, and whether the connection was left corked.
 * Prints one JSON line.
 */
import type { Socket } from "node:net";
import { sendFileStats, tcpCorked, zeroCopy } from "../../src/body/zerocopy.js";
import { serveFile } from "../../src/server/index.js";
import { makeFixtures } from "./fixtures.js";
import { get, sha256, startServer } from "./helpers.js";

const fx = makeFixtures(3 << 20);
let socket: Socket | undefined;
const server = await startServer((req, res) => {
  socket = req.socket;
  return serveFile(req, res, "big.bin", { root: fx.root, tcpCork: true });
});
try {
  const r = await get(server.port, "/");
  const result = await server.results[0]!;
  console.log(
    JSON.stringify({
      ok: r.status === 200 && sha256(r.body) === sha256(fx.big),
      transfer: result.transfer,
      path: sendFileStats().lastPath,
      corked: socket === undefined ? "no request" : (tcpCorked(socket) ?? null),
      available: zeroCopy.available,
    }),
  );
} finally {
  await server.close();
  fx.remove();
}
