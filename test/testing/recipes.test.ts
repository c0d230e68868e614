/**
 * The node:test recipes of docs/testing.md, as written there (imports aside: the
 * package's own source instead of "roundtrip-http"), so the documented usage is known to
 * work and to leave no socket open.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "../../src/index.js";
import { MockTransport, startTestServer } from "../../src/testing/index.js";
import { tcpHandles, waitFor } from "../helpers.js";
import { noSockets } from "./sockets.js";

// The code under test takes its Client (or a RoundTripper) from the caller.
async function userName(client: Client, id: number): Promise<string> {
  const res = await client.get(`https://api.example.com/users/${id}`);
  if (!res.ok) throw new Error(`status ${res.status}`);
  return (await res.json<{ name: string }>()).name;
}

test("userName reads the user's name", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock
    .intercept({ origin: "https://api.example.com", path: "/users/1" })
    .reply(200, null, { json: { name: "Ada" } });

  assert.equal(await userName(new Client({ transport: mock }), 1), "Ada");
  assert.equal(mock.calls.length, 1);
  mock.assertNoPendingInterceptors();
});

test("userName fails on a 503", async (t) => {
  noSockets(t);
  const mock = new MockTransport();
  mock.intercept({ origin: "https://api.example.com", path: "/users/2" }).reply(503);
  await assert.rejects(userName(new Client({ transport: mock }), 2), /status 503/);
});

test("against a real server", async (t) => {
  const base = tcpHandles();
  await t.test("the recipe", async (t) => {
    const server = await startTestServer((req, res) => res.end(`hello ${req.url}`), { t });
    const res = await server.client().get(`${server.url}/x`);
    assert.equal(await res.text(), "hello /x");
  });
  await waitFor(() => tcpHandles() <= base, 2000, "t.after to close the server and its client");
});
