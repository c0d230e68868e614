/**
 * Happy Eyeballs (issue 20), as Go's net.Dialer (dialParallel / dialSerial, after Go's
 * TestDialParallel and TestDialSerialAsyncSpuriousConnection): the first address's family
 * first, the other after fallbackDelay or when the first has failed, the first
 * connection wins and the other is closed, addresses of a family in order, dialTimeout
 * over the whole, connectStart/connectDone for every attempt.
 *
 * Real listeners on ::1 and 127.0.0.1 (one port, both families); a refused attempt is
 * another 127.0.0.0/8 address with no listener; a hanging one is the connect seam
 * (DialSettings.connect) replaced by the test. No address outside loopback is used.
 */
import assert from "node:assert/strict";
import type { LookupAddress } from "node:dns";
import { once } from "node:events";
import http from "node:http";
import type net from "node:net";
import { test } from "node:test";
import { type ClientTrace, Transport } from "../../src/index.js";
import { type DialSettings, dial } from "../../src/transport/dial.js";
import { Resolver } from "../../src/transport/dns-cache.js";
import {
  type Attempt,
  attemptTimeout,
  type ConnectFunc,
  partition,
  tcpAttempt,
} from "../../src/transport/happy-eyeballs.js";
import { assertNoLeaks, deferred, tcpHandles, waitFor } from "../helpers.js";

/** An HTTP server answering with the address it was reached on, listening on ::1 and 127.0.0.1, one port. */
async function dualStackServer(): Promise<{
  port: number;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const handler: http.RequestListener = (req, res) => res.end(String(req.socket.localAddress));
  for (let i = 0; i < 20; i++) {
    const v6 = http.createServer(handler);
    v6.listen(0, "::1");
    await once(v6, "listening");
    const port = (v6.address() as net.AddressInfo).port;
    const v4 = http.createServer(handler);
    const ok = await new Promise<boolean>((resolve) => {
      v4.once("error", () => resolve(false));
      v4.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (!ok) {
      await new Promise<void>((r) => v6.close(() => r()));
      continue; // the port is taken on 127.0.0.1: another try
    }
    for (const s of [v4, v6]) {
      s.on("connection", (c: net.Socket) => {
        sockets.add(c);
        c.on("close", () => sockets.delete(c));
      });
    }
    return {
      port,
      sockets,
      async close() {
        for (const c of sockets) c.destroy();
        await Promise.all([v4, v6].map((s) => new Promise<void>((r) => s.close(() => r()))));
      },
    };
  }
  throw new Error("no port free on both ::1 and 127.0.0.1 after 20 tries");
}

const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const v6 = (address: string): LookupAddress => ({ address, family: 6 });

/** A lookup answering `addrs` for every name, counting calls. */
function fixedLookup(addrs: LookupAddress[]) {
  const f = (
    _host: string,
    _opts: unknown,
    cb: (err: NodeJS.ErrnoException | null, a: LookupAddress[]) => void,
  ) => {
    f.calls++;
    queueMicrotask(() => cb(null, addrs));
  };
  f.calls = 0;
  return f;
}

function recorder(): { events: string[]; trace: ClientTrace } {
  const events: string[] = [];
  return {
    events,
    trace: {
      dnsStart: (i) => events.push(`dnsStart ${i.host}`),
      dnsDone: (i) => events.push(`dnsDone ${i.addresses.join(",")}${i.err ? " err" : ""}`),
      connectStart: (_n, a) => events.push(`connectStart ${a}`),
      connectDone: (_n, a, e) =>
        events.push(`connectDone ${a}${e ? ` ${(e as { code?: string }).code}` : ""}`),
    },
  };
}

test("partition: the first address's family first, in order; the other family after (Go's addrList.partition)", () => {
  assert.deepEqual(partition([v6("::1"), v4("127.0.0.1"), v6("::2"), v4("127.0.0.2")]), [
    [v6("::1"), v6("::2")],
    [v4("127.0.0.1"), v4("127.0.0.2")],
  ]);
  assert.deepEqual(partition([v4("127.0.0.1"), v6("::1")]), [[v4("127.0.0.1")], [v6("::1")]]);
  assert.deepEqual(partition([v4("127.0.0.1")]), [[v4("127.0.0.1")], []]);
});

test("attemptTimeout: the time left shared by the addresses left, at least 2 s (Go's partialDeadline)", () => {
  assert.equal(attemptTimeout(0, Number.POSITIVE_INFINITY, 3), Number.POSITIVE_INFINITY);
  assert.equal(attemptTimeout(0, 30_000, 3), 10_000);
  assert.equal(attemptTimeout(0, 30_000, 1), 30_000);
  assert.equal(attemptTimeout(0, 3000, 3), 2000, "never below 2 s while 2 s are left");
  assert.equal(attemptTimeout(0, 1500, 3), 1500, "what is left when less than 2 s is");
  assert.equal(attemptTimeout(2000, 1500, 3), 0, "past the deadline");
});

for (const [order, winner] of [
  [[v6("::1"), v4("127.0.0.1")], "::1"],
  [[v4("127.0.0.1"), v6("::1")], "127.0.0.1"],
] as const) {
  test(`the first address's family (${winner}) is dialed first and wins; the other is never tried`, async (ctx) => {
    const base = tcpHandles();
    const srv = await dualStackServer();
    ctx.after(() => srv.close());
    const lookup = fixedLookup([...order]);
    // A fallback delay no test outlives: only a failure of the first family starts the other.
    const t = new Transport({ lookup, fallbackDelay: 60_000 });
    const r = recorder();
    const res = await t.roundTrip({ url: `http://dual.test:${srv.port}/`, trace: r.trace });
    assert.equal(await res.text(), winner);
    const at = winner === "::1" ? `[::1]:${srv.port}` : `127.0.0.1:${srv.port}`;
    assert.deepEqual(r.events, [
      "dnsStart dual.test",
      `dnsDone ${order.map((a) => a.address).join(",")}`,
      `connectStart ${at}`,
      `connectDone ${at}`,
    ]);
    await srv.close();
    await assertNoLeaks(t, base);
  });
}

test("addresses of a family are tried in order, each refusal moving to the next; all refused starts the other family at once", async (ctx) => {
  const base = tcpHandles();
  const srv = await dualStackServer();
  ctx.after(() => srv.close());
  const p = srv.port;
  // 127.0.0.2 and .3 have no listener on the port: refused at once.
  const lookup = fixedLookup([v4("127.0.0.2"), v6("::1"), v4("127.0.0.3")]);
  const t = new Transport({ lookup, fallbackDelay: 60_000 });
  const r = recorder();
  const res = await t.roundTrip({ url: `http://dual.test:${p}/`, trace: r.trace });
  assert.equal(await res.text(), "::1");
  assert.deepEqual(r.events.slice(2), [
    `connectStart 127.0.0.2:${p}`,
    `connectDone 127.0.0.2:${p} ERR_CONNECT`,
    `connectStart 127.0.0.3:${p}`,
    `connectDone 127.0.0.3:${p} ERR_CONNECT`,
    `connectStart [::1]:${p}`,
    `connectDone [::1]:${p}`,
  ]);
  await srv.close();
  await assertNoLeaks(t, base);
});

test("fallbackDelay < 0: every address in the resolver's order, one at a time (Go's FallbackDelay < 0)", async (ctx) => {
  const base = tcpHandles();
  const srv = await dualStackServer();
  ctx.after(() => srv.close());
  const p = srv.port;
  const addrs = [v4("127.0.0.2"), v6("::1"), v4("127.0.0.1")];
  // With Happy Eyeballs 127.0.0.1 (a primary) would win; serially ::1 comes first.
  const t = new Transport({ lookup: fixedLookup(addrs), fallbackDelay: -1 });
  const r = recorder();
  const res = await t.roundTrip({ url: `http://dual.test:${p}/`, trace: r.trace });
  assert.equal(await res.text(), "::1");
  assert.deepEqual(r.events.slice(2), [
    `connectStart 127.0.0.2:${p}`,
    `connectDone 127.0.0.2:${p} ERR_CONNECT`,
    `connectStart [::1]:${p}`,
    `connectDone [::1]:${p}`,
  ]);
  const raced = new Transport({ lookup: fixedLookup(addrs), fallbackDelay: 60_000 });
  assert.equal(await (await raced.roundTrip({ url: `http://dual.test:${p}/` })).text(), "127.0.0.1");
  await srv.close();
  await assertNoLeaks(raced, base);
  await assertNoLeaks(t, base);
});

test("every address refused: ERR_CONNECT with the preferred family's first error; each attempt traced", async () => {
  const base = tcpHandles();
  const srv = await dualStackServer();
  const p = srv.port;
  await srv.close(); // nothing listens on the port now
  const t = new Transport({ lookup: fixedLookup([v6("::1"), v4("127.0.0.1"), v4("127.0.0.2")]) });
  const r = recorder();
  await assert.rejects(t.roundTrip({ url: `http://dual.test:${p}/`, trace: r.trace }), (err: Error) => {
    assert.equal((err as { code?: string }).code, "ERR_CONNECT");
    assert.match(
      err.message,
      new RegExp(`cannot connect to dual\\.test:${p} \\(\\[::1\\]:${p}: ECONNREFUSED\\)`),
    );
    return true;
  });
  assert.deepEqual(r.events.slice(2), [
    `connectStart [::1]:${p}`,
    `connectDone [::1]:${p} ERR_CONNECT`,
    `connectStart 127.0.0.1:${p}`,
    `connectDone 127.0.0.1:${p} ERR_CONNECT`,
    `connectStart 127.0.0.2:${p}`,
    `connectDone 127.0.0.2:${p} ERR_CONNECT`,
  ]);
  await assertNoLeaks(t, base);
});

test("a DNS failure is ERR_CONNECT with dnsDone's error and no connect attempt", async () => {
  const base = tcpHandles();
  const lookup = (
    _h: string,
    _o: unknown,
    cb: (err: NodeJS.ErrnoException | null, a: LookupAddress[]) => void,
  ) => cb(Object.assign(new Error("getaddrinfo ENOTFOUND nx.test"), { code: "ENOTFOUND" }), []);
  const t = new Transport({ lookup });
  const r = recorder();
  await assert.rejects(t.roundTrip({ url: "http://nx.test/", trace: r.trace }), { code: "ERR_CONNECT" });
  assert.deepEqual(r.events, ["dnsStart nx.test", "dnsDone  err"]);
  await assertNoLeaks(t, base);
});

// ---- through the connect seam: attempts that hang, and late connections ----------------

function settings(over: Partial<DialSettings> & Pick<DialSettings, "resolver">): DialSettings {
  return {
    dial: undefined,
    dialTimeout: 0,
    tlsHandshakeTimeout: 0,
    tls: {},
    alpn: ["http/1.1"],
    fallbackDelay: 300,
    ...over,
  };
}

/** A connect that never connects: it rejects when its attempt is aborted, and says so. */
function hanging(aborted: string[]): ConnectFunc {
  return (a: Attempt) =>
    new Promise((_, reject) => {
      a.signal.addEventListener("abort", () => {
        aborted.push(a.address);
        reject(a.signal.reason);
      });
    });
}

test("the preferred family hangs: the other starts after fallbackDelay without aborting it, wins, and the hanging one is then aborted", async (ctx) => {
  const base = tcpHandles();
  const srv = await dualStackServer();
  ctx.after(() => srv.close());
  const p = srv.port;
  const aborted: string[] = [];
  const hang = hanging(aborted);
  let primaryAbortedWhenFallbackStarted: boolean | null = null;
  let primarySignal: AbortSignal | null = null;
  const connect: ConnectFunc = (a) => {
    if (a.family === 6) {
      primarySignal = a.signal;
      return hang(a);
    }
    primaryAbortedWhenFallbackStarted = primarySignal?.aborted ?? null;
    return tcpAttempt(a);
  };
  const r = recorder();
  const resolver = new Resolver(fixedLookup([v6("::1"), v4("127.0.0.1")]), false);
  const closing = new AbortController();
  const result = await dial(
    { scheme: "http", hostname: "dual.test", port: p },
    settings({ resolver, connect, fallbackDelay: 10 }),
    r.trace,
    closing.signal,
    performance.now(),
  );
  assert.equal((result.socket as net.Socket).remoteAddress, "127.0.0.1");
  assert.equal(
    primaryAbortedWhenFallbackStarted,
    false,
    "the first attempt still ran when the fallback started",
  );
  assert.deepEqual(aborted, ["::1"], "the losing attempt was aborted");
  await waitFor(() => r.events.length === 6, 2000, "the loser's connectDone");
  assert.deepEqual(r.events.slice(2), [
    `connectStart [::1]:${p}`,
    `connectStart 127.0.0.1:${p}`,
    `connectDone 127.0.0.1:${p}`,
    `connectDone [::1]:${p} ERR_CONNECT`,
  ]);
  result.socket.destroy();
  await srv.close();
  await waitFor(() => tcpHandles() <= base, 2000, "every socket closed");
});

test("a connection that completes after the other family won is closed (Go's TestDialSerialAsyncSpuriousConnection)", async (ctx) => {
  const base = tcpHandles();
  const srv = await dualStackServer();
  ctx.after(() => srv.close());
  const p = srv.port;
  const gate = deferred();
  let late: net.Socket | null = null;
  // The ::1 attempt connects for real but reports it only once the gate opens, ignoring
  // its abort: a connect that raced the winner.
  const connect: ConnectFunc = async (a) => {
    if (a.family === 4) return tcpAttempt(a);
    const s = await tcpAttempt({ ...a, signal: new AbortController().signal });
    late = s;
    await gate.promise;
    return s;
  };
  const resolver = new Resolver(fixedLookup([v6("::1"), v4("127.0.0.1")]), false);
  const result = await dial(
    { scheme: "http", hostname: "dual.test", port: p },
    settings({ resolver, connect, fallbackDelay: 1 }),
    null,
    new AbortController().signal,
    performance.now(),
  );
  assert.equal((result.socket as net.Socket).remoteAddress, "127.0.0.1");
  await waitFor(() => late !== null, 2000, "the ::1 connection to be made");
  assert.equal(late!.destroyed, false);
  gate.resolve();
  await waitFor(() => late!.destroyed, 2000, "the late ::1 connection to be destroyed");
  // The server saw it close too: only the winner's connection is left.
  await waitFor(() => srv.sockets.size === 1, 2000, "the server's side of the loser to close");
  assert.equal([...srv.sockets][0]!.localAddress, "127.0.0.1");
  result.socket.destroy();
  await srv.close();
  await waitFor(() => tcpHandles() <= base, 2000, "every socket closed");
});

test("dialTimeout bounds the whole race: ERR_TIMEOUT (dial), both attempts aborted and traced", async () => {
  const aborted: string[] = [];
  const resolver = new Resolver(fixedLookup([v6("::1"), v4("127.0.0.1")]), false);
  const r = recorder();
  const err = await dial(
    { scheme: "http", hostname: "dual.test", port: 9 },
    settings({ resolver, connect: hanging(aborted), fallbackDelay: 1, dialTimeout: 100 }),
    r.trace,
    new AbortController().signal,
    performance.now(),
  ).then(
    () => assert.fail("the dial should time out"),
    (e: Error & { code?: string; phase?: string }) => e,
  );
  assert.equal(err.code, "ERR_TIMEOUT");
  assert.equal(err.phase, "dial");
  assert.deepEqual(aborted.sort(), ["127.0.0.1", "::1"]);
  assert.deepEqual(r.events.slice(2).sort(), [
    "connectDone 127.0.0.1:9 ERR_TIMEOUT",
    "connectDone [::1]:9 ERR_TIMEOUT",
    "connectStart 127.0.0.1:9",
    "connectStart [::1]:9",
  ]);
});

test("fallbackDelay < 0 with a hanging first address: the next is never tried before it fails", async () => {
  const aborted: string[] = [];
  const started: string[] = [];
  const hang = hanging(aborted);
  const connect: ConnectFunc = (a) => {
    started.push(a.address);
    return hang(a);
  };
  const resolver = new Resolver(fixedLookup([v6("::1"), v4("127.0.0.1")]), false);
  await assert.rejects(
    dial(
      { scheme: "http", hostname: "dual.test", port: 9 },
      settings({ resolver, connect, fallbackDelay: -1, dialTimeout: 100 }),
      null,
      new AbortController().signal,
      performance.now(),
    ),
    { code: "ERR_TIMEOUT" },
  );
  assert.deepEqual(started, ["::1"], "serial: the second address waits for the first");
  assert.deepEqual(aborted, ["::1"]);
});

test("transport.close() during a race: ERR_TRANSPORT_CLOSED, every attempt aborted", async () => {
  const aborted: string[] = [];
  const both = deferred();
  const hang = hanging(aborted);
  let started = 0;
  const connect: ConnectFunc = (a) => {
    if (++started === 2) both.resolve();
    return hang(a);
  };
  const resolver = new Resolver(fixedLookup([v6("::1"), v4("127.0.0.1")]), false);
  const closing = new AbortController();
  const p = dial(
    { scheme: "http", hostname: "dual.test", port: 9 },
    settings({ resolver, connect, fallbackDelay: 1 }),
    null,
    closing.signal,
    performance.now(),
  );
  await both.promise;
  closing.abort(new Error("closed"));
  await assert.rejects(p, { code: "ERR_TRANSPORT_CLOSED" });
  assert.deepEqual(aborted.sort(), ["127.0.0.1", "::1"]);
});

test("an address that hangs past its share of dialTimeout gives way to the next one (Go's partialDeadline)", async (ctx) => {
  const base = tcpHandles();
  const srv = await dualStackServer();
  ctx.after(() => srv.close());
  const p = srv.port;
  const aborted: string[] = [];
  const hang = hanging(aborted);
  // 127.0.0.9 hangs; two addresses share 4.5 s, so it is given 2.25 s, then 127.0.0.1 is dialed.
  const connect: ConnectFunc = (a) => (a.address === "127.0.0.9" ? hang(a) : tcpAttempt(a));
  const resolver = new Resolver(fixedLookup([v4("127.0.0.9"), v4("127.0.0.1")]), false);
  const r = recorder();
  const result = await dial(
    { scheme: "http", hostname: "dual.test", port: p },
    settings({ resolver, connect, dialTimeout: 4500 }),
    r.trace,
    new AbortController().signal,
    performance.now(),
  );
  assert.equal((result.socket as net.Socket).remoteAddress, "127.0.0.1");
  assert.deepEqual(aborted, ["127.0.0.9"]);
  assert.deepEqual(r.events.slice(2), [
    `connectStart 127.0.0.9:${p}`,
    `connectDone 127.0.0.9:${p} ERR_TIMEOUT`,
    `connectStart 127.0.0.1:${p}`,
    `connectDone 127.0.0.1:${p}`,
  ]);
  result.socket.destroy();
  await srv.close();
  await waitFor(() => tcpHandles() <= base, 2000, "every socket closed");
});
