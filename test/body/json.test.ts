/**
 * res.json() and body.json() on a body that is not JSON: ERR_INVALID_JSON naming the
 * response (status, url), the SyntaxError as cause. fetch's Response stays WHATWG's.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { Client, fetch, isRoundtripError, type RoundtripError } from "../../src/index.js";
import { closeLeftovers, newTransport, recordingServer, redirect } from "../client/util.js";
import { assertNoLeaks, tcpHandles } from "../helpers.js";

afterEach(closeLeftovers);

async function jsonError(p: Promise<unknown>): Promise<RoundtripError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isRoundtripError(err, "ERR_INVALID_JSON"), `expected ERR_INVALID_JSON, got ${String(err)}`);
    return err;
  }
  assert.fail("expected ERR_INVALID_JSON");
}

test("a body that is not JSON is ERR_INVALID_JSON with status, url and the SyntaxError as cause (res.json and body.json)", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((req, res) => {
    if (req.url === "/moved") return redirect(res, 302, "/html");
    if (req.url === "/ok") return res.end('{"a":[1,2]}');
    res.writeHead(req.url === "/html" ? 502 : 200, { "content-type": "text/html" });
    res.end(req.url === "/empty" ? "" : req.url === "/cut" ? '{"a":' : "<html>Bad Gateway</html>");
  });
  const t = newTransport();

  const viaResponse = await jsonError((await t.roundTrip({ url: `${peer.url}/html` })).json());
  assert.equal(viaResponse.status, 502);
  assert.equal(viaResponse.url, `${peer.url}/html`);
  assert.ok(viaResponse.cause instanceof SyntaxError);
  assert.match(viaResponse.message, /not JSON \(status 502\)/);

  const viaBody = await jsonError((await t.roundTrip({ url: `${peer.url}/cut` })).body.json());
  assert.equal(viaBody.status, 200);
  assert.equal(viaBody.url, `${peer.url}/cut`);
  assert.ok(viaBody.cause instanceof SyntaxError);

  const empty = await jsonError((await t.roundTrip({ url: `${peer.url}/empty` })).json());
  assert.equal(empty.status, 200);

  // Through the Client: the URL of the response the body came from (after the redirect).
  const c = new Client({ transport: t });
  const redirected = await jsonError((await c.get(`${peer.url}/moved`)).json());
  assert.equal(redirected.url, `${peer.url}/html`);
  assert.equal(redirected.status, 502);

  assert.deepEqual(await (await c.get(`${peer.url}/ok`)).json(), { a: [1, 2] });
  await peer.close();
  await assertNoLeaks(t, base);
});

test("fetch's Response.json() on a body that is not JSON stays a SyntaxError (WHATWG)", async () => {
  const base = tcpHandles();
  const peer = await recordingServer((_req, res) => res.end("<html>"));
  const t = newTransport();
  const res = await fetch(peer.url, { client: new Client({ transport: t }) });
  await assert.rejects(res.json(), SyntaxError);
  await peer.close();
  await assertNoLeaks(t, base);
});
