// The floor: the cost of Node's sockets and nothing else. One pre-encoded request,
// written as one Buffer; a response parser that only finds the end of the head and reads
// Content-Length. One request outstanding per connection; concurrency N opens N sockets.
// It is not a usable HTTP client (no chunked, no validation) and does not try to be.

import net from "node:net";

const CRLFCRLF = Buffer.from("\r\n\r\n");

class Lane {
  constructor(ctx, request, idle) {
    this.request = request;
    this.idle = idle; // the lane puts itself back here when its response is complete
    this.cb = null;
    this.head = null; // partial head across reads
    this.bodyLeft = -1; // -1 while reading the head
    this.socket = net.connect({
      host: new URL(ctx.origin).hostname,
      port: Number(new URL(ctx.origin).port),
      noDelay: true,
    });
    this.socket.on("data", (d) => this.onData(d));
    this.socket.on("error", (e) => this.fail(e));
    this.socket.on("close", () => this.fail(new Error("connection closed")));
  }

  send(cb) {
    this.cb = cb;
    this.bodyLeft = -1;
    this.socket.write(this.request);
  }

  onData(d) {
    if (this.bodyLeft < 0) {
      const buf = this.head ? Buffer.concat([this.head, d]) : d;
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        this.head = buf;
        return;
      }
      this.head = null;
      const head = buf.latin1Slice(0, end);
      const i = head.search(/\r\ncontent-length:/i);
      if (i < 0) return this.fail(new Error("floor client understands only Content-Length"));
      this.bodyLeft = Number.parseInt(head.slice(i + 17, head.indexOf("\r\n", i + 2) >>> 0), 10);
      this.bodyLeft -= buf.length - end - 4;
    } else {
      this.bodyLeft -= d.length;
    }
    if (this.bodyLeft === 0) {
      const cb = this.cb;
      this.cb = null;
      this.bodyLeft = -1;
      this.idle.push(this);
      cb(null);
    } else if (this.bodyLeft < 0) this.fail(new Error("more bytes than Content-Length (pipelining?)"));
  }

  fail(err) {
    const cb = this.cb;
    this.cb = null;
    if (cb) cb(err);
  }
}

export const variants = {
  floor: {
    rps(ctx) {
      const u = new URL(ctx.url);
      let head = `${ctx.method} ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n`;
      for (const [k, v] of Object.entries(ctx.headers)) head += `${k}: ${v}\r\n`;
      if (ctx.body) head += `Content-Length: ${ctx.body.length}\r\n`;
      const request = Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), ctx.body ?? Buffer.alloc(0)]);
      const idle = [];
      const all = [];
      return {
        send(cb) {
          let lane = idle.pop();
          if (lane === undefined) {
            lane = new Lane(ctx, request, idle);
            all.push(lane);
          }
          lane.send(cb);
        },
        async close() {
          for (const l of all) {
            l.cb = null;
            l.socket.destroy();
          }
        },
      };
    },
  },
};
