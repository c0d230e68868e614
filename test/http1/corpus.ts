/**
 * A corpus of HTTP/1.1 responses, valid and malformed, as data. Each case is the raw
 * bytes (a latin1 string: one char per byte) and what the parser must report: either the
 * events (heads, body, trailers, completion, unconsumed bytes) or the error code and the
 * rule its message names. response-parser.test.ts feeds every case whole, split at every
 * offset and one byte at a time.
 *
 * RFC references: RFC 9112 (HTTP/1.1 message syntax), RFC 9110 (semantics).
 */
import type { ErrorCode } from "../../src/errors.js";
import type { RecordedHead } from "./harness.js";

export interface OkExpectation {
  /** Informational heads, in order (each matched on the fields given). */
  informational?: Array<Partial<RecordedHead>>;
  /** The final head, matched on the fields given (`headers` compared whole). */
  head: Partial<RecordedHead>;
  body?: string;
  /** Trailer fields; absent means no onTrailers call. */
  trailers?: Array<[string, string]>;
  /** onComplete was called; default true. */
  complete?: boolean;
  /** Bytes left unconsumed (after DONE or UPGRADED); default "". */
  rest?: string;
  /** The parser stopped in UPGRADED (101). */
  upgraded?: boolean;
}

export interface ErrorExpectation {
  error: ErrorCode;
  /** A piece of the message naming the rule that was broken. */
  rule: string;
  /**
   * Offset of the first byte that no valid response could have there: the bytes before
   * it must parse without an error, and that byte must bring the error (no waiting for a
   * line end or the end of the head).
   */
  badAt?: number;
}

export interface Case {
  name: string;
  /** Raw bytes, latin1. */
  raw: string;
  /** The response answers a HEAD request. */
  isHead?: boolean;
  /** The peer closes after the last byte: finish() is called. */
  eof?: boolean;
  maxHeaderBytes?: number;
  expect: OkExpectation | ErrorExpectation;
}

const bad = (rule: string, badAt?: number): ErrorExpectation =>
  badAt === undefined ? { error: "ERR_BAD_RESPONSE", rule } : { error: "ERR_BAD_RESPONSE", rule, badAt };

/** The offset just past `prefix`: where the byte after it stands. */
const after = (prefix: string): number => prefix.length;

/** A head of exactly `size` bytes: status line, Content-Length: 0, and an X-Pad field. */
export function headOfSize(size: number, statusLine = "HTTP/1.1 200 OK"): string {
  const fixed = `${statusLine}\r\nContent-Length: 0\r\nX-Pad: \r\n\r\n`;
  if (size < fixed.length + 1) throw new Error("size too small");
  return fixed.replace("X-Pad: ", `X-Pad: ${"p".repeat(size - fixed.length)}`);
}

/** A trailer section of exactly `size` bytes (one X-Pad field and the empty line). */
export function trailersOfSize(size: number): string {
  const fixed = "X-Pad: \r\n\r\n";
  return `X-Pad: ${"t".repeat(size - fixed.length)}\r\n\r\n`;
}

const CHUNKED = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
const LIMIT = 128;

export const corpus: Case[] = [
  // ---------------------------------------------------------------- status line (RFC 9112 §4)
  {
    name: "1.1, reason, Content-Length body",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    expect: {
      head: {
        version: "1.1",
        status: 200,
        statusText: "OK",
        headers: [["Content-Length", "5"]],
        framing: "length",
        contentLength: 5,
        keepAlive: true,
        keepAliveTimeout: -1,
      },
      body: "hello",
    },
  },
  {
    name: "1.0 with Content-Length: not reusable without keep-alive",
    raw: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    expect: { head: { version: "1.0", framing: "length", keepAlive: false }, body: "hi" },
  },
  {
    name: "reason phrase with spaces",
    raw: "HTTP/1.1 404 Not Found Here\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { status: 404, statusText: "Not Found Here" } },
  },
  {
    name: "empty reason after the space",
    raw: "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
    expect: { head: { status: 404, statusText: "" } },
  },
  {
    // RFC 9112 §4 writes the SP as required, but a missing reason is not ambiguous and
    // Go, llhttp and hyper all accept it; the code is still exactly three digits.
    name: "no space and no reason after the status code",
    raw: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { status: 200, statusText: "" } },
  },
  {
    name: "reason with HTAB and obs-text",
    raw: "HTTP/1.1 200 \xc7a\tva\xff\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { statusText: "\xc7a\tva\xff" } },
  },
  {
    name: "NUL in the reason phrase",
    raw: "HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n",
    expect: bad("control byte in reason phrase", after("HTTP/1.1 200 O")),
  },
  {
    // The CR may only be judged with the byte after it.
    name: "bare CR in the status line",
    raw: "HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("bare CR", after("HTTP/1.1 200 O\r")),
  },
  {
    name: "HTTP/2.0 version",
    raw: "HTTP/2.0 200 OK\r\n\r\n",
    expect: bad("does not start with HTTP/1.", after("HTTP/")),
  },
  {
    name: "HTTP/3.0 version: the major version is named",
    raw: "HTTP/3.0 200 OK\r\n\r\n",
    expect: bad("HTTP major version 3 is not supported", after("HTTP/")),
  },
  {
    // RFC 9110 §2.5: a recipient SHOULD process a higher minor version as the highest
    // minor version within that major that it implements.
    name: "HTTP/1.2 is processed as HTTP/1.1 (RFC 9110 §2.5)",
    raw: "HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok",
    expect: { head: { version: "1.1", status: 200, keepAlive: true, framing: "length" }, body: "ok" },
  },
  {
    name: "HTTP/1.9 is processed as HTTP/1.1: chunked framing and Connection: close apply",
    raw: "HTTP/1.9 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    expect: { head: { version: "1.1", framing: "chunked", keepAlive: false }, body: "ok" },
  },
  {
    name: "HTTP/1.x: the minor version is not a digit",
    raw: "HTTP/1.x 200 OK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("unsupported HTTP version", after("HTTP/1.")),
  },
  {
    // RFC 9112 §2.3: HTTP-name is case-sensitive.
    name: "lower-case http/1.1",
    raw: "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("does not start with HTTP/1."),
  },
  {
    name: "HTTP/1.10: no space after the version",
    raw: "HTTP/1.10 200 OK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("no space after HTTP version"),
  },
  {
    name: "HTAB after the version",
    raw: "HTTP/1.1\t200 OK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("no space after HTTP version"),
  },
  {
    name: "two-digit status code",
    raw: "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("status code is not three digits"),
  },
  {
    name: "four-digit status code",
    raw: "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("status code is not three digits"),
  },
  {
    name: "status code with a leading zero",
    raw: "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
    expect: bad("status code is not three digits"),
  },
  {
    name: "status code with a letter",
    raw: "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("status code is not three digits"),
  },
  {
    name: "two spaces before the status code",
    raw: "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("status code is not three digits"),
  },
  {
    name: "HTAB between status code and reason",
    raw: "HTTP/1.1 200\tOK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("status code is not three digits"),
  },
  { name: "status line too short", raw: "HTTP/1.1\r\n\r\n", expect: bad("status line too short") },
  {
    name: "empty line before the status line",
    raw: "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    expect: bad("empty line where the status line belongs"),
  },
  {
    name: "not HTTP at all",
    raw: "SSH-2.0-OpenSSH_9.6\r\n\r\n",
    expect: bad("does not start with HTTP/1.", 0),
  },
  {
    name: "LF-only line endings",
    raw: "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    expect: bad("bare LF", after("HTTP/1.1 200 OK")),
  },

  // ---------------------------------------------------------------- refused at the first bad byte
  // A peer that is not speaking HTTP/1 (or speaks it wrongly) and then holds the
  // connection open must be refused when the bad byte arrives: the bytes after it in
  // these cases, often no line end at all, are never needed.
  {
    name: "TLS handshake record where the status line belongs (a TLS server on an http:// URL)",
    raw: "\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03",
    expect: bad("a TLS record (first byte 0x16)", 0),
  },
  {
    name: "TLS alert record where the status line belongs",
    raw: "\x15\x03\x01\x00\x02\x02\x46",
    expect: bad("the server speaks TLS", 0),
  },
  { name: "NUL as the first byte", raw: "\x00\x00\x00\x00", expect: bad("does not start with HTTP/1.", 0) },
  {
    name: "an HTML page instead of a response, no line end",
    raw: "<!DOCTYPE html><html><body>hello",
    expect: bad("does not start with HTTP/1.", 0),
  },
  {
    name: "a prefix of HTTP/ that goes wrong (NUL at the third byte)",
    raw: "HT\x00P/1.1 200 OK",
    expect: bad("does not start with HTTP/1.", after("HT")),
  },
  {
    name: "a request line where the status line belongs",
    raw: "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    expect: bad("does not start with HTTP/1.", 0),
  },
  {
    name: "status code with a letter, the line never ending",
    raw: "HTTP/1.1 2x",
    expect: bad("status code is not three digits", after("HTTP/1.1 2")),
  },
  {
    name: "NUL in the reason phrase, the line never ending",
    raw: "HTTP/1.1 200 \x00",
    expect: bad("control byte in reason phrase", after("HTTP/1.1 200 ")),
  },
  {
    name: "obs-fold line that never ends",
    raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n more",
    expect: bad("obs-fold", after("HTTP/1.1 200 OK\r\nX-A: 1\r\n")),
  },
  {
    name: "NUL in a field value, the line never ending",
    raw: "HTTP/1.1 200 OK\r\nX: a\x00bcd",
    expect: bad("control byte in header field value", after("HTTP/1.1 200 OK\r\nX: a")),
  },
  {
    name: "NUL in a field name, the line never ending",
    raw: "HTTP/1.1 200 OK\r\nX\x00Y: 1",
    expect: bad("invalid byte in header field name", after("HTTP/1.1 200 OK\r\nX")),
  },
  {
    name: "NUL starting a field line",
    raw: "HTTP/1.1 200 OK\r\n\x00",
    expect: bad("header field name is empty or not a token", after("HTTP/1.1 200 OK\r\n")),
  },
  {
    name: "a second status line where a field belongs",
    raw: "HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\n\r\n",
    expect: bad("invalid byte in header field name", after("HTTP/1.1 200 OK\r\nHTTP")),
  },
  {
    name: "bare CR in a field value: refused at the byte after the CR",
    raw: "HTTP/1.1 200 OK\r\nX: a\rbcd",
    expect: bad("bare CR", after("HTTP/1.1 200 OK\r\nX: a\r")),
  },
  {
    name: "bare CR where the empty line belongs",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\rX",
    expect: bad("bare CR", after("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r")),
  },
  {
    name: "an earlier defect wins over a later one in the same read (NUL before a bare LF)",
    raw: "HTTP/1.1 200 OK\r\nX: \x00\r\nY: a\nZ: 1\r\n\r\n",
    expect: bad("control byte in header field value", after("HTTP/1.1 200 OK\r\nX: ")),
  },
  {
    name: "in trailers too: NUL in a value, the line never ending",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: \x00",
    expect: bad(
      "control byte in header field value",
      after("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: "),
    ),
  },
  {
    name: "obs-fold in trailers, the line never ending",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n\t",
    expect: bad("obs-fold", after("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n")),
  },

  // ---------------------------------------------------------------- fields (RFC 9112 §5)
  {
    name: "obs-fold with SP",
    raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n",
    expect: bad("obs-fold", after("HTTP/1.1 200 OK\r\nX-A: 1\r\n")),
  },
  {
    name: "obs-fold with HTAB",
    raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n\t2\r\nContent-Length: 0\r\n\r\n",
    expect: bad("obs-fold", after("HTTP/1.1 200 OK\r\nX-A: 1\r\n")),
  },
  {
    // RFC 9112 §2.2: whitespace between the start-line and the first field is rejected.
    name: "whitespace-led line right after the status line",
    raw: "HTTP/1.1 200 OK\r\n X: 1\r\nContent-Length: 0\r\n\r\n",
    expect: bad("obs-fold"),
  },
  {
    // RFC 9112 §5.1: a server MUST reject it; a client does the same rather than guess.
    name: "SP before the colon",
    raw: "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
    expect: bad("whitespace before the colon", after("HTTP/1.1 200 OK\r\nContent-Length")),
  },
  {
    name: "HTAB before the colon",
    raw: "HTTP/1.1 200 OK\r\nContent-Length\t: 5\r\n\r\nhello",
    expect: bad("whitespace before the colon"),
  },
  {
    name: "bare CR inside a value",
    raw: "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
    expect: bad("bare CR"),
  },
  {
    name: "bare LF ending a field line",
    raw: "HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n",
    expect: bad("bare LF"),
  },
  {
    name: "bare LF as the empty line",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n",
    expect: bad("bare LF"),
  },
  {
    name: "CR CR LF",
    raw: "HTTP/1.1 200 OK\r\nX: a\r\r\nContent-Length: 0\r\n\r\n",
    expect: bad("bare CR"),
  },
  {
    name: "NUL in a value",
    raw: "HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
    expect: bad("control byte in header field value"),
  },
  {
    name: "other CTL (0x01) in a value",
    raw: "HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n",
    expect: bad("control byte in header field value"),
  },
  {
    name: "DEL in a value",
    raw: "HTTP/1.1 200 OK\r\nX: a\x7fb\r\nContent-Length: 0\r\n\r\n",
    expect: bad("control byte in header field value"),
  },
  {
    name: "empty field name",
    raw: "HTTP/1.1 200 OK\r\n: v\r\nContent-Length: 0\r\n\r\n",
    expect: bad("header field name is empty or not a token"),
  },
  {
    name: "non-token byte in a field name",
    raw: "HTTP/1.1 200 OK\r\nX(Y): v\r\nContent-Length: 0\r\n\r\n",
    expect: bad("invalid byte in header field name"),
  },
  {
    name: "obs-text in a field name",
    raw: "HTTP/1.1 200 OK\r\nX\xe9: v\r\nContent-Length: 0\r\n\r\n",
    expect: bad("invalid byte in header field name"),
  },
  {
    name: "field line without a colon",
    raw: "HTTP/1.1 200 OK\r\nNoColon\r\nContent-Length: 0\r\n\r\n",
    expect: bad("invalid byte in header field name"),
  },
  {
    name: "empty values, OWS trimmed, HTAB and colons kept inside, obs-text, order and case kept",
    raw:
      "HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Blank: \t \r\nX-Ows: \t v a l \t \r\nX-Tab: a\tb\r\n" +
      "X-Colon: a:b: c\r\nX-Latin: caf\xe9\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
    expect: {
      head: {
        headers: [
          ["X-Empty", ""],
          ["X-Blank", ""],
          ["X-Ows", "v a l"],
          ["X-Tab", "a\tb"],
          ["X-Colon", "a:b: c"],
          ["X-Latin", "caf\xe9"],
          ["set-cookie", "a=1"],
          ["Set-Cookie", "b=2"],
          ["Content-Length", "0"],
        ],
      },
    },
  },

  // ---------------------------------------------------------------- Content-Length (RFC 9110 §8.6, RFC 9112 §6.3)
  {
    name: "Content-Length +3",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
    expect: bad("invalid Content-Length"),
  },
  {
    name: "Content-Length -1",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc",
    expect: bad("invalid Content-Length"),
  },
  {
    // OWS around a field value is not part of it (RFC 9112 §5.1).
    name: "Content-Length with OWS around it",
    raw: "HTTP/1.1 200 OK\r\nContent-Length:  3 \r\n\r\nabc",
    expect: { head: { contentLength: 3, framing: "length" }, body: "abc" },
  },
  {
    // RFC 9110 §8.6: a list of identical values may be replaced by one value.
    name: "Content-Length 3, 3",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
    expect: { head: { contentLength: 3 }, body: "abc" },
  },
  {
    name: "Content-Length 3, 4",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd",
    expect: bad("conflicting Content-Length"),
  },
  {
    name: "Content-Length with an empty list element",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 3,\r\n\r\nabc",
    expect: bad("invalid Content-Length"),
  },
  {
    name: "two Content-Length lines, same value",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
    expect: { head: { contentLength: 3 }, body: "abc" },
  },
  {
    name: "two Content-Length lines, different values",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    expect: bad("conflicting Content-Length"),
  },
  {
    name: "huge Content-Length",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
    expect: bad("invalid Content-Length"),
  },
  {
    // RFC 9110 §8.6: Content-Length = 1*DIGIT; leading zeros are digits.
    name: "Content-Length with leading zeros",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 0005\r\n\r\nhello",
    expect: { head: { contentLength: 5 }, body: "hello" },
  },
  {
    name: "empty Content-Length",
    raw: "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
    expect: bad("invalid Content-Length"),
  },
  {
    name: "hexadecimal Content-Length",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
    expect: bad("invalid Content-Length"),
  },
  {
    name: "Content-Length 0: complete at the end of the head",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { framing: "length", contentLength: 0, keepAlive: true }, body: "" },
  },
  {
    name: "bytes after a Content-Length body are not consumed",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n",
    expect: { head: { contentLength: 3 }, body: "abc", rest: "HTTP/1.1 200 OK\r\n" },
  },

  // ---------------------------------------------------------------- Transfer-Encoding (RFC 9112 §6.1, §6.3)
  {
    name: "chunked",
    raw: `${CHUNKED}5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
    expect: { head: { framing: "chunked", contentLength: -1, keepAlive: true }, body: "hello world" },
  },
  {
    // Transfer-coding names are case-insensitive (RFC 9112 §7).
    name: "Transfer-Encoding: Chunked",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    expect: { head: { framing: "chunked" }, body: "x" },
  },
  {
    name: "Transfer-Encoding: gzip, chunked (codings we do not decode)",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    expect: bad("unsupported Transfer-Encoding"),
  },
  {
    // RFC 9112 §7: chunked MUST NOT be applied more than once.
    name: "Transfer-Encoding: chunked, chunked",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    expect: bad("unsupported Transfer-Encoding"),
  },
  {
    name: "Transfer-Encoding: chunked on two lines",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    expect: bad("unsupported Transfer-Encoding"),
  },
  {
    // chunked not final: RFC 9112 §6.3 (4) says read until close; we refuse instead.
    name: "Transfer-Encoding: chunked, gzip",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    expect: bad("unsupported Transfer-Encoding"),
  },
  {
    name: "Transfer-Encoding: identity",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\nx",
    expect: bad("unsupported Transfer-Encoding"),
  },
  {
    name: "empty Transfer-Encoding",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n0\r\n\r\n",
    expect: bad("unsupported Transfer-Encoding"),
  },
  {
    // RFC 9112 §6.3 (3): Transfer-Encoding overrides Content-Length, which is removed,
    // and the connection is closed afterwards.
    name: "Transfer-Encoding and Content-Length",
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\nX: y\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    expect: {
      head: {
        framing: "chunked",
        contentLength: -1,
        keepAlive: false,
        headers: [
          ["Transfer-Encoding", "chunked"],
          ["X", "y"],
        ],
      },
      body: "abc",
    },
  },
  {
    name: "Content-Length before Transfer-Encoding",
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    expect: { head: { framing: "chunked", contentLength: -1, keepAlive: false }, body: "abc" },
  },
  {
    // RFC 9112 §6.1: Transfer-Encoding in a 1.0 message means faulty framing.
    name: "Transfer-Encoding in HTTP/1.0",
    raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    expect: bad("Transfer-Encoding in an HTTP/1.0 response"),
  },

  // ---------------------------------------------------------------- chunked bodies (RFC 9112 §7.1)
  {
    name: "chunk extensions are ignored",
    raw: `${CHUNKED}5;name=value;flag\r\nhello\r\n0;last="yes"\r\n\r\n`,
    expect: { head: { framing: "chunked" }, body: "hello" },
  },
  {
    // chunk-ext = *( BWS ";" BWS ext-name ... ): whitespace is allowed before the ";".
    name: "BWS before the chunk extension",
    raw: `${CHUNKED}5 ;a=b\r\nhello\r\n3\t \t;x\r\nabc\r\n0\r\n\r\n`,
    expect: { body: "helloabc", head: {} },
  },
  {
    name: "upper- and lower-case hex sizes, leading zeros",
    raw: `${CHUNKED}A\r\n0123456789\r\n0a\r\nabcdefghij\r\n01F\r\n${"z".repeat(31)}\r\n0000\r\n\r\n`,
    expect: { head: {}, body: `0123456789abcdefghij${"z".repeat(31)}` },
  },
  {
    name: "chunk size overflow",
    raw: `${CHUNKED}FFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n`,
    expect: bad("chunk size too large"),
  },
  {
    // 1*HEXDIG (RFC 9112 §7.1): leading zeros are digits, not size; only the value is bounded.
    name: "chunk size with many leading zeros",
    raw: `${CHUNKED}${"0".repeat(20)}5\r\nhello\r\n0\r\n\r\n`,
    expect: { head: {}, body: "hello" },
  },
  {
    name: "largest chunk size (2^53 - 1), then EOF",
    eof: true,
    raw: `${CHUNKED}1FFFFFFFFFFFFF\r\nabc`,
    expect: { error: "ERR_UNEXPECTED_EOF", rule: "chunked" },
  },
  {
    name: "chunk size 2^53",
    raw: `${CHUNKED}20000000000000\r\nabc`,
    expect: bad("chunk size too large"),
  },
  { name: "non-hex chunk size", raw: `${CHUNKED}5g\r\nhello\r\n0\r\n\r\n`, expect: bad("not hexadecimal") },
  {
    name: "0x-prefixed chunk size",
    raw: `${CHUNKED}0x5\r\nhello\r\n0\r\n\r\n`,
    expect: bad("not hexadecimal"),
  },
  { name: "negative chunk size", raw: `${CHUNKED}-5\r\nhello\r\n0\r\n\r\n`, expect: bad("not hexadecimal") },
  {
    name: "leading space in chunk size",
    raw: `${CHUNKED} 5\r\nhello\r\n0\r\n\r\n`,
    expect: bad("not hexadecimal"),
  },
  { name: "empty chunk size", raw: `${CHUNKED}\r\nhello\r\n0\r\n\r\n`, expect: bad("empty chunk size") },
  {
    name: "space inside the chunk size",
    raw: `${CHUNKED}5 5\r\n${"x".repeat(85)}\r\n0\r\n\r\n`,
    expect: bad("whitespace in chunk size"),
  },
  {
    // RFC 9112 §7.1: whitespace after chunk-size is only BWS before ";" chunk-ext.
    name: "trailing whitespace after the chunk size, no extension",
    raw: `${CHUNKED}5 \r\nhello\r\n0\r\n\r\n`,
    expect: bad("whitespace in chunk size"),
  },
  { name: "bare LF after the chunk size", raw: `${CHUNKED}5\nhello\r\n0\r\n\r\n`, expect: bad("bare LF") },
  { name: "bare CR after the chunk size", raw: `${CHUNKED}5\rhello\r\n0\r\n\r\n`, expect: bad("bare CR") },
  {
    name: "control byte in a chunk extension",
    raw: `${CHUNKED}5;a=\x01\r\nhello\r\n0\r\n\r\n`,
    expect: bad("control byte in chunk extension", after(`${CHUNKED}5;a=`)),
  },

  // ---------------------------------------------------------------- chunk extensions (RFC 9112 §7.1.1)
  // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
  // chunk-ext-name = token, chunk-ext-val = token / quoted-string. llhttp refuses the
  // same malformed extensions (and BWS too, which the RFC allows and so do we).
  {
    name: "chunk extensions: BWS around ; and =, quoted values with quoted-pairs and obs-text",
    raw: `${CHUNKED}2 ; a = b ;c\t=\t"x\\"y;z" ; d\r\nok\r\n1;q="\xe9\\\xff";e=""\r\n!\r\n0;last\r\n\r\n`,
    expect: { head: { framing: "chunked" }, body: "ok!" },
  },
  {
    name: "chunk extension: ; with no name (2;)",
    raw: `${CHUNKED}2;\r\nok\r\n0\r\n\r\n`,
    expect: bad('chunk extension without a name after ";"', after(`${CHUNKED}2;`)),
  },
  {
    name: "chunk extension: ; and BWS with no name (2; )",
    raw: `${CHUNKED}2; \r\nok\r\n0\r\n\r\n`,
    expect: bad('chunk extension without a name after ";"', after(`${CHUNKED}2; `)),
  },
  {
    name: "chunk extension: a trailing ; after a valid one",
    raw: `${CHUNKED}2;a=b;\r\nok\r\n0\r\n\r\n`,
    expect: bad('chunk extension without a name after ";"', after(`${CHUNKED}2;a=b;`)),
  },
  {
    name: "chunk extension: name is not a token (=b)",
    raw: `${CHUNKED}2;=b\r\nok\r\n0\r\n\r\n`,
    expect: bad("chunk extension name is not a token", after(`${CHUNKED}2;`)),
  },
  {
    name: "chunk extension: obs-text in the name",
    raw: `${CHUNKED}2;\xe9=b\r\nok\r\n0\r\n\r\n`,
    expect: bad("chunk extension name is not a token", after(`${CHUNKED}2;`)),
  },
  {
    name: "chunk extension: a quoted name",
    raw: `${CHUNKED}2;a"b"\r\nok\r\n0\r\n\r\n`,
    expect: bad("chunk extension name is not a token", after(`${CHUNKED}2;a`)),
  },
  {
    name: "chunk extension: = with no value",
    raw: `${CHUNKED}2;a=\r\nok\r\n0\r\n\r\n`,
    expect: bad('chunk extension without a value after "="', after(`${CHUNKED}2;a=`)),
  },
  {
    name: "chunk extension: = and BWS with no value",
    raw: `${CHUNKED}2;a= \r\nok\r\n0\r\n\r\n`,
    expect: bad('chunk extension without a value after "="', after(`${CHUNKED}2;a= `)),
  },
  {
    name: "chunk extension: unterminated quoted-string",
    raw: `${CHUNKED}2;a="ok\r\nok\r\n0\r\n\r\n`,
    expect: bad("unterminated quoted-string in chunk extension", after(`${CHUNKED}2;a="ok`)),
  },
  {
    name: "chunk extension: quoted-string cut after a backslash",
    raw: `${CHUNKED}2;a="ok\\\r\nok\r\n0\r\n\r\n`,
    expect: bad("unterminated quoted-string in chunk extension", after(`${CHUNKED}2;a="ok\\`)),
  },
  {
    name: "chunk extension: control byte in a quoted-string",
    raw: `${CHUNKED}2;a="o\x01k"\r\nok\r\n0\r\n\r\n`,
    expect: bad("control byte in chunk extension", after(`${CHUNKED}2;a="o`)),
  },
  {
    name: "chunk extension: control byte after a backslash",
    raw: `${CHUNKED}2;a="o\\\x00"\r\nok\r\n0\r\n\r\n`,
    expect: bad("control byte in chunk extension", after(`${CHUNKED}2;a="o\\`)),
  },
  {
    name: "chunk extension: bytes after the closing quote",
    raw: `${CHUNKED}2;a="x"y\r\nok\r\n0\r\n\r\n`,
    expect: bad("chunk extension value is not a token or a quoted-string", after(`${CHUNKED}2;a="x"`)),
  },
  {
    name: "chunk extension: value is not a token",
    raw: `${CHUNKED}2;a=b/c\r\nok\r\n0\r\n\r\n`,
    expect: bad("chunk extension value is not a token or a quoted-string", after(`${CHUNKED}2;a=b`)),
  },
  {
    name: "chunk extension: two names separated by whitespace",
    raw: `${CHUNKED}2;a b\r\nok\r\n0\r\n\r\n`,
    expect: bad(
      'whitespace after a chunk extension name not followed by "=" or ";"',
      after(`${CHUNKED}2;a `),
    ),
  },
  {
    name: "chunk extension: two values separated by whitespace",
    raw: `${CHUNKED}2;a=b c\r\nok\r\n0\r\n\r\n`,
    expect: bad('whitespace after a chunk extension value not followed by ";"', after(`${CHUNKED}2;a=b `)),
  },
  {
    // The grammar has BWS only before ";" and around "=": none before the CRLF.
    name: "chunk extension: whitespace before the CRLF",
    raw: `${CHUNKED}2;a=b \r\nok\r\n0\r\n\r\n`,
    expect: bad("whitespace at the end of a chunk extension", after(`${CHUNKED}2;a=b `)),
  },
  {
    name: "chunk extension on the last chunk: no name",
    raw: `${CHUNKED}0;\r\n\r\n`,
    expect: bad('chunk extension without a name after ";"', after(`${CHUNKED}0;`)),
  },
  {
    name: "chunk extension on the last chunk: unterminated quoted-string",
    raw: `${CHUNKED}0;a="\r\n\r\n`,
    expect: bad("unterminated quoted-string in chunk extension", after(`${CHUNKED}0;a="`)),
  },
  {
    name: "chunk data longer than its size (missing CRLF)",
    raw: `${CHUNKED}5\r\nhelloX\r\n0\r\n\r\n`,
    expect: bad("chunk data not followed by CRLF"),
  },
  {
    name: "LF only after chunk data",
    raw: `${CHUNKED}5\r\nhello\n0\r\n\r\n`,
    expect: bad("chunk data not followed by CRLF"),
  },
  {
    name: "chunk-size line too long",
    raw: `${CHUNKED}5;${"e".repeat(4100)}\r\nhello\r\n0\r\n\r\n`,
    expect: bad("chunk-size line too long", CHUNKED.length + 4096),
  },
  {
    name: "trailers",
    raw: `${CHUNKED}3\r\nabc\r\n0\r\nX-Checksum: 900150983cd24fb0\r\nx-more:  two \r\n\r\n`,
    expect: {
      head: { framing: "chunked" },
      body: "abc",
      trailers: [
        ["X-Checksum", "900150983cd24fb0"],
        ["x-more", "two"],
      ],
    },
  },
  {
    name: "empty trailer section: no onTrailers",
    raw: `${CHUNKED}0\r\n\r\n`,
    expect: { head: { framing: "chunked" }, body: "" },
  },
  { name: "obs-fold in trailers", raw: `${CHUNKED}0\r\nX: a\r\n b\r\n\r\n`, expect: bad("obs-fold") },
  { name: "bare LF in trailers", raw: `${CHUNKED}0\r\nX: a\n\r\n`, expect: bad("bare LF") },
  { name: "NUL in a trailer value", raw: `${CHUNKED}0\r\nX: a\x00\r\n\r\n`, expect: bad("control byte") },
  {
    name: "bytes after the last chunk are not consumed",
    raw: `${CHUNKED}1\r\na\r\n0\r\n\r\nNEXT`,
    expect: { head: {}, body: "a", rest: "NEXT" },
  },
  {
    name: "trailers exactly at the limit",
    maxHeaderBytes: LIMIT,
    raw: `${CHUNKED}1\r\na\r\n0\r\n${trailersOfSize(LIMIT)}`,
    expect: { head: {}, body: "a", trailers: [["X-Pad", "t".repeat(LIMIT - 11)]] },
  },
  {
    name: "trailers one byte over the limit",
    maxHeaderBytes: LIMIT,
    raw: `${CHUNKED}1\r\na\r\n0\r\n${trailersOfSize(LIMIT + 1)}`,
    expect: { error: "ERR_HEADERS_TOO_LARGE", rule: "trailers exceed" },
  },
  {
    name: "truncated chunked body",
    eof: true,
    raw: `${CHUNKED}5\r\nhel`,
    expect: { error: "ERR_UNEXPECTED_EOF", rule: "chunked" },
  },
  {
    name: "chunked body cut before the last chunk",
    eof: true,
    raw: `${CHUNKED}5\r\nhello\r\n`,
    expect: { error: "ERR_UNEXPECTED_EOF", rule: "chunked" },
  },
  {
    name: "chunked body cut inside the trailers",
    eof: true,
    raw: `${CHUNKED}5\r\nhello\r\n0\r\nX: 1\r\n`,
    expect: { error: "ERR_UNEXPECTED_EOF", rule: "chunked" },
  },

  // ---------------------------------------------------------------- no body (RFC 9112 §6.3 (1))
  {
    name: "HEAD: Content-Length is kept, no body is read",
    isHead: true,
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
    expect: { head: { framing: "none", contentLength: 100, keepAlive: true }, body: "" },
  },
  {
    name: "HEAD with Transfer-Encoding: chunked",
    isHead: true,
    raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    expect: { head: { framing: "none", contentLength: -1 }, body: "" },
  },
  {
    name: "204 with a Content-Length: no body, bytes after are not ours",
    raw: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
    expect: { head: { status: 204, framing: "none", contentLength: 0 }, body: "", rest: "hello" },
  },
  {
    name: "304 with a Content-Length",
    raw: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n',
    expect: { head: { status: 304, framing: "none", contentLength: 10 }, body: "" },
  },
  {
    name: "100 Continue then the final response",
    raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    expect: {
      informational: [{ status: 100, statusText: "Continue", framing: "none", headers: [] }],
      head: { status: 200 },
      body: "ok",
    },
  },
  {
    name: "several 1xx (a 1xx Content-Length frames nothing), then the final response",
    raw:
      "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n" +
      "HTTP/1.1 102 Processing\r\n\r\n" +
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    expect: {
      informational: [
        { status: 100, framing: "none" },
        { status: 102 },
        { status: 103, headers: [["Link", "</a.css>; rel=preload"]] },
      ],
      head: { status: 200, contentLength: 3 },
      body: "abc",
    },
  },
  {
    name: "101 Switching Protocols: the parser stops at the upgraded bytes",
    raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
    expect: {
      head: { status: 101, framing: "none" },
      complete: false,
      upgraded: true,
      rest: "\x81\x05hello",
    },
  },
  {
    name: "100 Continue then the peer closes",
    eof: true,
    raw: "HTTP/1.1 100 Continue\r\n\r\n",
    expect: { error: "ERR_CONNECTION_CLOSED", rule: "middle of the response head" },
  },
  {
    name: "each head is bounded on its own (1xx and final, together over the limit)",
    maxHeaderBytes: LIMIT,
    raw: headOfSize(LIMIT, "HTTP/1.1 103 Early Hints") + headOfSize(LIMIT),
    expect: { informational: [{ status: 103 }], head: { status: 200 } },
  },

  // ---------------------------------------------------------------- read until close (RFC 9112 §6.3 (8))
  {
    name: "no framing: body runs to EOF",
    eof: true,
    raw: "HTTP/1.1 200 OK\r\nX: y\r\n\r\nuntil the end",
    expect: { head: { framing: "eof", contentLength: -1, keepAlive: false }, body: "until the end" },
  },
  {
    name: "no framing, peer has not closed yet",
    raw: "HTTP/1.1 200 OK\r\n\r\npartial",
    expect: { head: { framing: "eof" }, body: "partial", complete: false },
  },
  {
    name: "no framing, empty body, EOF",
    eof: true,
    raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
    expect: { head: { framing: "eof", keepAlive: false }, body: "" },
  },

  // ---------------------------------------------------------------- truncation
  {
    name: "Content-Length body cut short",
    eof: true,
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
    expect: { error: "ERR_UNEXPECTED_EOF", rule: "5 bytes of the response body" },
  },
  {
    name: "head cut short",
    eof: true,
    raw: "HTTP/1.1 200 OK\r\nContent-Len",
    expect: { error: "ERR_CONNECTION_CLOSED", rule: "middle of the response head" },
  },
  {
    name: "head cut between CR and LF",
    eof: true,
    raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r",
    expect: { error: "ERR_CONNECTION_CLOSED", rule: "middle of the response head" },
  },
  {
    name: "nothing at all",
    eof: true,
    raw: "",
    expect: { error: "ERR_CONNECTION_CLOSED", rule: "before any response byte" },
  },

  // ---------------------------------------------------------------- header size limit
  {
    name: "head exactly at the limit",
    maxHeaderBytes: LIMIT,
    raw: `${headOfSize(LIMIT)}`,
    expect: { head: { status: 200, contentLength: 0 } },
  },
  {
    name: "head one byte over the limit",
    maxHeaderBytes: LIMIT,
    raw: `${headOfSize(LIMIT + 1)}`,
    expect: { error: "ERR_HEADERS_TOO_LARGE", rule: "head exceed" },
  },
  {
    name: "head over the limit, with a bare LF past the limit",
    maxHeaderBytes: LIMIT,
    raw: `HTTP/1.1 200 OK\r\nX-Pad: ${"p".repeat(LIMIT)}\nContent-Length: 0\r\n\r\n`,
    expect: { error: "ERR_HEADERS_TOO_LARGE", rule: "head exceed" },
  },
  {
    name: "head over the limit, with a bare LF before the limit",
    maxHeaderBytes: LIMIT,
    raw: `HTTP/1.1 200 OK\r\nX: 1\nX-Pad: ${"p".repeat(LIMIT)}\r\n\r\n`,
    expect: bad("bare LF"),
  },
  {
    // The CR is the head's last allowed byte; whatever follows, the head cannot fit.
    name: "head over the limit, with a bare CR as the last byte within the limit",
    maxHeaderBytes: LIMIT,
    raw: `HTTP/1.1 200 OK\r\nX-Pad: ${"p".repeat(LIMIT - 25)}\rx\r\n\r\n`,
    expect: { error: "ERR_HEADERS_TOO_LARGE", rule: "head exceed" },
  },
  {
    name: "head over the limit, with a bare CR one byte before the limit",
    maxHeaderBytes: LIMIT,
    raw: `HTTP/1.1 200 OK\r\nX-Pad: ${"p".repeat(LIMIT - 26)}\rx\r\n\r\n`,
    expect: bad("bare CR"),
  },
  {
    name: "head over the limit, never ending",
    maxHeaderBytes: LIMIT,
    raw: `HTTP/1.1 200 OK\r\nX-Pad: ${"p".repeat(LIMIT * 2)}`,
    expect: { error: "ERR_HEADERS_TOO_LARGE", rule: "head exceed" },
  },

  // ---------------------------------------------------------------- connection reuse (RFC 9112 §9.3)
  {
    name: "Keep-Alive timeout hint",
    raw: "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { keepAlive: true, keepAliveTimeout: 5 } },
  },
  {
    name: "Keep-Alive timeout after max",
    raw: "HTTP/1.1 200 OK\r\nkeep-alive: max=100, timeout=30\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { keepAliveTimeout: 30 } },
  },
  {
    name: "Keep-Alive timeout that is not a number",
    raw: "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=soon\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { keepAliveTimeout: -1 } },
  },
  {
    name: "Keep-Alive timeout too long to be a hint",
    raw: "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=12345678901\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { keepAliveTimeout: -1 } },
  },
  {
    name: "1.1 Connection: close",
    raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { keepAlive: false } },
  },
  {
    name: "1.1 Connection: Keep-Alive",
    raw: "HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { keepAlive: true } },
  },
  {
    name: "1.1 Connection: keep-alive, CLOSE",
    raw: "HTTP/1.1 200 OK\r\nConnection: keep-alive, CLOSE\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { keepAlive: false } },
  },
  {
    name: "1.1 close token on a second Connection line",
    raw: "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { keepAlive: false } },
  },
  {
    name: "1.0 Connection: keep-alive with Content-Length",
    raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=2\r\nContent-Length: 1\r\n\r\nx",
    expect: { head: { version: "1.0", keepAlive: true, keepAliveTimeout: 2 }, body: "x" },
  },
  {
    name: "1.0 Connection: keep-alive, close",
    raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
    expect: { head: { keepAlive: false } },
  },
  {
    name: "1.0 HEAD without Connection",
    isHead: true,
    raw: "HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\n",
    expect: { head: { keepAlive: false, framing: "none", contentLength: 7 } },
  },
];
