/**
 * Expect: 100-continue (issues 3 and 12), after Go's TestTransportExpect100Continue cases:
 * the head goes first and the body waits for `100 Continue` (sent), a final status (sent
 * and the connection kept when the response leaves it open, as Go does; never sent when
 * the response closes it), or expectContinueTimeout (sent anyway).
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { Readable } from "node:stream";
import { test } from "node:test";
import type { BodyInit } from "../../src/body/outgoing.js";
import { Transport } from "../../src/index.js";
import {
  assertNoLeaks,
  closeAfter,
  rawServer,
  readMessage,
  reply,
  serve,
  tcpHandles,
  waitFor,
} from "../helpers.js";

/** Reads a request head only; returns it and any bytes after it (pushed back for later reads). */
function readHead(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.pause();
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(buf.subarray(0, end).toString("latin1"));
    };
    const onClose = () => reject(new Error("closed before a head"));
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

/** Reads exactly n body bytes (Content-Length framing). */
function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length < n) return;
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.pause();
      if (buf.length > n) socket.unshift(buf.subarray(n));
      resolve(buf.subarray(0, n));
    };
    const onClose = () => reject(new Error(`closed after ${buf.length} of ${n} bytes`));
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.resume();
  });
}

/** Counts the bytes that arrive until the peer closes. */
function countUntilClose(socket: net.Socket): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    socket.on("data", (c: Buffer) => {
      n += c.length;
    });
    socket.on("close", () => resolve(n));
    socket.resume();
  });
}

type ServerMode = "continue" | "final-keepalive" | "final-ok-keepalive" | "final-close" | "silent";

interface ExpectCase {
  name: string;
  mode: ServerMode;
  /** The server gets the body. */
  sent: boolean;
  status: number;
  reused: boolean;
}

const cases: ExpectCase[] = [
  {
    name: "server sends 100 Continue: body sent, conn reused",
    mode: "continue",
    sent: true,
    status: 200,
    reused: true,
  },
  {
    // Go's rule (persistConn.readResponse): a final status on a connection that stays open
    // still gets the body (the server reads or discards it), and the connection is kept.
    name: "server answers 417 first (keep-alive): body sent anyway, conn reused",
    mode: "final-keepalive",
    sent: true,
    status: 417,
    reused: true,
  },
  {
    name: "server answers 200 first (keep-alive): body sent, conn reused",
    mode: "final-ok-keepalive",
    sent: true,
    status: 200,
    reused: true,
  },
  {
    name: "server answers 500 first with Connection: close: body not sent",
    mode: "final-close",
    sent: false,
    status: 500,
    reused: false,
  },
  {
    name: "server silent: body sent after expectContinueTimeout, conn reused",
    mode: "silent",
    sent: true,
    status: 200,
    reused: true,
  },
];

const bodies: Array<{ kind: string; make: () => BodyInit }> = [
  { kind: "bytes", make: () => Buffer.from("0123456789") },
  {
    kind: "stream with a length header",
    make: () => Readable.from([Buffer.from("01234"), Buffer.from("56789")]),
  },
];

for (const c of cases) {
  for (const b of bodies) {
    test(`Expect: 100-continue, ${c.name} (${b.kind})`, async (ctx) => {
      const base = tcpHandles();
      const seen: Array<{ head: string; body: Buffer | null; after: number }> = [];
      const peer = await serve(ctx, rawServer, async (socket, index) => {
        socket.on("error", () => {});
        if (index > 0) {
          // The follow-up request on a new connection.
          await readMessage(socket);
          socket.write(reply("next"));
          return;
        }
        const head = await readHead(socket);
        const entry = { head, body: null as Buffer | null, after: -1 };
        seen.push(entry);
        switch (c.mode) {
          case "continue":
            socket.write("HTTP/1.1 100 Continue\r\n\r\n");
            entry.body = await readBytes(socket, 10);
            socket.write(reply("got it"));
            break;
          case "silent":
            entry.body = await readBytes(socket, 10);
            socket.write(reply("got it"));
            break;
          case "final-keepalive":
            socket.write(reply("", "417 Expectation Failed"));
            entry.body = await readBytes(socket, 10);
            break;
          case "final-ok-keepalive":
            socket.write(reply("early"));
            entry.body = await readBytes(socket, 10);
            break;
          case "final-close":
            socket.write(reply("", "500 Internal Server Error", ["Connection: close"]));
            entry.after = await countUntilClose(socket);
            return;
        }
        const follow = readMessage(socket);
        socket.resume();
        await follow;
        socket.write(reply("next"));
      });
      const t = closeAfter(ctx, new Transport({ expectContinueTimeout: c.mode === "silent" ? 50 : 60_000 }));
      const events: string[] = [];
      const res = await t.roundTrip({
        url: peer.url,
        method: "PUT",
        body: b.make(),
        headers: b.kind === "bytes" ? {} : { "Content-Length": "10" },
        expectContinue: true,
        trace: {
          wroteHeaders: () => events.push("wroteHeaders"),
          wait100Continue: () => events.push("wait100Continue"),
          got100Continue: () => events.push("got100Continue"),
          got1xxResponse: (code) => events.push(`got1xx:${code}`),
          wroteRequest: (i) => events.push(`wroteRequest${i.err ? ":err" : ""}`),
        },
      });
      assert.equal(res.status, c.status);
      await res.text();
      assert.match(seen[0]!.head, /\r\nExpect: 100-continue/i);
      // After a final status the body may still be going out: the connection is idle
      // (kept) once it has.
      if (c.reused) await waitFor(() => t.stats().idle === 1, 2000, "the connection to go idle");
      const next = await t.roundTrip({ url: peer.url });
      assert.equal(await next.text(), "next");
      assert.equal(next.conn.reused, c.reused);
      // Checked here: after a final status the body goes out after the response came.
      if (c.sent) assert.equal(seen[0]!.body?.toString(), "0123456789");
      const expected = ["wroteHeaders", "wait100Continue"];
      if (c.mode === "continue") expected.push("got100Continue", "got1xx:100");
      if (c.sent) expected.push("wroteRequest");
      assert.deepEqual(events, expected);
      if (!c.sent) {
        await waitFor(() => seen[0]!.after >= 0, 2000, "the declined connection to close");
        assert.equal(seen[0]!.after, 0, "no body byte was sent after the final status");
      }
      assert.equal(peer.connections, c.reused ? 1 : 2);
      await peer.close();
      await assertNoLeaks(t, base);
    });
  }
}

test("expectContinue without a body sends no Expect header", async (ctx) => {
  const base = tcpHandles();
  let head = "";
  const peer = await serve(ctx, rawServer, async (socket) => {
    head = (await readMessage(socket)).head;
    socket.write(reply());
  });
  const t = closeAfter(ctx, new Transport());
  await (await t.roundTrip({ url: peer.url, expectContinue: true })).text();
  assert.doesNotMatch(head, /expect/i);
  await peer.close();
  await assertNoLeaks(t, base);
});
