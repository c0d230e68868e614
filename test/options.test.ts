/**
 * Options are read from own properties only: with Object.prototype polluted (what a
 * prototype-pollution bug elsewhere in the process leaves, e.g. a deep merge of
 * `{"__proto__": {"proxy": …}}`), no Transport, Client, request, fetch or trace option
 * takes the polluted value.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { Client, fetch, Transport, type TransportRequest } from "../src/index.js";
import { methodOf, ownOptions } from "../src/options.js";
import { closeLeftovers, recordingServer, redirect } from "./client/util.js";
import { assertNoLeaks, tcpHandles } from "./helpers.js";

afterEach(closeLeftovers);

/** Puts `props` on Object.prototype until the returned function is called. */
function pollute(props: Record<string, unknown>): () => void {
  const proto = Object.prototype as Record<string, unknown>;
  for (const [k, v] of Object.entries(props)) proto[k] = v;
  return () => {
    for (const k of Object.keys(props)) delete proto[k];
  };
}

test("ownOptions: the object itself when it has no inherited properties, else an own-only copy", () => {
  const plain = { a: 1 };
  assert.equal(ownOptions(plain), plain);
  const bare = Object.assign(Object.create(null) as Record<string, number>, { a: 1 });
  assert.equal(ownOptions(bare), bare);
  assert.equal(ownOptions(undefined), undefined);
  assert.equal(ownOptions(null), undefined);

  class Opts {
    own = 1;
    get inherited(): number {
      return 2;
    }
  }
  const fromClass = ownOptions(new Opts()) as unknown as Record<string, unknown>;
  assert.equal(fromClass.own, 1);
  assert.equal(fromClass.inherited, undefined, "a class getter is not an own property");

  const clean = pollute({ polluted: "yes" });
  try {
    const copy = ownOptions(plain) as Record<string, unknown>;
    assert.notEqual(copy, plain);
    assert.equal(copy.a, 1);
    assert.equal(copy.polluted, undefined);
  } finally {
    clean();
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "pollution cleaned up");
});

test("methodOf: own and class methods, never one from Object.prototype", () => {
  class Hooks {
    gotConn() {
      return "class";
    }
  }
  const clean = pollute({ getConn: () => "polluted" });
  try {
    assert.equal(methodOf({}, "getConn"), undefined);
    assert.equal(typeof methodOf(new Hooks(), "gotConn"), "function");
    const own = () => "own";
    assert.equal(methodOf({ getConn: own }, "getConn"), own);
  } finally {
    clean();
  }
});

test("prototype pollution: Object.prototype.proxy, dial, jar, host, headers, ... are not live options (Transport, Client, request, fetch init, trace)", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    if (req.url === "/hop") redirect(res, 302, "/done");
    else res.end("ok");
  });
  const calls: string[] = [];
  // A Client made before the pollution: fetch would send through it if it read init.client.
  const decoy = new Client({
    transport: {
      roundTrip() {
        calls.push("init.client");
        return Promise.reject(new Error("polluted client"));
      },
    },
  });
  const clean = pollute({
    // Transport
    proxy: "http://127.0.0.1:9/",
    dial: () => {
      calls.push("dial");
      return Promise.reject(new Error("polluted dial"));
    },
    userAgent: "polluted-agent",
    disableKeepAlives: true,
    // Client
    jar: {
      getCookieString: () => {
        calls.push("jar");
        return "stolen=1";
      },
      setCookie: () => {},
    },
    checkRedirect: () => {
      calls.push("checkRedirect");
      return false;
    },
    baseURL: "http://polluted.invalid/",
    // request and fetch init
    headers: { "x-polluted": "1" },
    host: "polluted.invalid",
    method: "DELETE",
    searchParams: "polluted=1",
    json: { polluted: true },
    url: "http://polluted.invalid/",
    client: decoy,
    // trace hook
    getConn: () => calls.push("trace.getConn"),
  });
  let t: Transport;
  let pending: Array<Promise<unknown>>;
  try {
    // Every option is read before the first await of each call: the pollution is live then.
    t = new Transport();
    const c = new Client({ transport: t });
    pending = [
      c.get(`${peer.url}/hop`, { trace: {} }).then((r) => r.text()),
      c.do({ url: `${peer.url}/do` }).then((r) => r.text()),
      t.roundTrip({ url: `${peer.url}/direct`, trace: {} } as TransportRequest).then((r) => r.text()),
      fetch(`${peer.url}/fetch`, { client: c }).then((r) => r.text()),
      // No client in init: a relative URL is refused by the default Client (no baseURL)
      // instead of going to the decoy.
      fetch("/relative").then(
        () => "resolved",
        (err: Error) => err.name,
      ),
    ];
  } finally {
    clean();
  }
  assert.deepEqual(await Promise.all(pending), ["ok", "ok", "ok", "ok", "TypeError"]);
  assert.deepEqual(calls, []);
  assert.deepEqual(peer.seen.map((s) => `${s.method} ${s.url}`).sort(), [
    "GET /direct",
    "GET /do",
    "GET /done",
    "GET /fetch",
    "GET /hop",
  ]);
  for (const s of peer.seen) {
    assert.equal(s.host, `127.0.0.1:${peer.port}`);
    assert.equal(s.headers["x-polluted"], undefined);
    assert.equal(s.headers.cookie, undefined);
    assert.notEqual(s.headers["user-agent"], "polluted-agent");
    assert.notEqual(s.headers.connection, "close");
    assert.equal(s.body.length, 0);
  }
  await peer.close();
  await assertNoLeaks(t, base);
});
