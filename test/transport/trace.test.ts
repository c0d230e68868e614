/**
 * ClientTrace hooks and response.timings / response.conn (issue 3), after Go's
 * TestTransportEventTrace (and _NoHooks): the hooks fire at Go's moments in Go's order,
 * DNS hooks only for names, gotConn once per attempt, putIdleConn with an error when the
 * connection is not kept.
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import { type ClientTrace, Transport } from "../../src/index.js";
import {
  assertNoLeaks,
  closeAfter,
  gatedDial,
  holdingServer,
  rawServer,
  readMessage,
  reply,
  scriptedServer,
  serve,
  tcpHandles,
  waitFor,
} from "../helpers.js";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";

/** A trace recording every hook by name (with a short detail where useful). */
function recorder(): { events: string[]; trace: ClientTrace } {
  const events: string[] = [];
  const trace: ClientTrace = {
    getConn: (hp) => events.push(`getConn ${hp}`),
    gotConn: (i) => events.push(`gotConn reused=${i.reused} wasIdle=${i.wasIdle}`),
    putIdleConn: (err) => events.push(`putIdleConn${err ? " err" : ""}`),
    dnsStart: (i) => events.push(`dnsStart ${i.host}`),
    dnsDone: (i) => events.push(`dnsDone ${i.addresses.includes("127.0.0.1")}${i.err ? " err" : ""}`),
    connectStart: (n, a) => events.push(`connectStart ${n} ${a}`),
    connectDone: (n, a, e) => events.push(`connectDone ${n} ${a}${e ? " err" : ""}`),
    tlsHandshakeStart: () => events.push("tlsHandshakeStart"),
    tlsHandshakeDone: () => events.push("tlsHandshakeDone"),
    wroteHeaderField: (k) => events.push(`field ${k}`),
    wroteHeaders: () => events.push("wroteHeaders"),
    wait100Continue: () => events.push("wait100Continue"),
    got100Continue: () => events.push("got100Continue"),
    got1xxResponse: (c) => events.push(`got1xx ${c}`),
    gotFirstResponseByte: () => events.push("gotFirstResponseByte"),
    wroteRequest: (i) => events.push(`wroteRequest${i.err ? " err" : ""}`),
  };
  return { events, trace };
}

for (const host of ["127.0.0.1", "localhost"]) {
  test(`hooks in Go's order on a new then a reused connection (${host})`, async (ctx) => {
    const base = tcpHandles();
    const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply()));
    const t = closeAfter(ctx, new Transport());
    const url = `http://${host}:${peer.port}/`;
    const hp = `${host}:${peer.port}`;
    const first = recorder();
    const res = await t.roundTrip({ url, trace: first.trace });
    await res.text();
    const dns = host === "localhost" ? [`dnsStart localhost`, "dnsDone true"] : [];
    assert.deepEqual(first.events, [
      `getConn ${hp}`,
      ...dns,
      `connectStart tcp 127.0.0.1:${peer.port}`,
      `connectDone tcp 127.0.0.1:${peer.port}`,
      "gotConn reused=false wasIdle=false",
      "field Host",
      "field User-Agent",
      "field Accept-Encoding",
      "wroteHeaders",
      "wroteRequest",
      "gotFirstResponseByte",
      "putIdleConn",
    ]);
    await sleep(5);
    const second = recorder();
    await (await t.roundTrip({ url, trace: second.trace })).text();
    assert.deepEqual(
      second.events.filter((e) => !e.startsWith("field")),
      [
        `getConn ${hp}`,
        "gotConn reused=true wasIdle=true",
        "wroteHeaders",
        "wroteRequest",
        "gotFirstResponseByte",
        "putIdleConn",
      ],
    );
    await peer.close();
    await assertNoLeaks(t, base);
  });
}

/**
 * A request whose putIdleConn report is returned: null (pooled or handed on) or the
 * error's message. `firstByte` runs as the response starts arriving.
 */
async function putIdleReport(
  t: Transport,
  url: string,
  opts: { firstByte?: () => void; close?: boolean } = {},
): Promise<string | null> {
  let report: string | null | undefined;
  const res = await t.roundTrip({
    url,
    close: opts.close,
    trace: {
      gotFirstResponseByte: opts.firstByte,
      putIdleConn: (err) => {
        report = err === null ? null : err.message;
      },
    },
  });
  await res.text();
  assert.notEqual(report, undefined, "putIdleConn fired");
  return report ?? null;
}

test("putIdleConn reports the pool's real decision, after it is taken: kept, or why not", async (ctx) => {
  const base = tcpHandles();
  const { peer, hold } = await holdingServer(ctx, "/held");
  const url = (path: string) => `${peer.url}${path}`;
  // Kept: null, and the connection is idle when the hook runs.
  const t = closeAfter(ctx, new Transport({ maxIdleConnsPerHost: 1 }));
  let idleAtReport = -1;
  const kept = await t.roundTrip({
    url: url("/a"),
    trace: {
      putIdleConn: () => {
        idleAtReport = t.stats().idle;
      },
    },
  });
  await kept.text();
  assert.equal(idleAtReport, 1, "reported after the connection went idle");
  // Too many idle for the host: two at once, one slot; the second one back is refused.
  let heldReport: string | null | undefined;
  const held = t.roundTrip({
    url: url("/held"),
    trace: {
      putIdleConn: (e) => {
        heldReport = e?.message ?? null;
      },
    },
  });
  await waitFor(() => peer.requests.length === 2, 2000, "/held at the server");
  assert.equal(await putIdleReport(t, url("/b")), null);
  hold.resolve();
  await (await held).text();
  assert.match(String(heldReport), /too many idle connections for host/);
  // closeIdleConnections() called while the response was arriving.
  assert.match(
    String(await putIdleReport(t, url("/c"), { firstByte: () => t.closeIdleConnections() })),
    /closeIdleConnections/,
  );
  // The connection itself cannot be reused: the request asked to close, or keep-alives are off.
  assert.match(String(await putIdleReport(t, url("/d"), { close: true })), /request asked to close/);
  const noKeepAlive = closeAfter(ctx, new Transport({ disableKeepAlives: true }));
  assert.match(String(await putIdleReport(noKeepAlive, url("/e"))), /keep-alives are disabled/);
  await peer.close();
  await assertNoLeaks(noKeepAlive, base);
  await assertNoLeaks(t, base);
});

test("putIdleConn reports why a connection was not kept; 1xx and 100-continue hooks in order", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, rawServer, (socket) => {
    socket.on("error", () => {});
    let seen = "";
    socket.on("data", (c: Buffer) => {
      seen += c.toString("latin1");
      if (!seen.includes("\r\n\r\n")) return;
      if (!seen.endsWith("abc")) {
        socket.write("HTTP/1.1 100 Continue\r\n\r\n");
        return;
      }
      socket.write("HTTP/1.1 103 Early Hints\r\n\r\n");
      socket.end(reply("x", "200 OK", ["Connection: close"]));
    });
  });
  // A long expectContinueTimeout: the body can only go out after the 100.
  const t = closeAfter(ctx, new Transport({ expectContinueTimeout: 60_000 }));
  const r = recorder();
  const res = await t.roundTrip({
    url: peer.url,
    method: "PUT",
    body: "abc",
    expectContinue: true,
    trace: r.trace,
  });
  await res.text();
  assert.deepEqual(
    r.events.filter((e) => !e.startsWith("field") && !e.startsWith("connect") && !e.startsWith("getConn")),
    [
      "gotConn reused=false wasIdle=false",
      "wroteHeaders",
      "wait100Continue",
      "gotFirstResponseByte",
      "got100Continue",
      "got1xx 100",
      "wroteRequest",
      "got1xx 103",
      "putIdleConn err",
    ],
  );
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a trace with no hooks, and no trace at all, both work", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply("ok")));
  const t = closeAfter(ctx, new Transport());
  assert.equal(await (await t.roundTrip({ url: peer.url, trace: {} })).text(), "ok");
  assert.equal(await (await t.roundTrip({ url: peer.url })).text(), "ok");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("a failed connect reports connectDone with the error; no gotConn", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, () => {});
  const port = peer.port;
  await peer.close(); // nothing listens there now
  const t = closeAfter(ctx, new Transport());
  const r = recorder();
  await assert.rejects(t.roundTrip({ url: `http://127.0.0.1:${port}/`, trace: r.trace }), {
    code: "ERR_CONNECT",
  });
  assert.deepEqual(r.events, [
    `getConn 127.0.0.1:${port}`,
    `connectStart tcp 127.0.0.1:${port}`,
    `connectDone tcp 127.0.0.1:${port} err`,
  ]);
  await assertNoLeaks(t, base);
});

test("response.timings and response.conn are filled", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, scriptedServer, (req) => void req.socket.write(reply("timed")));
  const t = closeAfter(ctx, new Transport());
  const byName = await t.roundTrip({ url: `http://localhost:${peer.port}/` });
  await byName.text();
  assert.ok(byName.timings.dnsDone >= 0, "a name was resolved, even without a trace");
  const a = await t.roundTrip({ url: peer.url });
  await a.text();
  const ta = a.timings;
  assert.equal(ta.dnsDone, -1, "an IP literal needs no DNS");
  assert.equal(ta.tlsDone, -1, "plain http");
  const order = [ta.queued, ta.connectDone, ta.wroteHeaders, ta.wroteRequest, ta.firstByte, ta.end];
  for (const v of order) assert.ok(v >= 0, `all set: ${JSON.stringify(ta)}`);
  assert.deepEqual(
    [...order].sort((x, y) => x - y),
    order,
    `in order: ${JSON.stringify(ta)}`,
  );
  assert.deepEqual(
    { ...a.conn, idleTime: 0 },
    { reused: false, wasIdle: false, idleTime: 0, localAddress: "127.0.0.1", remoteAddress: "127.0.0.1" },
  );
  await sleep(5);
  const b = await t.roundTrip({ url: peer.url });
  await b.text();
  assert.equal(b.timings.connectDone, -1, "no dial on a reused connection");
  assert.ok(b.timings.queued >= 0 && b.timings.firstByte >= b.timings.wroteRequest);
  assert.equal(b.conn.reused, true);
  assert.equal(b.conn.wasIdle, true);
  assert.ok(b.conn.idleTime > 0, "it sat idle for a while");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("timings describe the connection used: a late dial does not rewrite the timings of the request that started it", async (ctx) => {
  const base = tcpHandles();
  const { peer, hold } = await holdingServer(ctx, "/hold");
  const dialer = gatedDial();
  const t = closeAfter(ctx, new Transport({ dial: dialer.dial }));
  const first = t.roundTrip({ url: `${peer.url}/hold` });
  await waitFor(() => dialer.pending === 1, 2000, "first dial");
  dialer.step();
  await waitFor(() => peer.requests.length === 1, 2000, "/hold at the server");
  const second = t.roundTrip({ url: `${peer.url}/second` });
  await waitFor(() => dialer.pending === 1, 2000, "second dial");
  hold.resolve();
  const a = await first;
  await a.text();
  assert.ok(a.timings.connectDone >= 0 && a.timings.queued <= a.timings.connectDone);
  const b = await second;
  await b.text();
  assert.equal(b.conn.reused, true);
  const snapshot = { ...b.timings };
  assert.equal(snapshot.connectDone, -1, "served by a pooled connection: no dial of its own");
  dialer.step();
  await waitFor(() => t.stats().idle === 2, 2000, "the late dial to park");
  assert.deepEqual(b.timings, snapshot);
  await peer.close();
  await assertNoLeaks(t, base);
});

test("https: TLS hooks between connectDone and gotConn; timings.tlsDone filled", async (ctx) => {
  const base = tcpHandles();
  const peer = await serve(ctx, rawServer, (socket) => {
    socket.on("error", () => {});
    const secure = new tls.TLSSocket(socket, { isServer: true, key: TLS_KEY, cert: TLS_CERT });
    secure.on("error", () => {});
    void readMessage(secure as unknown as net.Socket).then(() => secure.write(reply("secure")));
  });
  const t = closeAfter(ctx, new Transport({ tls: { rejectUnauthorized: false } }));
  const r = recorder();
  const res = await t.roundTrip({ url: `https://127.0.0.1:${peer.port}/`, trace: r.trace });
  assert.equal(await res.text(), "secure");
  assert.deepEqual(
    r.events.filter((e) => !e.startsWith("field")),
    [
      `getConn 127.0.0.1:${peer.port}`,
      `connectStart tcp 127.0.0.1:${peer.port}`,
      `connectDone tcp 127.0.0.1:${peer.port}`,
      "tlsHandshakeStart",
      "tlsHandshakeDone",
      "gotConn reused=false wasIdle=false",
      "wroteHeaders",
      "wroteRequest",
      "gotFirstResponseByte",
      "putIdleConn",
    ],
  );
  assert.ok(res.timings.tlsDone >= res.timings.connectDone && res.timings.connectDone >= 0);
  assert.ok(res.timings.wroteHeaders >= res.timings.tlsDone);
  await peer.close();
  await assertNoLeaks(t, base);
});
