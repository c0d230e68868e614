/**
 * new Response(body, init) and new Body(init): a response built by hand behaves as a
 * received one — read once (ERR_BODY_USED), async-iterable, stream()/webStream(),
 * close() cancels a streamed source, trailers appear at EOF, contentLength from the
 * Content-Length header or the body's known length, else -1.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { Body, type BodyInit, file, Headers, Response } from "../../src/index.js";
import { rejectsWith, waitFor } from "../helpers.js";

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

test("new Response(): defaults — 200 OK, HTTP/1.1, empty body of length 0, no url", async () => {
  const res = new Response();
  assert.equal(res.status, 200);
  assert.equal(res.statusText, "OK");
  assert.equal(res.httpVersion, "1.1");
  assert.equal(res.url, "");
  assert.equal(res.ok, true);
  assert.equal(res.contentLength, 0);
  assert.equal(res.redirected, false);
  assert.equal(res.uncompressed, false);
  assert.deepEqual(res.conn, { reused: false, wasIdle: false, idleTime: 0 });
  assert.equal(res.timings.firstByte, -1);
  assert.equal(res.headers.size, 0);
  assert.equal(await res.text(), "");
  assert.equal(res.body.used, true);
});

test("new Response(string, init): status, statusText, headers, url, httpVersion as given; text/plain added when no Content-Type", async () => {
  const res = new Response("héllo", {
    status: 404,
    headers: { "X-A": "1" },
    url: "http://example.test/x",
    httpVersion: "2",
  });
  assert.equal(res.status, 404);
  assert.equal(res.statusText, "Not Found");
  assert.equal(res.ok, false);
  assert.equal(res.httpVersion, "2");
  assert.equal(res.url, "http://example.test/x");
  assert.deepEqual(res.headers.raw(), [
    ["X-A", "1"],
    ["Content-Type", "text/plain;charset=UTF-8"],
  ]);
  assert.equal(res.contentLength, Buffer.byteLength("héllo"));
  assert.equal(await res.text(), "héllo");

  const own = new Response("{}", { statusText: "Fine", headers: [["content-type", "application/json"]] });
  assert.equal(own.statusText, "Fine");
  assert.deepEqual(own.headers.raw(), [["content-type", "application/json"]]);
  assert.deepEqual(await own.json(), {});
  assert.equal(new Response(null, { status: 599 }).statusText, "", "no standard phrase for 599");
});

test("new Response(): a second read is ERR_BODY_USED, whichever way the body was read first", async () => {
  const reads: Array<(r: Response) => unknown> = [
    (r) => r.text(),
    (r) => r.bytes(),
    (r) => r.arrayBuffer(),
    (r) => r.json(),
    (r) => r.body.stream().resume(),
    (r) => r.body.webStream(),
    (r) => r.body[Symbol.asyncIterator](),
  ];
  for (const first of reads) {
    const res = new Response('"x"');
    await first(res);
    assert.equal(res.body.used, true);
    await rejectsWith(res.text(), "ERR_BODY_USED");
    assert.throws(() => res.body.stream(), { code: "ERR_BODY_USED" });
    assert.throws(() => res.body[Symbol.asyncIterator](), { code: "ERR_BODY_USED" });
  }
});

test("new Response(bytes | ArrayBuffer | view | Blob | URLSearchParams): bytes as given, contentLength known, a Blob's type as Content-Type", async () => {
  const u8 = new Uint8Array([1, 2, 3, 4]);
  assert.deepEqual([...(await new Response(u8).bytes())], [1, 2, 3, 4]);
  assert.equal(new Response(u8).headers.has("content-type"), false, "no type invented for bytes");
  assert.equal(new Response(u8.buffer).contentLength, 4);
  assert.deepEqual([...(await new Response(new DataView(u8.buffer, 1, 2)).bytes())], [2, 3]);
  const ab = await new Response(Buffer.from("abc")).arrayBuffer();
  assert.ok(ab instanceof ArrayBuffer);
  assert.equal(ab.byteLength, 3);

  const blob = new Blob(["blob", " body"], { type: "text/x-blob" });
  const fromBlob = new Response(blob);
  assert.equal(fromBlob.contentLength, 9);
  assert.equal(fromBlob.headers.get("content-type"), "text/x-blob");
  assert.equal(await fromBlob.text(), "blob body");

  const form = new Response(new URLSearchParams({ a: "1", b: "two words" }));
  assert.equal(form.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8");
  assert.equal(await form.text(), "a=1&b=two+words");
});

test("new Response(FormData): a multipart body with its boundary in Content-Type", async () => {
  const fd = new FormData();
  fd.append("field", "value");
  const res = new Response(fd);
  const type = res.headers.get("content-type")!;
  const boundary = /boundary=(.+)$/.exec(type)![1]!;
  const body = await res.text();
  assert.ok(
    body.startsWith(`--${boundary}\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n`),
  );
  assert.ok(body.endsWith(`--${boundary}--\r\n`));
});

test("new Response(file()): the file's bytes, read as a stream", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "rt-response-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "f.txt");
  writeFileSync(path, "0123456789");
  assert.equal(await new Response(file(path, { start: 2, end: 5 })).text(), "2345");
  assert.equal(await new Response(file(path)).text(), "0123456789");
});

test("new Response(stream): Readable, ReadableStream and async generator bodies stream in order; contentLength -1", async () => {
  const chunks = ["a", "bb", "ccc"];
  const sources: Array<() => BodyInit> = [
    () => Readable.from(chunks.map((c) => Buffer.from(c))),
    () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (const x of chunks) c.enqueue(Buffer.from(x));
          c.close();
        },
      }),
    () =>
      (async function* () {
        for (const x of chunks) yield x; // strings are UTF-8 chunks
      })(),
  ];
  for (const make of sources) {
    const res = new Response(make());
    assert.equal(res.contentLength, -1);
    const got: string[] = [];
    for await (const c of res.body) got.push(text(c));
    assert.deepEqual(got.join(""), "abbccc");
  }
  const viaStream = new Response(Readable.from([Buffer.from("x"), Buffer.from("y")]));
  let s = "";
  for await (const c of viaStream.body.stream()) s += c;
  assert.equal(s, "xy");
  const viaWeb = new Response(Readable.from([Buffer.from("w")]));
  assert.equal(await new globalThis.Response(viaWeb.body.webStream()).text(), "w");
});

test("new Response(stream, { headers: Content-Length }): the header gives contentLength", () => {
  const res = new Response(Readable.from([Buffer.from("abc")]), { headers: { "content-length": "3" } });
  assert.equal(res.contentLength, 3);
  assert.equal(new Response(null, { headers: { "Content-Length": "1234" } }).contentLength, 1234);
  assert.equal(new Response("abc", { headers: { "content-length": "x" } }).contentLength, 3);
});

test("new Response(stream, { trailers }): trailers are empty until the body reached its end", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const res = new Response(
    (async function* () {
      yield "part 1";
      await gate;
      yield "part 2";
    })(),
    { trailers: { "X-Checksum": "abc" } },
  );
  const it = res.body[Symbol.asyncIterator]();
  assert.equal(text((await it.next()).value as Uint8Array), "part 1");
  assert.equal(res.trailers.size, 0, "no trailers before EOF");
  release();
  assert.equal(text((await it.next()).value as Uint8Array), "part 2");
  assert.equal((await it.next()).done, true);
  assert.equal(res.trailers.get("x-checksum"), "abc");

  const whole = new Response("done", { trailers: [["Server-Timing", "db;dur=1"]] });
  assert.equal(await whole.text(), "done");
  assert.equal(whole.trailers.get("server-timing"), "db;dur=1");
});

test("new Response(generator): the source is read with backpressure, not run ahead of the reader", async () => {
  let produced = 0;
  let finished = false;
  const chunk = Buffer.alloc(64 * 1024);
  const res = new Response(
    (async function* () {
      try {
        for (let i = 0; i < 10_000; i++) {
          produced++;
          yield chunk;
        }
      } finally {
        finished = true;
      }
    })(),
  );
  // The pump stops above the buffer's 1 MiB high-water mark: 17 chunks, plus one in flight.
  await waitFor(() => produced >= 17, 2000, "the pump to fill the buffer");
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(produced <= 19, `produced ${produced} chunks with nobody reading`);
  const it = res.body[Symbol.asyncIterator]();
  for (let i = 0; i < 40; i++) await it.next();
  await waitFor(() => produced >= 57, 2000, "the pump to resume");
  await res.close();
  await waitFor(() => finished, 2000, "the generator to be returned");
  assert.ok(produced < 10_000);
});

test("new Response(stream).close(): cancels a Readable, a ReadableStream and a generator, and fails a pending read with ERR_ABORTED", async () => {
  const readable = new Readable({ read() {} });
  readable.push("first");
  const r1 = new Response(readable);
  await r1.close();
  await waitFor(() => readable.destroyed, 2000, "the Readable to be destroyed");

  let cancelled = false;
  const web = new ReadableStream<Uint8Array>({
    pull() {
      // never enqueues: a read stays pending
      return new Promise(() => {});
    },
    cancel() {
      cancelled = true;
    },
  });
  const r2 = new Response(web);
  const pending = r2.text();
  await new Promise((r) => setTimeout(r, 10));
  await r2.close();
  await rejectsWith(pending, "ERR_ABORTED");
  await waitFor(() => cancelled, 2000, "the ReadableStream to be cancelled");

  let returned = false;
  const r3 = new Response(
    (async function* () {
      try {
        yield "a";
        yield "b";
      } finally {
        returned = true;
      }
    })(),
  );
  for await (const _ of r3.body) break; // a break gives the body up, as with a received one
  await waitFor(() => returned, 2000, "the generator to be returned");
  await r3.close(); // safe to call again
});

test("new Response(stream): the source's error fails the read with that error", async () => {
  const boom = new Error("source failed");
  const res = new Response(
    (async function* () {
      yield "ok";
      throw boom;
    })(),
  );
  await assert.rejects(res.text(), (err) => err === boom);
  const bad = new Response(
    (async function* () {
      yield 42 as unknown as string;
    })(),
  );
  await rejectsWith(bad.text(), "ERR_INVALID_REQUEST");
});

test("new Response(body.of.another.response): wraps a Body; closing the wrapper closes the wrapped body", async () => {
  const inner = new Response(Readable.from([Buffer.from("inner")]));
  const outer = new Response(inner.body, { status: 201, headers: inner.headers });
  assert.equal(inner.body.used, true, "the wrapper took the inner body");
  assert.equal(await outer.text(), "inner");

  const held = new Readable({ read() {} });
  const inner2 = new Response(held);
  const outer2 = new Response(inner2.body);
  await outer2.close();
  await waitFor(() => held.destroyed, 2000, "the inner source to be cancelled");
});

test("new Response(): invalid status, statusText, httpVersion, header or body type is ERR_INVALID_REQUEST", () => {
  for (const status of [99, 1000, 200.5, Number.NaN]) {
    assert.throws(() => new Response(null, { status }), { code: "ERR_INVALID_REQUEST" });
  }
  assert.throws(() => new Response(null, { statusText: "OK\r\nX-Evil: 1" }), { code: "ERR_INVALID_REQUEST" });
  assert.throws(() => new Response(null, { httpVersion: "3" as "2" }), { code: "ERR_INVALID_REQUEST" });
  assert.throws(() => new Response(null, { headers: { "Bad Name": "x" } }), { code: "ERR_INVALID_REQUEST" });
  assert.throws(() => new Response(null, { trailers: { ok: "a\nb" } }), { code: "ERR_INVALID_REQUEST" });
  assert.throws(() => new Response({ json: 1 } as unknown as string), { code: "ERR_INVALID_REQUEST" });
});

test("new Body(init): a Body on its own reads like a received one; await using closes it", async () => {
  const b = new Body("standalone");
  assert.equal(b.used, false);
  assert.equal(await b.text(), "standalone");
  assert.equal(b.used, true);
  await rejectsWith(b.bytes(), "ERR_BODY_USED");
  assert.equal(await new Body().text(), "");

  const held = new Readable({ read() {} });
  {
    await using res = new Response(held, { headers: new Headers([["x", "1"]]) });
    assert.equal(res.headers.get("x"), "1");
  }
  await waitFor(() => held.destroyed, 2000, "await using to close the body");
});

test("two watchers of a body's end both run (a fake RoundTripper's and the Client's deadline)", async () => {
  const order: string[] = [];
  const res = new Response(Readable.from([Buffer.from("x")]));
  res._onBodySettled(() => order.push("first"));
  res._onBodySettled(() => order.push("second"));
  await res.text();
  assert.deepEqual(order, ["first", "second"]);
  const done = new Response("already whole");
  done._onBodySettled(() => order.push("at once"));
  assert.deepEqual(order, ["first", "second", "at once"]);
});
