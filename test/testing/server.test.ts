/**
 * startTestServer: HTTP/1.1, HTTPS with the kit's certificate or one given, HTTP/2 with
 * HTTP/1.1 still served; close() leaves no socket; a test context closes it after the
 * test; a handler's throw is a 500 and makes close() reject.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Transport } from "../../src/index.js";
import { startTestServer } from "../../src/testing/index.js";
import { assertNoLeaks, rejectsWith, tcpHandles, waitFor } from "../helpers.js";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";

test("startTestServer: HTTP/1.1 on 127.0.0.1 and a free port; close() leaves no socket and the port refuses", async () => {
  const base = tcpHandles();
  const server = await startTestServer((req, res) => {
    res.setHeader("X-Path", req.url!);
    res.end(`hello ${req.method}`);
  });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(server.ca, undefined);
  const res = await server.client().post(`${server.url}/x`, { body: "b" });
  assert.equal(res.httpVersion, "1.1");
  assert.equal(res.headers.get("x-path"), "/x");
  assert.equal(await res.text(), "hello POST");
  const t = new Transport();
  await (await t.roundTrip({ url: server.url })).text(); // its connection stays idle in t's pool
  await server.close();
  await rejectsWith(t.roundTrip({ url: server.url }), "ERR_CONNECT");
  await assertNoLeaks(t, base);
});

test("startTestServer({ tls: true }): HTTPS with the kit's certificate; client() trusts it, a default Transport does not", async () => {
  const base = tcpHandles();
  const server = await startTestServer((_req, res) => res.end("secure"), { tls: true });
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(server.ca!, /^-----BEGIN CERTIFICATE-----/);
  assert.equal(await (await server.client().get(server.url)).text(), "secure");
  const untrusting = new Transport();
  await rejectsWith(untrusting.roundTrip({ url: server.url }), "ERR_TLS");
  const trusting = new Transport({ tls: { ca: server.ca } });
  assert.equal(await (await trusting.roundTrip({ url: `${server.url}/` })).text(), "secure");
  await server.close();
  await assertNoLeaks(untrusting, base);
  await assertNoLeaks(trusting, base);
});

test("startTestServer({ tls: { key, cert } }): the caller's certificate, reported as ca", async () => {
  const base = tcpHandles();
  const server = await startTestServer((_req, res) => res.end("own cert"), {
    tls: { key: TLS_KEY, cert: TLS_CERT },
  });
  assert.equal(server.ca, TLS_CERT);
  // That certificate names "localhost", not 127.0.0.1: check it by name.
  const t = new Transport({
    tls: { ca: server.ca, servername: "localhost", checkServerIdentity: () => undefined },
  });
  assert.equal(await (await t.roundTrip({ url: server.url })).text(), "own cert");
  await server.close();
  await assertNoLeaks(t, base);
});

test("startTestServer({ http2: true }): HTTP/2 over TLS to a client offering h2, HTTP/1.1 to one that does not", async () => {
  const base = tcpHandles();
  const server = await startTestServer(
    (req, res) => {
      res.setHeader("x-version", req.httpVersion);
      res.end(`over ${req.httpVersion}`);
    },
    { http2: true },
  );
  assert.match(server.url, /^https:/, "http2 implies tls");
  const h2 = await server.client().get(server.url);
  assert.equal(h2.httpVersion, "2");
  assert.equal(await h2.text(), "over 2.0");
  const h1 = new Transport({ tls: { ca: server.ca } });
  const res = await h1.roundTrip({ url: server.url });
  assert.equal(res.httpVersion, "1.1");
  assert.equal(await res.text(), "over 1.1");
  await server.close();
  await assertNoLeaks(h1, base);
  await assert.rejects(
    startTestServer(() => {}, { http2: true, tls: false }),
    { code: "ERR_INVALID_REQUEST" },
  );
});

test("startTestServer({ t }): closed after the test it was given, by t.after (node:test) or onTestFinished (Vitest)", async (t) => {
  const base = tcpHandles();
  let url = "";
  await t.test("inner test using the server", async (inner) => {
    const server = await startTestServer((_req, res) => res.end("inner"), { t: inner });
    url = server.url;
    assert.equal(await (await server.client().get(server.url)).text(), "inner");
  });
  // The inner test's after hooks have run: the listener is gone.
  await waitFor(() => tcpHandles() <= base, 2000, "the server's handles to close");
  const probe = new Transport();
  await rejectsWith(probe.roundTrip({ url }), "ERR_CONNECT");
  await assertNoLeaks(probe, base);

  const finishers: Array<() => unknown> = [];
  const vitestLike = { onTestFinished: (fn: () => unknown) => finishers.push(fn) };
  await startTestServer((_req, res) => res.end(), { t: vitestLike });
  assert.equal(finishers.length, 1);
  await finishers[0]!();
  await waitFor(() => tcpHandles() <= base, 2000, "the Vitest-style cleanup to close it");
  await assert.rejects(
    startTestServer(() => {}, { t: {} as { after(fn: () => unknown): void } }),
    {
      code: "ERR_INVALID_REQUEST",
    },
  );
  assert.equal(tcpHandles(), base, "a refused context starts nothing");
});

test("startTestServer: a handler that throws answers 500 and close() rejects with its error", async () => {
  const base = tcpHandles();
  const server = await startTestServer(async (req, res) => {
    if (req.url === "/ok") return void res.end("fine");
    throw new Error("assertion inside the handler");
  });
  const client = server.client();
  const res = await client.get(`${server.url}/bad`);
  assert.equal(res.status, 500);
  assert.match(await res.text(), /the handler threw: assertion inside the handler/);
  assert.equal(await (await client.get(`${server.url}/ok`)).text(), "fine");
  await assert.rejects(server.close(), /assertion inside the handler/);
  await waitFor(() => tcpHandles() <= base, 2000, "handles to close");
});
