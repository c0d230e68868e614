/**
 * The Client's beforeRequest / afterResponse hooks: once per hop (redirects included),
 * never once per retry; editing the request without touching the caller's objects;
 * replacing the response; a throwing hook closes what it was given.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { Client, compose, type HookRequest, retry, type Transport } from "../../src/index.js";
import { closeLeftovers, newTransport, recordingServer, redirect } from "../client/util.js";
import { assertNoLeaks, rejectsWith, waitFor } from "../helpers.js";
import { instantTimers } from "./util.js";

afterEach(closeLeftovers);

test("beforeRequest adds a header on every hop; afterResponse sees each hop's response", async () => {
  const peer = await recordingServer((req, res) => {
    if (req.url === "/start") redirect(res, 302, "/end");
    else res.end("done");
  });
  const t = newTransport();
  const before: string[] = [];
  const after: Array<[number, string]> = [];
  const c = new Client({
    transport: t,
    beforeRequest(req) {
      before.push(`${req.method} ${req.url.pathname}`);
      if (req.url.origin === peer.url) req.headers.set("authorization", "Bearer t0k3n");
    },
    afterResponse(res, req) {
      after.push([res.status, req.url.pathname]);
    },
  });
  const res = await c.get(`${peer.url}/start`);
  assert.equal(await res.text(), "done");
  assert.deepEqual(before, ["GET /start", "GET /end"]);
  assert.deepEqual(after, [
    [302, "/start"],
    [200, "/end"],
  ]);
  assert.deepEqual(
    peer.seen.map((s) => s.headers.authorization),
    ["Bearer t0k3n", "Bearer t0k3n"],
  );
  await peer.close();
  await assertNoLeaks(t);
});

test("beforeRequest edits its own copy: the caller's headers object and URL stay as they were", async () => {
  const peer = await recordingServer((req, res) => res.end(req.url));
  const t = newTransport();
  const c = new Client({
    transport: t,
    async beforeRequest(req) {
      await Promise.resolve();
      req.headers.set("x-added", "1");
      req.url.searchParams.set("signed", "yes");
    },
  });
  const headers = { accept: "text/plain" };
  const url = new URL(`${peer.url}/p`);
  const res = await c.get(url, { headers });
  assert.equal(await res.text(), "/p?signed=yes");
  assert.deepEqual(headers, { accept: "text/plain" });
  assert.equal(url.href, `${peer.url}/p`);
  assert.equal(peer.seen[0]!.headers["x-added"], "1");
  assert.equal(peer.seen[0]!.headers.accept, "text/plain");
  await peer.close();
  await assertNoLeaks(t);
});

test("hooks run once per hop, not once per retry below them", async () => {
  let n = 0;
  const peer = await recordingServer((_req, res) => {
    if (n++ === 0) {
      res.statusCode = 503;
      res.end("busy");
    } else res.end("ok");
  });
  const t = newTransport();
  let befores = 0;
  const statuses: number[] = [];
  const c = new Client({
    transport: compose(t, retry({ timers: instantTimers() })),
    beforeRequest: () => void befores++,
    afterResponse: (res) => void statuses.push(res.status),
  });
  const res = await c.get(peer.url);
  assert.equal(await res.text(), "ok");
  assert.equal(res.retries, 1);
  assert.equal(peer.seen.length, 2);
  assert.equal(befores, 1);
  assert.deepEqual(statuses, [200]);
  await peer.close();
  await assertNoLeaks(t);
});

test("afterResponse may replace the response; client.transport keeps the base's stats() and close()", async () => {
  const peer = await recordingServer((req, res) => res.end(`body of ${req.url}`));
  const t = newTransport();
  const c = new Client({
    transport: t,
    async afterResponse(res, req) {
      if (req.url.pathname !== "/old") return;
      // The hook owns the response it replaces.
      await res.close();
      return t.roundTrip({ url: `${peer.url}/new` });
    },
  });
  const res = await c.get(`${peer.url}/old`);
  assert.equal(await res.text(), "body of /new");
  assert.deepEqual(
    peer.seen.map((s) => s.url),
    ["/old", "/new"],
  );
  const rt = c.transport as unknown as Transport;
  await waitFor(() => rt.stats().idle === 1, 2000, "the connection to go idle");
  assert.deepEqual(rt.stats(), t.stats());
  await peer.close();
  await assertNoLeaks(t);
});

test("a throwing afterResponse fails the call with its error and closes the response (connection reused)", async () => {
  const peer = await recordingServer((_req, res) => {
    res.statusCode = 500;
    res.end("x".repeat(1000));
  });
  const t = newTransport();
  const boom = new Error("status check failed");
  const c = new Client({
    transport: t,
    afterResponse(res) {
      if (!res.ok) throw boom;
    },
  });
  await assert.rejects(c.get(peer.url), (e) => e === boom);
  await assert.rejects(c.get(peer.url), (e) => e === boom);
  assert.equal(peer.connections, 1, "the drained connection was reused");
  await peer.close();
  await assertNoLeaks(t);
});

test("a throwing beforeRequest fails the call before anything is sent", async () => {
  const peer = await recordingServer((_req, res) => res.end("ok"));
  const t = newTransport();
  const c = new Client({
    transport: t,
    beforeRequest(req: HookRequest) {
      if (req.method === "DELETE") throw new Error("deletes are not allowed here");
    },
  });
  await assert.rejects(c.delete(peer.url), /deletes are not allowed/);
  assert.equal(peer.seen.length, 0);
  assert.equal(peer.connections, 0);
  await peer.close();
  await assertNoLeaks(t);
});

test("hooks that are not functions are ERR_INVALID_REQUEST; no hooks leaves client.transport as given", async () => {
  const t = newTransport();
  assert.throws(
    () => new Client({ transport: t, beforeRequest: "x" as unknown as () => void }),
    (e: Error & { code?: string }) => e.code === "ERR_INVALID_REQUEST",
  );
  assert.equal(new Client({ transport: t }).transport, t);
  await rejectsWith(new Client({ transport: t, beforeRequest() {} }).get("not a url"), "ERR_INVALID_REQUEST");
  await assertNoLeaks(t);
});
