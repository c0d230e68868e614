/**
 * retry()'s resumeDownloads (undici's RetryHandler resumes the same way): a 200 body cut
 * off mid-download goes on with Range + If-Match/If-Range on its strong ETag and reaches
 * the caller byte-exact as one Body; what ends a resumption (weak or no ETag, a 200 or a
 * 412 to the range request, a Content-Range elsewhere, the budget), the caller closing
 * the body during the wait, and the pool after each.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { compose, type Progress, retry } from "../../src/index.js";
import { closeLeftovers, newTransport } from "../client/util.js";
import {
  assertNoLeaks,
  rejectsWith,
  type ScriptedRequest,
  scriptedServer,
  seededBytes,
  serve,
  waitFor,
} from "../helpers.js";
import { heldTimers, instantTimers } from "./util.js";

afterEach(closeLeftovers);

const SIZE = 1024 * 1024 + 12_345;
const DATA = seededBytes(SIZE, 16);

interface Script {
  etag?: string;
  /** Byte offsets at which successive responses are cut (the last part is sent whole). */
  cuts: readonly number[];
  kill?: "FIN" | "RST";
  /** How to answer a range request: "206" (default), "200" (ignore Range), "412", "wrong-range". */
  answer?: "206" | "200" | "412" | "wrong-range";
}

/** Serves DATA with a strong ETag; response i is cut at cuts[i] (FIN or RST); range requests get the rest. */
function downloadServer(t: { after(fn: () => unknown): void }, s: Script) {
  const etag = s.etag ?? '"v1"';
  let i = 0;
  return serve(t, scriptedServer, (req: ScriptedRequest) => {
    const n = i++;
    const range = /\r\nrange: bytes=(\d+)-\r\n/i.exec(req.head);
    const start = range ? Number(range[1]) : 0;
    let head: string;
    if (range && s.answer === "412") {
      req.socket.write("HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const partial = range !== null && s.answer !== "200";
    const from = partial ? start : 0;
    if (partial) {
      const shown = s.answer === "wrong-range" ? from + 1 : from;
      head = `HTTP/1.1 206 Partial Content\r\nETag: ${etag}\r\nContent-Range: bytes ${shown}-${SIZE - 1}/${SIZE}\r\nContent-Length: ${SIZE - from}\r\n\r\n`;
    } else {
      head = `HTTP/1.1 200 OK\r\nETag: ${etag}\r\nAccept-Ranges: bytes\r\nContent-Length: ${SIZE}\r\n\r\n`;
    }
    const cut = s.cuts[n];
    if (cut === undefined) {
      req.socket.write(head);
      req.socket.write(DATA.subarray(from));
      return;
    }
    req.socket.write(head);
    req.socket.write(DATA.subarray(from, cut), () => {
      if (s.kill === "RST") req.socket.resetAndDestroy();
      else req.socket.end();
    });
    return "hold";
  });
}

test("a download cut by FIN resumes with Range + If-Match/If-Range and arrives byte-exact", async (t) => {
  const peer = await downloadServer(t, { cuts: [400_000] });
  const tr = newTransport();
  const progress: Progress[] = [];
  const res = await compose(tr, retry({ timers: instantTimers() })).roundTrip({
    url: `${peer.url}/file`,
    onDownloadProgress: (p) => progress.push(p),
  });
  assert.equal(res.status, 200);
  assert.equal(res.contentLength, SIZE);
  const body = Buffer.from(await res.bytes());
  assert.equal(body.length, SIZE);
  assert.ok(body.equals(DATA), "byte-exact");
  assert.equal(res.retries, 1);
  assert.equal(peer.requests.length, 2);
  const second = peer.requests[1]!.head;
  assert.match(second, /\r\nrange: bytes=400000-\r\n/i);
  assert.match(second, /\r\nif-match: "v1"\r\n/i);
  assert.match(second, /\r\nif-range: "v1"\r\n/i);
  assert.deepEqual(progress.at(-1), { loaded: SIZE, total: SIZE }, "progress counts the whole body");
  assert.ok(
    progress.every((p, k) => k === 0 || p.loaded >= progress[k - 1]!.loaded),
    "progress never goes back",
  );
  await peer.close();
  await assertNoLeaks(tr);
});

test("two cuts (one an RST), read as a stream: resumed twice within the default budget, byte-exact", async (t) => {
  const peer = await downloadServer(t, { cuts: [300_000, 700_000], kill: "RST" });
  const tr = newTransport();
  const res = await compose(tr, retry({ timers: instantTimers() })).roundTrip({ url: peer.url });
  const parts: Buffer[] = [];
  for await (const chunk of res.body.stream()) parts.push(chunk as Buffer);
  const body = Buffer.concat(parts);
  assert.ok(body.equals(DATA), `byte-exact (got ${body.length} of ${SIZE})`);
  assert.equal(res.retries, 2);
  assert.equal(peer.requests.length, 3);
  await peer.close();
  await assertNoLeaks(tr);
});

test("the budget is shared: with retries 1, the second cut reaches the caller", async (t) => {
  const peer = await downloadServer(t, { cuts: [300_000, 700_000] });
  const tr = newTransport();
  const res = await compose(tr, retry({ retries: 1, timers: instantTimers() })).roundTrip({ url: peer.url });
  await rejectsWith(res.bytes(), "ERR_UNEXPECTED_EOF");
  assert.equal(res.retries, 1);
  assert.equal(peer.requests.length, 2);
  await peer.close();
  await assertNoLeaks(tr);
});

for (const [name, script] of [
  ["a weak ETag", { etag: 'W/"v1"', cuts: [400_000] }],
  ["resumeDownloads: false", { cuts: [400_000] }],
] as const) {
  test(`not resumed with ${name}: the cut reaches the caller, nothing more is asked`, async (t) => {
    const peer = await downloadServer(t, script);
    const tr = newTransport();
    const res = await compose(
      tr,
      retry({ timers: instantTimers(), resumeDownloads: name !== "resumeDownloads: false" }),
    ).roundTrip({ url: peer.url });
    await rejectsWith(res.bytes(), "ERR_UNEXPECTED_EOF");
    assert.equal(peer.requests.length, 1);
    await peer.close();
    await assertNoLeaks(tr);
  });
}

for (const answer of ["200", "412", "wrong-range"] as const) {
  test(`a range request answered ${answer}: the resumption ends with the cut's error, the answer closed`, async (t) => {
    const peer = await downloadServer(t, { cuts: [400_000], answer });
    const tr = newTransport();
    const res = await compose(tr, retry({ timers: instantTimers() })).roundTrip({ url: peer.url });
    await rejectsWith(res.bytes(), "ERR_UNEXPECTED_EOF");
    assert.equal(peer.requests.length, 2);
    await peer.close();
    await assertNoLeaks(tr);
  });
}

test("the caller closing the body during the wait stops the resumption; nothing more is sent", async (t) => {
  const peer = await downloadServer(t, { cuts: [400_000] });
  const tr = newTransport();
  const timers = heldTimers();
  const res = await compose(tr, retry({ timers })).roundTrip({ url: peer.url });
  await waitFor(() => timers.pending === 1, 5000, "the wait before the resumption");
  await res.close();
  await waitFor(() => timers.pending === 0, 2000, "the wait to be cancelled");
  assert.equal(timers.cleared, 1);
  assert.equal(peer.requests.length, 1);
  await peer.close();
  await assertNoLeaks(tr);
});

test("an abort during the wait fails the body with ERR_ABORTED", async (t) => {
  const peer = await downloadServer(t, { cuts: [400_000] });
  const tr = newTransport();
  const timers = heldTimers();
  const ac = new AbortController();
  const res = await compose(tr, retry({ timers })).roundTrip({ url: peer.url, signal: ac.signal });
  const reading = res.bytes();
  await waitFor(() => timers.pending === 1, 5000, "the wait before the resumption");
  ac.abort();
  await rejectsWith(reading, "ERR_ABORTED");
  assert.equal(peer.requests.length, 1);
  await peer.close();
  await assertNoLeaks(tr);
});
