// One benchmark server, in a process of its own so its CPU time can be read from
// /proc/<pid>/stat: `node server.mjs <mode> <file>` listens on 127.0.0.1 (port 0) and
// prints {"port":N,"zeroCopy":{...}} once ready. Modes:
//   servefile  roundtrip-http/server's serveFile (sendfile(2) when the addon is live)
//   servefile-cork  the same with { tcpCork: true } (nginx's `tcp_nopush on`)
//   stream     serveFile with zeroCopy: false (its pooled res.write loop)
//   pipe       fs.createReadStream(path).pipe(res), the usual Node answer, same headers
// Loads roundtrip from ../../dist (run.mjs builds it first).

import { createReadStream, statSync } from "node:fs";
import http from "node:http";

const [mode, file] = process.argv.slice(2);
const { serveFile } = await import(new URL("../../dist/server/index.js", import.meta.url).href);
const { zeroCopy } = await import(new URL("../../dist/body/zerocopy.js", import.meta.url).href);

const handlers = {
  servefile: (req, res) => serveFile(req, res, file),
  "servefile-cork": (req, res) => serveFile(req, res, file, { tcpCork: true }),
  stream: (req, res) => serveFile(req, res, file, { zeroCopy: false }),
  pipe: (_req, res) => {
    const size = statSync(file).size;
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": size });
    createReadStream(file).pipe(res);
  },
};
const handler = handlers[mode];
if (!handler) throw new Error(`unknown mode ${mode}`);

const server = http.createServer(handler);
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port, zeroCopy }));
});
process.on("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
