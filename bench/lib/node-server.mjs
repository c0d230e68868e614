// Fallback benchmark server when nginx is not installed: a raw `net` server in its own
// process. It skips node:http on purpose — node:http's server costs more CPU per request
// than the fastest clients do, and the server must never be the bottleneck. It parses
// just enough HTTP/1.1 for the benchmark's own requests (Content-Length or chunked
// request bodies, keep-alive, pipelining tolerated) and answers from pre-encoded buffers.
//
// Started by bench/lib/server.mjs as `node node-server.mjs` with an IPC channel; it
// prints nothing, sends {type:"listening", port} and answers {type:"stats"} with the
// number of TCP connections accepted so far (the side channel for "connections opened").

import net from "node:net";

const HELLO = Buffer.from("Hello, World!");
const BODY_64K = Buffer.alloc(64 * 1024, "x");
const JSON_OK = Buffer.from('{"ok":true}');
const CHUNK = Buffer.alloc(1 << 20, "d"); // streamed repeatedly for /download/<bytes>

function response(status, type, body, extra = "") {
  const head =
    `HTTP/1.1 ${status}\r\nServer: bench-node\r\nContent-Type: ${type}\r\n` +
    `Content-Length: ${body.length}\r\nConnection: keep-alive\r\n${extra}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

const RES_13 = response("200 OK", "text/plain", HELLO);
const RES_64K = response("200 OK", "application/octet-stream", BODY_64K);
const RES_JSON = response("200 OK", "application/json", JSON_OK);
const RES_404 = response("404 Not Found", "text/plain", Buffer.from("not found"));
const RES_400 = Buffer.from("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

let connections = 0;

const server = net.createServer({ noDelay: true }, (socket) => {
  connections++;
  new Conn(socket);
});

class Conn {
  constructor(socket) {
    this.socket = socket;
    this.buf = null; // unparsed bytes of a head split across reads
    this.state = 0; // 0 = head, 1 = fixed body, 2 = chunked body
    this.remaining = 0;
    this.received = 0;
    this.path = "";
    this.chunk = null; // chunked decoder sub-state
    this.paused = false;
    socket.on("data", (d) => this.onData(d));
    socket.on("error", () => {});
  }

  onData(data) {
    let d = this.buf ? Buffer.concat([this.buf, data]) : data;
    this.buf = null;
    while (d.length > 0) {
      if (this.state === 0) {
        const end = d.indexOf("\r\n\r\n");
        if (end < 0) {
          if (d.length > 64 * 1024) return this.fail();
          this.buf = d;
          return;
        }
        this.startRequest(d.latin1Slice(0, end));
        d = d.subarray(end + 4);
        if (this.state === 0) this.finish();
      } else if (this.state === 1) {
        const n = Math.min(this.remaining, d.length);
        this.remaining -= n;
        this.received += n;
        d = d.subarray(n);
        if (this.remaining === 0) {
          this.state = 0;
          this.finish();
        }
      } else {
        d = this.chunked(d);
        if (d === null) return;
      }
    }
  }

  startRequest(head) {
    const sp1 = head.indexOf(" ");
    const sp2 = head.indexOf(" ", sp1 + 1);
    this.path = head.slice(sp1 + 1, sp2);
    this.received = 0;
    // The trailing CRLF makes every header line, the last one included, end in "\r\n".
    const lower = `${head.toLowerCase()}\r\n`;
    const cl = lower.indexOf("\r\ncontent-length:");
    if (lower.includes("\r\ntransfer-encoding:") && lower.includes("chunked")) {
      this.state = 2;
      this.chunk = { size: -1, line: "" };
    } else if (cl >= 0) {
      const n = Number.parseInt(lower.slice(cl + 17, lower.indexOf("\r\n", cl + 2)).trim(), 10);
      this.remaining = n;
      this.state = n > 0 ? 1 : 0;
    }
  }

  // Minimal chunked decoder: returns the rest after the terminating chunk, or null when
  // all of `d` was consumed. Trailers are not expected from the benchmark clients.
  chunked(d) {
    const c = this.chunk;
    while (d.length > 0) {
      if (c.size < 0) {
        const nl = d.indexOf("\n");
        if (nl < 0) {
          c.line += d.latin1Slice(0, d.length);
          return null;
        }
        c.line += d.latin1Slice(0, nl);
        d = d.subarray(nl + 1);
        const line = c.line.trim();
        c.line = "";
        if (line === "") continue; // CRLF after a chunk's data
        c.size = Number.parseInt(line, 16);
        if (c.size === 0) {
          // Skip the final CRLF (no trailers expected).
          const nl2 = d.indexOf("\n");
          d = nl2 >= 0 ? d.subarray(nl2 + 1) : d.subarray(d.length);
          this.state = 0;
          this.finish();
          return d;
        }
      } else {
        const n = Math.min(c.size, d.length);
        c.size -= n;
        this.received += n;
        d = d.subarray(n);
        if (c.size === 0) c.size = -1;
      }
    }
    return null;
  }

  finish() {
    const p = this.path;
    if (p === "/13") this.socket.write(RES_13);
    else if (p === "/64k") this.socket.write(RES_64K);
    else if (p === "/json") this.socket.write(RES_JSON);
    else if (p === "/upload") {
      this.socket.write(response("200 OK", "application/json", Buffer.from(`{"bytes":${this.received}}`)));
    } else if (p.startsWith("/download/")) this.download(Number(p.slice(10)));
    else this.socket.write(RES_404);
  }

  // Streams `total` bytes with backpressure: the consumer's pace sets ours.
  download(total) {
    if (!Number.isSafeInteger(total) || total < 0) return this.fail();
    const s = this.socket;
    s.write(
      `HTTP/1.1 200 OK\r\nServer: bench-node\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: ${total}\r\nConnection: keep-alive\r\n\r\n`,
    );
    let left = total;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          s.once("drain", pump);
          return;
        }
      }
    };
    pump();
  }

  fail() {
    this.socket.end(RES_400);
    this.socket.destroy();
  }
}

server.listen({ host: "127.0.0.1", port: Number(process.env.BENCH_PORT || 0), backlog: 4096 }, () => {
  process.send?.({ type: "listening", port: server.address().port });
});

process.on("message", (m) => {
  if (m?.type === "stats") process.send({ type: "stats", connections, id: m.id });
});
// The runner owns this process; if the runner dies, the IPC channel closes and we go too.
process.on("disconnect", () => process.exit(0));
