/**
 * IPv6 literals end to end on the ::1 loopback: the URL's brackets, the Host field
 * (brackets kept, port kept), the pool key, and keep-alive reuse.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type net from "node:net";
import { test } from "node:test";
import { Transport } from "../../src/index.js";
import { assertNoLeaks, tcpHandles } from "../helpers.js";

test("http://[::1]:port/ — Host keeps the brackets, the connection is reused", async () => {
  const base = tcpHandles();
  const hosts: string[] = [];
  const server = http.createServer((req, res) => {
    hosts.push(String(req.headers.host));
    res.end(`${req.socket.remoteAddress}`);
  });
  server.listen(0, "::1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  const t = new Transport();
  for (let i = 0; i < 2; i++) {
    const res = await t.roundTrip({ url: `http://[::1]:${port}/x` });
    assert.equal(await res.text(), "::1");
    assert.equal(res.conn.reused, i > 0);
  }
  assert.deepEqual(hosts, [`[::1]:${port}`, `[::1]:${port}`]);
  assert.deepEqual(Object.keys(t.stats().perHost), [`[::1]:${port}`]);
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await assertNoLeaks(t, base);
});
