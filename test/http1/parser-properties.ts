/**
 * Property tests of the response parser, as named fast-check properties. They run in a
 * worker thread (property-worker.ts) so that a parser stuck in a loop is caught by a
 * deadline instead of hanging the suite.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { bytes, type FeedOptions, run } from "./harness.js";
import { cutAt, expected, mutate, mutation, responseModel, wire } from "./response-model.js";

/** Error codes the parser may throw; anything else (or a non-RoundtripError) is a bug. */
const PARSER_CODES = new Set([
  "ERR_BAD_RESPONSE",
  "ERR_HEADERS_TOO_LARGE",
  "ERR_UNEXPECTED_EOF",
  "ERR_CONNECTION_CLOSED",
]);

const splitPoints = fc.array(fc.nat(), { maxLength: 8 });

/**
 * Feeds `raw` whole and in pieces; run() fails on any exception that is not a
 * RoundtripError and on a broken execute() contract. Both feeds must agree exactly.
 */
function sameWholeAndSplit(raw: Buffer, points: number[], opts: FeedOptions): void {
  const whole = run([raw], opts);
  if (whole.error !== null) assert.ok(PARSER_CODES.has(whole.error.code), whole.error.code);
  assert.deepEqual(run(cutAt(raw, points), opts), whole);
}

/** Prefixes that get random bytes past the status line into fields, bodies and chunks. */
const prefixes = [
  "",
  "HTTP/1.1 200 OK\r\n",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
  "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n",
  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTrailer: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
];

export interface NamedProperty {
  property: fc.IProperty<never> | fc.IProperty<unknown[]>;
  numRuns: number;
}

export const properties: Record<string, () => NamedProperty> = {
  "valid responses round-trip through the parser, split anywhere": () => ({
    numRuns: 400,
    property: fc.property(responseModel, splitPoints, (m, points) => {
      const raw = wire(m);
      const opts = { isHead: m.isHead, eof: true, maxHeaderBytes: 1 << 16 };
      assert.deepEqual(run(cutAt(raw, points), opts), expected(m));
    }),
  }),

  "valid responses round-trip one byte at a time": () => ({
    numRuns: 60,
    property: fc.property(responseModel, (m) => {
      const raw = wire(m);
      const pieces = [...raw].map((b) => Buffer.of(b));
      assert.deepEqual(run(pieces, { isHead: m.isHead, eof: true, maxHeaderBytes: 1 << 16 }), expected(m));
    }),
  }),

  "random bytes give a result or a RoundtripError, the same however split": () => ({
    numRuns: 3000,
    property: fc.property(
      fc.constantFrom(...prefixes),
      fc.uint8Array({ maxLength: 300 }),
      splitPoints,
      fc.record({
        isHead: fc.boolean(),
        eof: fc.boolean(),
        maxHeaderBytes: fc.integer({ min: 1, max: 512 }),
      }),
      (prefix, tail, points, opts) => {
        sameWholeAndSplit(Buffer.concat([bytes(prefix), tail]), points, opts);
      },
    ),
  }),

  "mutated valid responses give a result or a RoundtripError, the same however split": () => ({
    numRuns: 3000,
    property: fc.property(
      responseModel,
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      splitPoints,
      fc.boolean(),
      fc.integer({ min: 16, max: 1 << 12 }),
      (m, mutations, points, eof, maxHeaderBytes) => {
        sameWholeAndSplit(mutate(wire(m), mutations), points, { isHead: m.isHead, eof, maxHeaderBytes });
      },
    ),
  }),
};
