/**
 * compose(): the order of the stack (compose(t, a, b) is a(b(t)), as DESIGN fixes it),
 * the base transport's close(), closeIdleConnections() and stats() kept on the result,
 * a Client over a composed stack (every redirect hop goes through it), bad middleware.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { Client, compose, Headers, type Middleware } from "../../src/index.js";
import { closeLeftovers, newTransport, recordingServer, redirect } from "../client/util.js";
import { assertNoLeaks, rejectsWith, waitFor } from "../helpers.js";

afterEach(closeLeftovers);

/** Adds its name to an X-Trail request header, and to the response's on the way back. */
function tagging(name: string, seen: string[]): Middleware {
  return (next) => ({
    async roundTrip(req) {
      seen.push(`${name}>`);
      const headers = new Headers(req.headers ?? null);
      headers.append("x-trail", name);
      const res = await next.roundTrip({ ...req, headers });
      seen.push(`<${name}`);
      res.headers.append("x-back", name);
      return res;
    },
  });
}

test("compose(t, a, b) is a(b(t)): a sees the request first and the response last", async () => {
  const peer = await recordingServer((_req, res) => res.end("ok"));
  const t = newTransport();
  const seen: string[] = [];
  const rt = compose(t, tagging("a", seen), tagging("b", seen));
  const res = await rt.roundTrip({ url: `${peer.url}/x` });
  assert.equal(await res.text(), "ok");
  assert.deepEqual(seen, ["a>", "b>", "<b", "<a"]);
  assert.equal(peer.seen[0]!.headers["x-trail"], "a, b");
  assert.deepEqual(res.headers.getAll("x-back"), ["b", "a"]);
  await peer.close();
  await assertNoLeaks(t);
});

test("compose keeps the base transport's stats(), closeIdleConnections() and close()", async () => {
  const peer = await recordingServer((_req, res) => res.end("ok"));
  const t = newTransport();
  const rt = compose(t, tagging("a", []));
  await (await rt.roundTrip({ url: peer.url })).text();
  await waitFor(() => rt.stats().idle === 1, 2000, "the connection to go idle");
  assert.deepEqual(rt.stats(), t.stats());
  rt.closeIdleConnections();
  assert.equal(t.stats().total, 0);
  // Composing a composed stack keeps them too.
  const outer = compose(rt, tagging("b", []));
  await (await outer.roundTrip({ url: peer.url })).text();
  await waitFor(() => outer.stats().idle === 1, 2000, "the connection to go idle");
  await outer.close();
  assert.equal(t.stats().total, 0);
  await rejectsWith(t.roundTrip({ url: peer.url }), "ERR_TRANSPORT_CLOSED");
  await rejectsWith(rt.roundTrip({ url: peer.url }), "ERR_TRANSPORT_CLOSED");
  await peer.close();
  await assertNoLeaks(t);
});

test("a Client over a composed stack: the middleware sees every redirect hop", async () => {
  const peer = await recordingServer((req, res) => {
    if (req.url === "/a") redirect(res, 302, "/b");
    else res.end(`at ${req.url}`);
  });
  const t = newTransport();
  const seen: string[] = [];
  const c = new Client({ transport: compose(t, tagging("m", seen)) });
  const res = await c.get(`${peer.url}/a`);
  assert.equal(await res.text(), "at /b");
  assert.equal(res.redirected, true);
  assert.deepEqual(seen, ["m>", "<m", "m>", "<m"]);
  assert.deepEqual(
    peer.seen.map((s) => [s.url, s.headers["x-trail"]]),
    [
      ["/a", "m"],
      ["/b", "m"],
    ],
  );
  await peer.close();
  await assertNoLeaks(t);
});

test("compose() refuses what is not a middleware or not a transport, with ERR_INVALID_REQUEST", () => {
  const t = newTransport();
  assert.throws(
    () => compose(t, 42 as unknown as Middleware),
    (e: Error & { code?: string }) => e.code === "ERR_INVALID_REQUEST" && /middleware 0/.test(e.message),
  );
  assert.throws(
    () => compose(t, (() => null) as unknown as Middleware),
    (e: Error & { code?: string }) => e.code === "ERR_INVALID_REQUEST" && /RoundTripper/.test(e.message),
  );
  assert.throws(
    () => compose({} as unknown as Parameters<typeof compose>[0]),
    (e: Error & { code?: string }) => e.code === "ERR_INVALID_REQUEST",
  );
});
