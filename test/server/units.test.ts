/**
 * The pure pieces of roundtrip-http/server, table-driven: Range parsing and its guards, the
 * precondition order, HTTP dates, entity tags, MIME sniffing, extension lookup, and the
 * URL `..` check.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { evaluatePreconditions, type Validators } from "../../src/server/conditional.js";
import { fileETag, listMatches, scanETag, strongMatch, weakMatch } from "../../src/server/etag.js";
import { formatHttpDate, parseHttpDate } from "../../src/server/http-date.js";
import { contentTypeByExtension, detectContentType } from "../../src/server/index.js";
import { parseRange, tooCostly } from "../../src/server/range.js";
import { urlHasDotDot } from "../../src/server/serve-file.js";

describe("parseRange", () => {
  const size = 100;
  const cases: [string | undefined, ReturnType<typeof parseRange>][] = [
    [undefined, { kind: "whole" }],
    ["bytes=0-9", { kind: "ranges", ranges: [{ start: 0, length: 10 }] }],
    ["bytes=90-", { kind: "ranges", ranges: [{ start: 90, length: 10 }] }],
    ["bytes=-10", { kind: "ranges", ranges: [{ start: 90, length: 10 }] }],
    ["bytes=-1000", { kind: "ranges", ranges: [{ start: 0, length: 100 }] }],
    ["bytes=50-1000", { kind: "ranges", ranges: [{ start: 50, length: 50 }] }],
    ["bytes=99-99", { kind: "ranges", ranges: [{ start: 99, length: 1 }] }],
    [
      "bytes= 0-1 , ,5-6",
      {
        kind: "ranges",
        ranges: [
          { start: 0, length: 2 },
          { start: 5, length: 2 },
        ],
      },
    ],
    ["BYTES=0-0", { kind: "ranges", ranges: [{ start: 0, length: 1 }] }],
    // Past the end, alone or beside satisfiable ranges.
    ["bytes=100-", { kind: "unsatisfiable" }],
    ["bytes=100-200,300-", { kind: "unsatisfiable" }],
    ["bytes=100-200,0-0", { kind: "ranges", ranges: [{ start: 0, length: 1 }] }],
    ["bytes=-0", { kind: "unsatisfiable" }],
    ["bytes=99999999999999999999-", { kind: "unsatisfiable" }],
    // Malformed within the bytes unit: Go answers 416.
    ["bytes=abc", { kind: "invalid" }],
    ["bytes=5-1", { kind: "invalid" }],
    ["bytes=-", { kind: "invalid" }],
    ["bytes=--5", { kind: "invalid" }],
    ["bytes=1-2-3", { kind: "invalid" }],
    ["bytes=+1-2", { kind: "invalid" }],
    ["bytes0-1", { kind: "invalid" }],
    // Other units must be ignored (RFC 9110 14.2); so is an empty set.
    ["items=0-5", { kind: "whole" }],
    ["bytes=", { kind: "whole" }],
  ];
  for (const [header, want] of cases) {
    test(`${header}`, () => assert.deepEqual(parseRange(header, size), want));
  }

  test("empty content: every range is past the end", () => {
    assert.deepEqual(parseRange("bytes=0-", 0), { kind: "unsatisfiable" });
    assert.deepEqual(parseRange("bytes=-5", 0), { kind: "unsatisfiable" });
  });

  test("amplification guard: sum over size, or too many ranges", () => {
    const r = (start: number, length: number) => ({ start, length });
    assert.equal(tooCostly([r(0, 60), r(30, 60)], 100, 10), true, "overlap adding up past the size");
    assert.equal(tooCostly([r(0, 100), r(0, 100)], 100, 10), true, "the whole file twice");
    assert.equal(tooCostly([r(0, 50), r(50, 50)], 100, 10), false);
    assert.equal(
      tooCostly(
        Array.from({ length: 11 }, (_, i) => r(i, 1)),
        100,
        10,
      ),
      true,
    );
    assert.equal(
      tooCostly(
        Array.from({ length: 10 }, (_, i) => r(i, 1)),
        100,
        10,
      ),
      false,
    );
  });
});

describe("evaluatePreconditions", () => {
  const etag = '"abc"';
  const modified = Date.UTC(2024, 0, 2, 3, 4, 5, 678); // sub-second part must not matter
  const at = (deltaSeconds: number) => formatHttpDate(Date.UTC(2024, 0, 2, 3, 4, 5) + deltaSeconds * 1000);
  const v: Validators = { etag, modified };
  const run = (headers: Record<string, string>, method = "GET", validators = v) =>
    evaluatePreconditions(method, headers, validators).kind;
  const proceed = "proceed";

  test("If-Match: strong comparison, any member, *", () => {
    assert.equal(run({ "if-match": '"abc"' }), proceed);
    assert.equal(run({ "if-match": '"x", "abc"' }), proceed);
    assert.equal(run({ "if-match": "*" }), proceed);
    assert.equal(run({ "if-match": '"x"' }), "precondition-failed");
    assert.equal(run({ "if-match": 'W/"abc"' }), "precondition-failed", "weak tags never match strongly");
    assert.equal(run({ "if-match": '"abc"' }, "GET", { etag: 'W/"abc"', modified }), "precondition-failed");
    assert.equal(run({ "if-match": '"abc"' }, "GET", { etag: undefined, modified }), "precondition-failed");
  });

  test("If-Unmodified-Since, and If-Match taking precedence over it", () => {
    assert.equal(run({ "if-unmodified-since": at(0) }), proceed);
    assert.equal(run({ "if-unmodified-since": at(10) }), proceed);
    assert.equal(run({ "if-unmodified-since": at(-1) }), "precondition-failed");
    assert.equal(run({ "if-unmodified-since": "yesterday" }), proceed, "an invalid date is ignored");
    assert.equal(run({ "if-match": '"abc"', "if-unmodified-since": at(-1) }), proceed);
    assert.equal(run({ "if-unmodified-since": at(-1) }, "GET", { etag, modified: undefined }), proceed);
  });

  test("If-None-Match: weak comparison, 304 for GET/HEAD, 412 otherwise", () => {
    assert.equal(run({ "if-none-match": '"abc"' }), "not-modified");
    assert.equal(run({ "if-none-match": 'W/"abc"' }), "not-modified");
    assert.equal(run({ "if-none-match": '"x", W/"abc"' }, "HEAD"), "not-modified");
    assert.equal(run({ "if-none-match": "*" }), "not-modified");
    assert.equal(run({ "if-none-match": '"x"' }), proceed);
    assert.equal(run({ "if-none-match": '"abc"' }, "POST"), "precondition-failed");
    assert.equal(run({ "if-none-match": 'W/"abc"' }, "GET", { etag: 'W/"abc"', modified }), "not-modified");
  });

  test("If-Modified-Since, and If-None-Match taking precedence over it", () => {
    assert.equal(run({ "if-modified-since": at(0) }), "not-modified");
    assert.equal(run({ "if-modified-since": at(5) }), "not-modified");
    assert.equal(run({ "if-modified-since": at(-1) }), proceed);
    assert.equal(run({ "if-modified-since": at(0) }, "POST"), proceed, "only GET and HEAD");
    assert.equal(run({ "if-modified-since": "garbage" }), proceed);
    assert.equal(run({ "if-none-match": '"x"', "if-modified-since": at(5) }), proceed);
    assert.equal(run({ "if-modified-since": at(5) }, "GET", { etag, modified: undefined }), proceed);
  });

  test("If-Range: strong ETag or exact date, else the Range is dropped", () => {
    const range = (headers: Record<string, string>, validators = v) => {
      const verdict = evaluatePreconditions("GET", { range: "bytes=0-1", ...headers }, validators);
      assert.equal(verdict.kind, "proceed");
      return verdict.kind === "proceed" ? verdict.range : "unreachable";
    };
    assert.equal(range({}), "bytes=0-1");
    assert.equal(range({ "if-range": '"abc"' }), "bytes=0-1");
    assert.equal(range({ "if-range": '"x"' }), undefined);
    assert.equal(range({ "if-range": 'W/"abc"' }), undefined);
    assert.equal(range({ "if-range": at(0) }), "bytes=0-1");
    assert.equal(range({ "if-range": at(1) }), undefined);
    assert.equal(range({ "if-range": at(-1) }), undefined);
    assert.equal(range({ "if-range": at(0) }, { etag, modified: undefined }), undefined);
    assert.equal(range({ "if-range": "nonsense" }), undefined);
  });

  test("RFC order: If-Match failure wins over If-None-Match", () => {
    assert.equal(run({ "if-match": '"x"', "if-none-match": '"abc"' }), "precondition-failed");
  });
});

describe("HTTP dates", () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);
  test("the three formats of RFC 9110, always UTC", () => {
    assert.equal(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), t);
    assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), t);
    assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), t);
    assert.equal(formatHttpDate(t), "Sun, 06 Nov 1994 08:49:37 GMT");
  });
  test("anything else is not a date", () => {
    for (const s of [
      "",
      "1994-11-06T08:49:37Z",
      "Sun, 06 Nov 1994 08:49:37 PST",
      "Sun, 31 Feb 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 25:49:37 GMT",
      "06 Nov 1994 08:49:37 GMT",
    ]) {
      assert.equal(parseHttpDate(s), undefined, s);
    }
  });
});

describe("entity tags", () => {
  test("scanning", () => {
    assert.deepEqual(scanETag(' "a" , "b"'), { tag: '"a"', rest: ' , "b"' });
    assert.deepEqual(scanETag('W/"a"'), { tag: 'W/"a"', rest: "" });
    assert.equal(scanETag('"a'), undefined);
    assert.equal(scanETag("a"), undefined);
    assert.equal(scanETag('"a b"'), undefined, "space is not an etagc");
  });
  test("comparison", () => {
    assert.equal(strongMatch('"a"', '"a"'), true);
    assert.equal(strongMatch('W/"a"', 'W/"a"'), false);
    assert.equal(weakMatch('W/"a"', '"a"'), true);
    assert.equal(weakMatch('"a"', '"b"'), false);
    assert.equal(
      listMatches('"x", garbage, "a"', (t) => t === '"a"'),
      false,
      "a malformed member ends the list",
    );
  });
  test("generated tags change with size and with nanoseconds of mtime", () => {
    assert.equal(fileETag(255, 4096n, false), '"ff-1000"');
    assert.equal(fileETag(255, 4096n, true), 'W/"ff-1000"');
    assert.notEqual(fileETag(255, 4097n, false), fileETag(255, 4096n, false));
  });
});

describe("content types", () => {
  const b = (s: string) => Buffer.from(s, "latin1");
  const cases: [Uint8Array, string][] = [
    [b(""), "text/plain; charset=utf-8"],
    [b("hello, world\n"), "text/plain; charset=utf-8"],
    [b("  \n<!DOCTYPE html><html>"), "text/html; charset=utf-8"],
    [b("<HtMl><body>"), "text/html; charset=utf-8"],
    [b("<p>para</p>"), "text/html; charset=utf-8"],
    [b("<pre>"), "text/plain; charset=utf-8"],
    [b("<?xml version='1.0'?>"), "text/xml; charset=utf-8"],
    [b("%PDF-1.7"), "application/pdf"],
    [b("\xFE\xFF\x00\x41"), "text/plain; charset=utf-16be"],
    [b("\xEF\xBB\xBFhi"), "text/plain; charset=utf-8"],
    [b("GIF89a...."), "image/gif"],
    [b("\x89PNG\x0D\x0A\x1A\x0A\x00\x00"), "image/png"],
    [b("\xFF\xD8\xFF\xE0"), "image/jpeg"],
    [b("RIFF\x00\x00\x00\x00WEBPVP8 "), "image/webp"],
    [b("RIFF\x00\x00\x00\x00WAVEfmt "), "audio/wave"],
    [b("ID3\x03"), "audio/mpeg"],
    [b("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), "video/mp4"],
    [b("\x1A\x45\xDF\xA3"), "video/webm"],
    [b("wOF2"), "font/woff2"],
    [b("\x1F\x8B\x08\x00"), "application/x-gzip"],
    [b("PK\x03\x04"), "application/zip"],
    [b("\x00asm\x01\x00\x00\x00"), "application/wasm"],
    [b("\x00\x01\x02\x03binary"), "application/octet-stream"],
  ];
  for (const [data, want] of cases) {
    test(`sniffs ${JSON.stringify(Buffer.from(data).toString("latin1").slice(0, 12))}`, () =>
      assert.equal(detectContentType(data), want));
  }
  test("only the first 512 bytes count", () => {
    const text = Buffer.concat([Buffer.alloc(512, 0x61), Buffer.from([0])]);
    assert.equal(detectContentType(text), "text/plain; charset=utf-8");
  });
  test("by extension, case-insensitively", () => {
    assert.equal(contentTypeByExtension("a/b/style.CSS"), "text/css; charset=utf-8");
    assert.equal(contentTypeByExtension("x.json"), "application/json");
    assert.equal(contentTypeByExtension(".mp4"), "video/mp4");
    assert.equal(contentTypeByExtension("archive.tar.gz"), "application/gzip");
    assert.equal(contentTypeByExtension("README"), undefined);
    assert.equal(contentTypeByExtension("x.unknownext"), undefined);
    assert.equal(contentTypeByExtension("dir.d/file"), undefined);
  });
});

describe("urlHasDotDot", () => {
  const refused = [
    "/..",
    "/../etc/passwd",
    "/a/../../b",
    "/%2e%2e/x",
    "/%2E%2E/x",
    "/.%2e/x",
    "/a%2f..%2fb",
    "/a/..%5cb",
    "/a\\..\\b",
    "/%252e%252e/x",
    "/bad%zzescape",
  ];
  const allowed = ["/", "/a/b.txt", "/..a/b", "/a../b", "/a/...", "/a?x=/../", "/100%25", "/a%20b"];
  for (const url of refused) test(`refuses ${url}`, () => assert.equal(urlHasDotDot(url), true));
  for (const url of allowed) test(`allows ${url}`, () => assert.equal(urlHasDotDot(url), false));
});
