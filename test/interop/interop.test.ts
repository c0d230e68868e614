/**
 * Interop against real peers from Debian: nginx as the origin, tinyproxy as an HTTP
 * forward proxy (absolute-form and CONNECT, with basic auth), microsocks as a SOCKS5
 * proxy (with username/password). Targets: nginx over plain HTTP and a node:https server
 * for "localhost" (tunnels end in TLS to the origin). Run with `npm run test:interop`;
 * `npm test` leaves this folder out, so a machine without the daemons passes it.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import https from "node:https";
import type net from "node:net";
import { after, before, test } from "node:test";
import { Client, Transport } from "../../src/index.js";
import { assertNoLeaks, rejectsWith, tcpHandles } from "../helpers.js";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";
import {
  type Daemon,
  installHint,
  missingDaemons,
  startMicrosocks,
  startNginx,
  startTinyproxy,
} from "./daemons.js";

let nginx: Daemon & { big: string };
let tls: https.Server | undefined;
let tlsPort = 0;
let tinyproxy: Daemon;
let tinyproxyAuth: Daemon;
let socks: Daemon;
let socksAuth: Daemon;
const tlsSockets = new Set<net.Socket>();
/** Every daemon started so far: after() stops these, however far before() got. */
const started: Daemon[] = [];

async function run<D extends Daemon>(start: Promise<D>): Promise<D> {
  const d = await start;
  started.push(d);
  return d;
}

before(async () => {
  const missing = missingDaemons();
  if (missing.length > 0) throw new Error(`The interop suite cannot run: ${installHint(missing)}`);
  nginx = await run(startNginx());
  tls = https.createServer({ key: TLS_KEY, cert: TLS_CERT }, (req, res) =>
    res.end(`tls ${req.method} ${req.url}`),
  );
  tls.on("secureConnection", (s: net.Socket) => {
    tlsSockets.add(s);
    s.on("close", () => tlsSockets.delete(s));
  });
  tls.listen(0, "127.0.0.1");
  await once(tls, "listening");
  tlsPort = (tls.address() as net.AddressInfo).port;
  tinyproxy = await run(startTinyproxy({ connectPorts: [tlsPort] }));
  tinyproxyAuth = await run(startTinyproxy({ connectPorts: [tlsPort], auth: ["alice", "s3cret"] }));
  socks = await run(startMicrosocks());
  socksAuth = await run(startMicrosocks(["bob", "pa:ss"]));
});

after(async () => {
  for (const s of tlsSockets) s.destroy();
  const server = tls;
  if (server?.listening) await new Promise<void>((r) => server.close(() => r()));
  await Promise.all(started.map((d) => d.stop()));
});

const httpsOpts = () => ({ tls: { ca: TLS_CERT } });

test("nginx: keep-alive reuse, gzip decoded transparently, redirects, HEAD", async () => {
  const base = tcpHandles();
  const t = new Transport({ proxy: null });
  const c = new Client({ transport: t });
  const origin = `http://127.0.0.1:${nginx.port}`;
  for (let i = 0; i < 3; i++) {
    const res = await c.get(`${origin}/hello`);
    assert.equal(await res.text(), "Hello, World!");
    assert.equal(res.conn.reused, i > 0);
  }
  const big = await c.get(`${origin}/big.txt`);
  assert.equal(big.uncompressed, true, "nginx gzipped it and we decoded it");
  assert.equal(await big.text(), nginx.big);
  const raw = await c.get(`${origin}/big.txt`, { headers: { "accept-encoding": "identity" } });
  assert.equal(raw.uncompressed, false);
  assert.equal(raw.contentLength, Buffer.byteLength(nginx.big));
  await raw.close();
  const moved = await c.get(`${origin}/moved`);
  assert.equal(moved.redirected, true);
  assert.equal(await moved.text(), "Hello, World!");
  const head = await c.head(`${origin}/big.txt`);
  assert.equal(head.status, 200);
  assert.equal((await head.bytes()).length, 0);
  assert.equal(t.stats().active, 0);
  await assertNoLeaks(t, base);
});

test("tinyproxy: plain HTTP in absolute form and HTTPS through CONNECT, connections reused", async () => {
  const base = tcpHandles();
  const t = new Transport({ proxy: `http://127.0.0.1:${tinyproxy.port}`, ...httpsOpts() });
  for (let i = 0; i < 2; i++) {
    const res = await t.roundTrip({ url: `http://127.0.0.1:${nginx.port}/hello` });
    assert.equal(await res.text(), "Hello, World!");
  }
  for (let i = 0; i < 2; i++) {
    const res = await t.roundTrip({ url: `https://localhost:${tlsPort}/secret?q=${i}` });
    assert.equal(await res.text(), `tls GET /secret?q=${i}`);
    assert.equal(res.conn.reused, i > 0, "the tunnel is a pooled connection like any other");
  }
  // (tinyproxy closes client connections after plain-HTTP requests, so only the tunnel stays pooled.)
  assert.deepEqual(Object.keys(t.stats().perHost), [`localhost:${tlsPort}`]);
  await assertNoLeaks(t, base);
});

test("tinyproxy with basic auth: credentials from the proxy URL; wrong ones are refused (ERR_PROXY on CONNECT)", async () => {
  const base = tcpHandles();
  const good = new Transport({
    proxy: `http://alice:s3cret@127.0.0.1:${tinyproxyAuth.port}`,
    ...httpsOpts(),
  });
  assert.equal(
    await (await good.roundTrip({ url: `http://127.0.0.1:${nginx.port}/hello` })).text(),
    "Hello, World!",
  );
  assert.equal(await (await good.roundTrip({ url: `https://localhost:${tlsPort}/x` })).text(), "tls GET /x");
  await assertNoLeaks(good, base);

  const bad = new Transport({ proxy: `http://alice:wrong@127.0.0.1:${tinyproxyAuth.port}`, ...httpsOpts() });
  const err = await rejectsWith(bad.roundTrip({ url: `https://localhost:${tlsPort}/x` }), "ERR_PROXY");
  // tinyproxy answers bad credentials with 401 (not the RFC's 407); either is a refusal.
  assert.match(err.message, /40[17]/);
  assert.doesNotMatch(err.message, /wrong/, "the password never shows");
  const plain = await bad.roundTrip({ url: `http://127.0.0.1:${nginx.port}/hello` });
  assert.ok(
    [401, 407].includes(plain.status),
    "plain HTTP through a proxy that refuses: its response is returned",
  );
  await plain.close();
  await assertNoLeaks(bad, base);
});

test("microsocks: SOCKS5 to HTTP and HTTPS targets, with and without credentials", async () => {
  const base = tcpHandles();
  for (const proxy of [
    `socks5://127.0.0.1:${socks.port}`,
    `socks5h://bob:pa%3Ass@127.0.0.1:${socksAuth.port}`,
  ]) {
    const t = new Transport({ proxy, ...httpsOpts() });
    assert.equal(
      await (await t.roundTrip({ url: `http://127.0.0.1:${nginx.port}/hello` })).text(),
      "Hello, World!",
    );
    const a = await t.roundTrip({ url: `https://localhost:${tlsPort}/s` });
    assert.equal(await a.text(), "tls GET /s");
    const b = await t.roundTrip({ url: `https://localhost:${tlsPort}/s2` });
    assert.equal(await b.text(), "tls GET /s2");
    assert.equal(b.conn.reused, true);
    await assertNoLeaks(t, base);
  }
  const wrong = new Transport({ proxy: `socks5://bob:nope@127.0.0.1:${socksAuth.port}` });
  await rejectsWith(wrong.roundTrip({ url: `http://127.0.0.1:${nginx.port}/hello` }), "ERR_PROXY");
  await assertNoLeaks(wrong, base);
});

test("proxy: 'env' reads HTTP_PROXY once, never proxies loopback, honours NO_PROXY", async () => {
  const base = tcpHandles();
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
  process.env.HTTP_PROXY = `http://127.0.0.1:${tinyproxy.port}`;
  process.env.NO_PROXY = "";
  try {
    const seen: string[] = [];
    // A name that only our dial knows: proxied unless NO_PROXY says otherwise.
    const t = new Transport({
      proxy: "env",
      dial: async ({ host, port, signal }) => {
        seen.push(`${host}:${port}`);
        const net = await import("node:net");
        const s = net.connect({ host: "127.0.0.1", port, signal });
        await once(s, "connect");
        return s;
      },
    });
    process.env.HTTP_PROXY = "http://127.0.0.1:1"; // changed after: not read again
    assert.equal(
      await (await t.roundTrip({ url: `http://127.0.0.1:${nginx.port}/hello` })).text(),
      "Hello, World!",
    );
    assert.deepEqual(seen, [`127.0.0.1:${nginx.port}`], "loopback goes direct");
    const res = await t.roundTrip({ url: `http://origin.test:${nginx.port}/hello` });
    assert.equal(
      res.status,
      500,
      "tinyproxy could not resolve origin.test: proof the request went through it",
    );
    await res.close();
    assert.deepEqual(seen.at(-1), `127.0.0.1:${tinyproxy.port}`);
    await assertNoLeaks(t, base);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
