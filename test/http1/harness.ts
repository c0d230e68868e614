/**
 * Test harness for the response parser: feeds bytes in a chosen way and records, in one
 * plain value, everything the parser reported. Two runs over the same bytes must record
 * the same value however the bytes were split; that is what the corpus and the property
 * tests compare.
 */
import assert from "node:assert/strict";
import { RoundtripError } from "../../src/errors.js";
import {
  type ResponseHandler,
  type ResponseHead,
  ResponseParser,
  State,
} from "../../src/http1/response-parser.js";

/** A head as recorded: the fields of ResponseHead, field lines as [name, value] pairs. */
export interface RecordedHead {
  version: "1.0" | "1.1";
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  framing: ResponseHead["framing"];
  contentLength: number;
  keepAlive: boolean;
  keepAliveTimeout: number;
}

export type RecordedEvent =
  | { kind: "informational"; head: RecordedHead }
  | { kind: "head"; head: RecordedHead }
  | { kind: "trailers"; fields: Array<[string, string]> }
  | { kind: "complete" };

export interface Outcome {
  /** Every callback but onData, in order. */
  events: RecordedEvent[];
  /** All onData chunks, concatenated (latin1, so any byte survives the round trip). */
  body: string;
  /** Where the body bytes were reported relative to the other events: "data" marks it. */
  order: string[];
  /** The error thrown by execute() or finish(), if any. */
  error: { code: string; message: string } | null;
  /** Bytes the parser did not consume (after DONE or UPGRADED), latin1. */
  rest: string;
  /** Parser state at the end. */
  state: State;
}

export type Mode = { kind: "whole" } | { kind: "split"; at: number } | { kind: "bytewise" };

export interface FeedOptions {
  isHead?: boolean;
  maxHeaderBytes?: number;
  /** Call finish() after the last byte (the peer closed). */
  eof?: boolean;
}

const recordHead = (h: ResponseHead): RecordedHead => ({
  version: h.version,
  status: h.status,
  statusText: h.statusText,
  headers: h.names.map((n, i): [string, string] => [n, h.values[i]!]),
  framing: h.framing,
  contentLength: h.contentLength,
  keepAlive: h.keepAlive,
  keepAliveTimeout: h.keepAliveTimeout,
});

/** Cuts `bytes` into the pieces a mode stands for. */
export function pieces(bytes: Buffer, mode: Mode): Buffer[] {
  switch (mode.kind) {
    case "whole":
      return [bytes];
    case "split":
      return [bytes.subarray(0, mode.at), bytes.subarray(mode.at)];
    case "bytewise": {
      const out: Buffer[] = [];
      for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
      return out;
    }
  }
}

/**
 * Runs a fresh parser over `chunks` and records what it reported. Checks the execute()
 * contract on every call: it returns an offset in [offset, length], stops early only in
 * DONE or UPGRADED, and any exception it throws is a RoundtripError (anything else is
 * rethrown, failing the test).
 */
export function run(chunks: readonly Buffer[], opts: FeedOptions = {}): Outcome {
  const events: RecordedEvent[] = [];
  const order: string[] = [];
  const body: string[] = [];
  const handler: ResponseHandler = {
    onInformational: (h) => {
      events.push({ kind: "informational", head: recordHead(h) });
      order.push("informational");
    },
    onHead: (h) => {
      events.push({ kind: "head", head: recordHead(h) });
      order.push("head");
    },
    onData: (chunk) => {
      assert.ok(chunk.length > 0, "onData with an empty chunk");
      body.push(chunk.toString("latin1"));
      if (order[order.length - 1] !== "data") order.push("data");
    },
    onTrailers: (names, values) => {
      events.push({ kind: "trailers", fields: names.map((n, i): [string, string] => [n, values[i]!]) });
      order.push("trailers");
    },
    onComplete: () => {
      events.push({ kind: "complete" });
      order.push("complete");
    },
  };
  const parser = new ResponseParser(handler, opts.maxHeaderBytes ?? 8192);
  parser.reset(opts.isHead ?? false);
  let error: Outcome["error"] = null;
  let rest = "";
  let k = 0;
  try {
    for (; k < chunks.length; k++) {
      const chunk = chunks[k]!;
      const off = parser.execute(chunk, 0);
      assert.ok(off >= 0 && off <= chunk.length, `execute returned ${off} for ${chunk.length} bytes`);
      if (off < chunk.length) {
        assert.ok(
          parser.state === State.DONE || parser.state === State.UPGRADED,
          `execute stopped at ${off}/${chunk.length} in state ${State[parser.state]}`,
        );
        rest = chunk.subarray(off).toString("latin1");
        for (k++; k < chunks.length; k++) rest += chunks[k]!.toString("latin1");
        break;
      }
    }
    if (opts.eof) parser.finish();
  } catch (err) {
    if (!(err instanceof RoundtripError)) throw err;
    error = { code: err.code, message: err.message };
  }
  return { events, body: body.join(""), order, error, rest, state: parser.state };
}

/** Every way the corpus feeds a message: whole, split at each offset, one byte at a time. */
export function* modes(length: number): Generator<Mode> {
  yield { kind: "whole" };
  for (let at = 0; at <= length; at++) yield { kind: "split", at };
  yield { kind: "bytewise" };
}

export const describeMode = (m: Mode): string => (m.kind === "split" ? `split at ${m.at}` : m.kind);

/** Bytes from a latin1 string: every char is one byte, so "\xff" is the byte 0xFF. */
export const bytes = (s: string): Buffer => Buffer.from(s, "latin1");
