/**
 * The corpus (corpus.ts), each case fed whole, split in two at every offset, and one byte
 * at a time: the events, body, trailers, completion, unconsumed bytes and error must be
 * the same in every mode, and match what the case expects.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RoundtripError } from "../../src/errors.js";
import { ResponseParser, State } from "../../src/http1/response-parser.js";
import { type Case, corpus, type ErrorExpectation, type OkExpectation } from "./corpus.js";
import { bytes, describeMode, modes, type Outcome, pieces, type RecordedHead, run } from "./harness.js";

function checkPartialHead(actual: RecordedHead, expected: Partial<RecordedHead>, what: string): void {
  for (const key of Object.keys(expected) as Array<keyof RecordedHead>) {
    assert.deepEqual(actual[key], expected[key], `${what}: ${key}`);
  }
}

function checkExpectation(c: Case, out: Outcome): void {
  if ("error" in c.expect) {
    const e: ErrorExpectation = c.expect;
    assert.ok(out.error !== null, `expected ${e.error}, got ${JSON.stringify(out.order)}`);
    assert.equal(out.error.code, e.error, out.error.message);
    assert.ok(
      out.error.message.includes(e.rule),
      `message ${JSON.stringify(out.error.message)} names the rule`,
    );
    return;
  }
  const e: OkExpectation = c.expect;
  assert.equal(out.error, null, `unexpected error ${JSON.stringify(out.error)}`);
  const infos = out.events.filter((ev) => ev.kind === "informational");
  assert.equal(infos.length, e.informational?.length ?? 0, "informational heads");
  e.informational?.forEach((want, k) => {
    checkPartialHead(infos[k]!.head, want, `informational #${k}`);
  });
  const heads = out.events.filter((ev) => ev.kind === "head");
  assert.equal(heads.length, 1, "exactly one final head");
  checkPartialHead(heads[0]!.head, e.head, "head");
  assert.equal(out.body, e.body ?? "", "body");
  const trailers = out.events.filter((ev) => ev.kind === "trailers");
  assert.deepEqual(
    trailers.map((t) => t.fields),
    e.trailers === undefined ? [] : [e.trailers],
    "trailers",
  );
  const complete = e.complete ?? true;
  assert.equal(out.events.filter((ev) => ev.kind === "complete").length, complete ? 1 : 0, "completion");
  assert.equal(out.rest, e.rest ?? "", "unconsumed bytes");
  if (e.upgraded) assert.equal(out.state, State.UPGRADED);
  else if (complete) assert.equal(out.state, State.DONE);
  // Callbacks come in protocol order: 1xx heads, the head, data, trailers, completion.
  const rank: Record<string, number> = { informational: 0, head: 1, data: 2, trailers: 3, complete: 4 };
  for (let k = 1; k < out.order.length; k++) {
    assert.ok(rank[out.order[k]!]! >= rank[out.order[k - 1]!]!, `callback order ${out.order.join(",")}`);
  }
}

describe("response parser corpus", () => {
  test("the corpus is large enough and its names are unique", () => {
    assert.ok(corpus.length >= 60, `${corpus.length} cases`);
    assert.equal(new Set(corpus.map((c) => c.name)).size, corpus.length);
  });

  for (const c of corpus) {
    test(c.name, () => {
      const raw = bytes(c.raw);
      const opts = {
        isHead: c.isHead ?? false,
        eof: c.eof ?? false,
        maxHeaderBytes: c.maxHeaderBytes ?? 8192,
      };
      const whole = run([raw], opts);
      checkExpectation(c, whole);
      if ("error" in c.expect && c.expect.badAt !== undefined) {
        // The verdict comes with the first bad byte: not before it, not later.
        const at = c.expect.badAt;
        const upTo = { ...opts, eof: false };
        assert.equal(run([raw.subarray(0, at)], upTo).error, null, `no error before byte ${at}`);
        assert.deepEqual(run([raw.subarray(0, at + 1)], upTo).error, whole.error, `error at byte ${at}`);
      }
      for (const mode of modes(raw.length)) {
        const out = run(pieces(raw, mode), opts);
        assert.deepEqual(out, whole, `${c.name}: ${describeMode(mode)} differs from whole`);
      }
    });
  }
});

describe("response parser API", () => {
  const noop = {
    onInformational() {},
    onHead() {},
    onData() {},
    onTrailers() {},
    onComplete() {},
  };

  test("execute honours its offset argument and returns where the message ended", () => {
    const heads: number[] = [];
    const p = new ResponseParser({ ...noop, onHead: (h) => heads.push(h.status) }, 1024);
    const two = bytes(
      "junkHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    );
    p.reset(false);
    const first = p.execute(two, 4);
    assert.equal(two.subarray(first, first + 8).toString(), "HTTP/1.1");
    assert.equal(p.state, State.DONE);
    assert.equal(p.execute(two, first), first, "a DONE parser consumes nothing");
    p.reset(false);
    assert.equal(p.execute(two, first), two.length);
    assert.deepEqual(heads, [200, 201]);
  });

  test("reset() makes a parser reusable after a chunked response (keep-alive)", () => {
    const bodies: string[] = [];
    const p = new ResponseParser({ ...noop, onData: (c) => bodies.push(c.toString()) }, 1024);
    for (const isHead of [false, true, false]) {
      p.reset(isHead);
      const msg = isHead
        ? "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
        : "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n";
      assert.equal(p.execute(bytes(msg)), msg.length);
      assert.equal(p.state, State.DONE);
    }
    assert.deepEqual(bodies, ["ab", "ab"]);
  });

  test("started is false until a byte arrives, and reset() clears it", () => {
    const p = new ResponseParser(noop, 1024);
    p.reset(false);
    assert.equal(p.started, false);
    p.execute(Buffer.alloc(0));
    assert.equal(p.started, false);
    p.execute(bytes("H"));
    assert.equal(p.started, true);
    p.reset(false);
    assert.equal(p.started, false);
  });

  test("a long head arriving one byte per read costs linear time, not quadratic", () => {
    // 512 KiB, one byte at a time: ~0.3 s when linear; the old rescan-and-concat code
    // needed over 20 s. The bound leaves room for a slow, busy CI machine.
    const head = bytes(
      `HTTP/1.1 200 OK\r\nX-Pad: ${"p".repeat(1 << 19)}\r\nX-B: 1\r\nContent-Length: 0\r\n\r\n`,
    );
    const p = new ResponseParser(noop, 1 << 20);
    p.reset(false);
    const t0 = performance.now();
    for (let k = 0; k < head.length; k++) p.execute(head.subarray(k, k + 1));
    const ms = performance.now() - t0;
    assert.equal(p.state, State.DONE);
    assert.ok(ms < 5000, `${Math.round(ms)} ms`);
  });

  /** Feeds a chunked response's head, then `chunk` up to `times` times, then the last chunk. */
  function feedChunks(
    chunk: string,
    times: number,
  ): { error: RoundtripError | null; fed: number; body: number } {
    let body = 0;
    const onData = (c: Buffer): void => {
      body += c.length;
    };
    const p = new ResponseParser({ ...noop, onData }, 1024);
    p.reset(false);
    const piece = bytes(chunk);
    let fed = 0;
    try {
      p.execute(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
      for (; fed < times; fed++) p.execute(piece);
      p.execute(bytes("0\r\n\r\n"));
      assert.equal(p.state, State.DONE);
    } catch (err) {
      if (!(err instanceof RoundtripError)) throw err;
      return { error: err, fed, body };
    }
    return { error: null, fed, body };
  }

  test("tiny chunks padded with extensions are refused within 16 KiB of overhead (Go TestChunkReaderTooMuchOverhead, CVE-2023-39326)", () => {
    // 100 bytes of extension for each byte of data, up to 2^20 times (100 MiB) as Go's test.
    const { error, fed } = feedChunks(`1;${"a".repeat(100)}\r\nX\r\n`, 1 << 20);
    assert.equal(error?.code, "ERR_BAD_RESPONSE");
    assert.match(error!.message, /too much non-data/);
    // 86 bytes over the fair share per chunk: refused once 16 KiB have piled up.
    assert.equal(fed, Math.floor(16384 / 86));
  });

  test("16 MB of extensions around 4 KB of data is refused after a few chunks", () => {
    // Each line as long as a chunk-size line may be; 4096 such chunks would be 16 MB.
    const { error, fed } = feedChunks(`1;${"e".repeat(4090)}\r\nX\r\n`, 4096);
    assert.equal(error?.code, "ERR_BAD_RESPONSE");
    assert.match(error!.message, /too much non-data/);
    // 4076 bytes over the fair share per chunk: the fifth line crosses 16 KiB.
    assert.equal(fed, 4);
  });

  test("leading zeros padding tiny chunks count as overhead too", () => {
    const { error, fed } = feedChunks(`${"0".repeat(4000)}1\r\nX\r\n`, 4096);
    assert.match(error?.message ?? "", /too much non-data/);
    assert.ok(fed < 5, `${fed} chunks read`);
  });

  test("one-byte chunks are not overhead (Go TestChunkReaderByteAtATime)", () => {
    const { error, body } = feedChunks("1\r\nX\r\n", 1 << 17);
    assert.equal(error, null);
    assert.equal(body, 1 << 17);
  });

  test("an extension up to twice its chunk's data is free, however many chunks", () => {
    const { error, body } = feedChunks(`40;k=${"v".repeat(2 * 64 + 16 - 8)}\r\n${"d".repeat(64)}\r\n`, 5000);
    assert.equal(error, null);
    assert.equal(body, 64 * 5000);
  });

  test("a large chunk pays back earlier overhead (Go's leaky bucket)", () => {
    // 15 KiB of excess, a 64 KiB chunk that clears it, then 15 KiB more: never over 16 KiB.
    const padded = `1;${"a".repeat(100)}\r\nX\r\n`;
    const big = `10000\r\n${"b".repeat(0x10000)}\r\n`;
    const { error } = feedChunks(padded.repeat(180) + big + padded.repeat(180), 1);
    assert.equal(error, null);
  });

  test("chunk overhead is counted per response: reset() starts afresh", () => {
    const p = new ResponseParser(noop, 1024);
    const msg = bytes(
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${`1;${"a".repeat(100)}\r\nX\r\n`.repeat(180)}0\r\n\r\n`,
    );
    for (let k = 0; k < 3; k++) {
      p.reset(false);
      assert.equal(p.execute(msg), msg.length);
      assert.equal(p.state, State.DONE);
    }
  });

  test("finish() after completion or upgrade is a no-op", () => {
    const p = new ResponseParser(noop, 1024);
    p.reset(false);
    p.execute(bytes("HTTP/1.1 204 No Content\r\n\r\n"));
    p.finish();
    p.reset(false);
    p.execute(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"));
    assert.equal(p.state, State.UPGRADED);
    p.finish();
  });
});
