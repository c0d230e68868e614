/**
 * Proxy selection (Go's httpproxy rules) and the CONNECT / SOCKS5 handshakes against
 * scripted peers.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { Transport } from "../../src/index.js";
import {
  connectTunnel,
  proxyFor,
  proxyFromEnv,
  snapshotProxyEnv,
  socks5Tunnel,
  useProxy,
} from "../../src/transport/proxy.js";
import { assertNoLeaks, rawServer, rejectsWith, tcpHandles, waitFor } from "../helpers.js";

test("NO_PROXY matching follows Go's httpproxy", () => {
  const cases: Array<[string, string, boolean]> = [
    // [url, NO_PROXY, proxied?]
    ["http://example.com/", "", true],
    ["http://localhost/", "", false],
    ["http://127.0.0.1:8080/", "", false],
    ["http://[::1]/", "", false],
    ["http://example.com/", "*", false],
    ["http://example.com/", "example.com", false],
    ["http://sub.example.com/", "example.com", false],
    ["http://notexample.com/", "example.com", true],
    ["http://example.com/", ".example.com", false],
    ["http://sub.example.com/", ".example.com", false],
    ["http://sub.example.com/", "*.example.com", false],
    ["http://example.com:8080/", "example.com:8080", false],
    ["http://example.com:8081/", "example.com:8080", true],
    ["http://example.com/", "example.com:80", false],
    ["http://10.1.2.3/", "10.0.0.0/8", false],
    ["http://11.1.2.3/", "10.0.0.0/8", true],
    ["http://192.168.1.1/", "192.168.1.1", false],
    ["http://[2001:db8::1]/", "[2001:db8::1]", false],
    ["http://a.com/", "b.com, a.com", false],
  ];
  for (const [url, noProxy, expected] of cases) {
    assert.equal(useProxy(new URL(url), noProxy), expected, `${url} with NO_PROXY=${noProxy}`);
  }
});

test("NO_PROXY: a trailing dot, localhost. and IPv4-mapped IPv6 loopback are the names they denote", () => {
  const cases: Array<[string, string, boolean]> = [
    // [url, NO_PROXY, proxied?]
    ["http://localhost./", "", false],
    ["http://foo.localhost./", "", false],
    ["http://[::ffff:127.0.0.1]/", "", false],
    ["http://[::ffff:7f00:2]:8080/", "", false],
    ["http://[0:0::1]/", "", false],
    ["http://example.com./", "example.com", false],
    ["http://sub.example.com./", "example.com", false],
    ["http://sub.example.com./", ".example.com", false],
    ["http://example.com/", "example.com.", false],
    ["http://sub.example.com/", "*.example.com.", false],
    ["http://example.com.:8080/", "example.com:8080", false],
    ["http://notexample.com./", "example.com", true],
    ["http://[::ffff:10.1.2.3]/", "10.0.0.0/8", false],
    ["http://[::ffff:10.1.2.3]/", "10.1.2.3", false],
    ["http://10.1.2.3/", "[::ffff:10.1.2.3]", false],
    ["http://[2001:db8::1]/", "[2001:0db8:0:0::1]", false],
    ["http://[::ffff:11.1.2.3]/", "10.0.0.0/8", true],
    ["http://[::fffe:127.0.0.1]/", "", true],
  ];
  for (const [url, noProxy, expected] of cases) {
    assert.equal(useProxy(new URL(url), noProxy), expected, `${url} with NO_PROXY=${noProxy}`);
  }
});

test("httpoxy (CVE-2016-5385): under CGI (REQUEST_METHOD set) HTTP_PROXY is refused for http:// as Go refuses it (golang.org/s/cgihttpproxy)", () => {
  const cgi = { REQUEST_METHOD: "GET", HTTP_PROXY: "http://attacker:1", HTTPS_PROXY: "http://hps:2" };
  assert.throws(() => proxyFromEnv(new URL("http://a.com/"), cgi), { code: "ERR_PROXY", message: /CGI/ });
  // Before NO_PROXY, as in Go.
  assert.throws(() => proxyFromEnv(new URL("http://a.com/"), { ...cgi, NO_PROXY: "a.com" }), {
    code: "ERR_PROXY",
  });
  // The lower-case variable too (Go's getEnvAny reads both into the same setting).
  assert.throws(() => proxyFromEnv(new URL("http://a.com/"), { REQUEST_METHOD: "POST", http_proxy: "x:1" }), {
    code: "ERR_PROXY",
  });
  // Other rules unchanged: HTTPS_PROXY applies, no HTTP_PROXY means direct, no CGI means proxied.
  assert.equal(proxyFromEnv(new URL("https://a.com/"), cgi), "http://hps:2");
  assert.equal(proxyFromEnv(new URL("http://a.com/"), { REQUEST_METHOD: "GET" }), null);
  assert.equal(proxyFromEnv(new URL("http://a.com/"), { HTTP_PROXY: "http://hp:1" }), "http://hp:1");
  assert.equal(snapshotProxyEnv(cgi).REQUEST_METHOD, "GET", "the Transport's snapshot keeps the CGI flag");
  assert.equal(snapshotProxyEnv({ HTTP_PROXY: "x" }).REQUEST_METHOD, undefined);
});

test("httpoxy: a Transport made in a CGI environment fails http:// requests with ERR_PROXY and connects nowhere", async () => {
  const base = tcpHandles();
  const attacker = await rawServer((s) => s.destroy());
  const saved = { REQUEST_METHOD: process.env.REQUEST_METHOD, HTTP_PROXY: process.env.HTTP_PROXY };
  let t: Transport;
  try {
    process.env.REQUEST_METHOD = "GET";
    process.env.HTTP_PROXY = attacker.url;
    t = new Transport(); // proxy: "env", read now
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  try {
    const err = await rejectsWith(t.roundTrip({ url: "http://example.test/" }), "ERR_PROXY");
    assert.match(err.message, /CGI/);
    assert.equal(attacker.connections, 0);
  } finally {
    await attacker.close();
    await t.close();
  }
  await assertNoLeaks(t, base);
});

test("proxyFromEnv: scheme-specific variables, upper case first, and proxyFor's forms", () => {
  const env = { HTTP_PROXY: "http://hp:1", https_proxy: "socks5h://sp:2", NO_PROXY: "skip.me" };
  assert.equal(proxyFromEnv(new URL("http://a.com/"), env), "http://hp:1");
  assert.equal(proxyFromEnv(new URL("https://a.com/"), env), "socks5h://sp:2");
  assert.equal(proxyFromEnv(new URL("http://skip.me/"), env), null);
  assert.equal(proxyFor("env", new URL("http://a.com/"), env)?.href, "http://hp:1/");
  assert.equal(proxyFor(null, new URL("http://a.com/"), env), null);
  assert.equal(proxyFor("proxy.local:3128", new URL("http://a.com/"))?.href, "http://proxy.local:3128/");
  assert.equal(
    proxyFor((u) => (u.hostname === "a.com" ? "http://f:1" : null), new URL("http://a.com/"))?.href,
    "http://f:1/",
  );
  assert.throws(() => proxyFor("ftp://x:1", new URL("http://a.com/")), { code: "ERR_PROXY" });
});

/** The handshakes leave the socket paused at the first tunnelled byte; the next reader resumes it. */
function firstData(s: net.Socket): Promise<Buffer> {
  const p = new Promise<Buffer>((r) => s.once("data", r));
  s.resume();
  return p;
}

async function connected(port: number): Promise<net.Socket> {
  const s = net.connect(port, "127.0.0.1");
  await new Promise((r, j) => s.once("connect", r).once("error", j));
  return s;
}

test("CONNECT: credentials and extra headers sent, tunnel bytes after the 200 preserved", async () => {
  const base = tcpHandles();
  let seen = "";
  const peer = await rawServer((socket) => {
    socket.once("data", (d) => {
      seen = d.toString("latin1");
      socket.write("HTTP/1.1 200 Connection established\r\n\r\ntunnel-bytes");
    });
  });
  const s = await connected(peer.port);
  await connectTunnel(
    s,
    "example.com",
    443,
    new URL("http://us%40r:p%3Ass@proxy:1"),
    { "X-Trace": "1" },
    new AbortController().signal,
  );
  assert.match(seen, /^CONNECT example\.com:443 HTTP\/1\.1\r\nHost: example\.com:443\r\n/);
  assert.match(
    seen,
    new RegExp(`Proxy-Authorization: Basic ${Buffer.from("us@r:p:ss").toString("base64")}\r\n`),
  );
  assert.match(seen, /X-Trace: 1\r\n\r\n$/);
  const first = await firstData(s);
  assert.equal(first.toString(), "tunnel-bytes");
  s.destroy();
  await peer.close();
  await waitFor(() => tcpHandles() <= base);
});

test("CONNECT refused (407) and malformed replies are ERR_PROXY; invalid extra headers never reach the wire", async () => {
  const base = tcpHandles();
  const replies = ["HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", "SSH-2.0-nope\r\n\r\n"];
  const peer = await rawServer((socket, i) => socket.once("data", () => socket.write(replies[i]!)));
  for (const re of [/407/, /malformed/]) {
    const s = await connected(peer.port);
    await assert.rejects(
      connectTunnel(s, "h", 1, new URL("http://p:1"), {}, new AbortController().signal),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "ERR_PROXY");
        assert.match(e.message, re);
        return true;
      },
    );
    s.destroy();
  }
  const s = await connected(peer.port);
  await assert.rejects(
    connectTunnel(s, "h", 1, new URL("http://p:1"), { "X-Bad": "a\r\nb" }, new AbortController().signal),
    {
      code: "ERR_INVALID_REQUEST",
    },
  );
  s.destroy();
  await peer.close();
  await waitFor(() => tcpHandles() <= base);
});

/** A scripted SOCKS5 server: `auth` null = no auth, else the accepted user:pass; `reply` code. */
async function socksServer(auth: string | null, reply: number, log: Buffer[]) {
  return rawServer((socket) => {
    let stage = 0;
    let buf = Buffer.alloc(0);
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (stage === 0 && buf.length >= 2 + buf[1]!) {
        const methods = [...buf.subarray(2, 2 + buf[1]!)];
        buf = buf.subarray(2 + buf[1]!);
        if (auth === null) {
          socket.write(Buffer.from([5, 0]));
          stage = 2;
        } else if (methods.includes(2)) {
          socket.write(Buffer.from([5, 2]));
          stage = 1;
        } else {
          socket.end(Buffer.from([5, 0xff]));
        }
      }
      if (
        stage === 1 &&
        buf.length >= 2 &&
        buf.length >= 3 + buf[1]! &&
        buf.length >= 3 + buf[1]! + buf[2 + buf[1]!]!
      ) {
        const ulen = buf[1]!;
        const plen = buf[2 + ulen]!;
        const got = `${buf.subarray(2, 2 + ulen)}:${buf.subarray(3 + ulen, 3 + ulen + plen)}`;
        buf = buf.subarray(3 + ulen + plen);
        if (got === auth) {
          socket.write(Buffer.from([1, 0]));
          stage = 2;
        } else {
          socket.end(Buffer.from([1, 1]));
        }
      }
      if (stage === 2 && buf.length >= 5) {
        const atyp = buf[3];
        const len = atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buf[4]!;
        if (buf.length < 4 + len + 2) return;
        log.push(Buffer.from(buf.subarray(0, 4 + len + 2)));
        buf = buf.subarray(4 + len + 2);
        stage = 3;
        socket.write(Buffer.from([5, reply, 0, 1, 127, 0, 0, 1, 0, 80]));
        if (reply === 0) socket.write("hello");
      }
    });
  });
}

test("SOCKS5: names go to the proxy as names, IPs as addresses; auth; refusals are ERR_PROXY", async () => {
  const base = tcpHandles();
  const log: Buffer[] = [];
  const open = await socksServer(null, 0, log);
  let s = await connected(open.port);
  await socks5Tunnel(s, "example.com", 8443, new URL("socks5h://p:1"), new AbortController().signal);
  assert.deepEqual([...log[0]!], [5, 1, 0, 3, 11, ...Buffer.from("example.com"), 0x20, 0xfb]);
  assert.equal((await firstData(s)).toString(), "hello");
  s.destroy();
  s = await connected(open.port);
  await socks5Tunnel(s, "10.1.2.3", 80, new URL("socks5://p:1"), new AbortController().signal);
  assert.deepEqual([...log[1]!], [5, 1, 0, 1, 10, 1, 2, 3, 0, 80]);
  s.destroy();
  s = await connected(open.port);
  await socks5Tunnel(s, "2001:db8::1", 80, new URL("socks5://p:1"), new AbortController().signal);
  assert.deepEqual(
    [...log[2]!.subarray(3, 20)],
    [4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  );
  s.destroy();
  await open.close();

  const authed = await socksServer("alice:s3cret", 0, log);
  s = await connected(authed.port);
  await socks5Tunnel(s, "h", 1, new URL("socks5://alice:s3cret@p:1"), new AbortController().signal);
  s.destroy();
  s = await connected(authed.port);
  await assert.rejects(
    socks5Tunnel(s, "h", 1, new URL("socks5://alice:wrong@p:1"), new AbortController().signal),
    {
      code: "ERR_PROXY",
      message: /refused the username and password/,
    },
  );
  s.destroy();
  s = await connected(authed.port);
  await assert.rejects(socks5Tunnel(s, "h", 1, new URL("socks5://p:1"), new AbortController().signal), {
    code: "ERR_PROXY",
  });
  s.destroy();
  await authed.close();

  const refusing = await socksServer(null, 5, log);
  s = await connected(refusing.port);
  await assert.rejects(socks5Tunnel(s, "h", 1, new URL("socks5://p:1"), new AbortController().signal), {
    code: "ERR_PROXY",
    message: /connection refused/,
  });
  s.destroy();
  await refusing.close();
  await waitFor(() => tcpHandles() <= base);
});

test("an aborted handshake rejects with the signal's reason", async () => {
  const base = tcpHandles();
  const peer = await rawServer(() => {}); // never answers
  const s = await connected(peer.port);
  const ac = new AbortController();
  const p = socks5Tunnel(s, "h", 1, new URL("socks5://p:1"), ac.signal);
  ac.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
  s.destroy();
  await peer.close();
  await waitFor(() => tcpHandles() <= base);
});
