/**
 * A model of a valid HTTP/1.1 response, fast-check arbitraries for it, the wire bytes it
 * stands for, and what the parser must report for them. Used by the property tests:
 * model → bytes → parser (split anywhere) → the model again.
 */
import fc from "fast-check";
import { Headers } from "../../src/http1/headers.js";
import { chunkHeader, lastChunk } from "../../src/http1/request.js";
import { State } from "../../src/http1/response-parser.js";
import type { Outcome, RecordedHead } from "./harness.js";

export type Field = [name: string, value: string];

export interface Chunk {
  data: Uint8Array;
  /** Write the size with upper-case hex digits. */
  upper: boolean;
  /** Leading zeros before the size. */
  zeros: number;
  /** A chunk extension ("" for none), BWS included. */
  ext: string;
}

export interface ResponseModel {
  informational: Array<{ status: number; reason: string; fields: Field[] }>;
  version: "1.0" | "1.1";
  status: number;
  /** Kept verbatim by the parser: it may hold SP, HTAB and obs-text anywhere. */
  reason: string;
  /** Write "HTTP/1.1 200\r\n" rather than "HTTP/1.1 200 \r\n" (only when reason is ""). */
  noReasonSpace: boolean;
  /** Fields other than the framing and connection ones, with OWS to write around each value. */
  fields: Array<{ name: string; value: string; before: string; after: string }>;
  /** Where among `fields` the framing field goes. */
  framingAt: number;
  connection: "close" | "keep-alive" | null;
  keepAliveTimeout: number | null;
  isHead: boolean;
  framing: "length" | "chunked" | "eof";
  chunks: Chunk[];
  lastExt: string;
  trailers: Field[];
}

const RESERVED = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);

const charOf = (codes: fc.Arbitrary<number>) => codes.map((c) => String.fromCharCode(c));

/** tchar (RFC 9110 §5.6.2). */
export const token = fc.string({
  unit: fc.constantFrom(..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
  minLength: 1,
  maxLength: 16,
});

const fieldName = token.filter((n) => !RESERVED.has(n.toLowerCase()));

/** field-vchar (VCHAR and obs-text), SP and HTAB. */
const valueChar = fc.oneof(
  { weight: 6, arbitrary: charOf(fc.integer({ min: 0x21, max: 0x7e })) },
  { weight: 1, arbitrary: charOf(fc.integer({ min: 0x80, max: 0xff })) },
  { weight: 2, arbitrary: fc.constantFrom(" ", "\t") },
);

const trimOWS = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, "");

/** A field value as the parser reports it: no leading or trailing OWS. */
export const fieldValue = fc.string({ unit: valueChar, maxLength: 24 }).map(trimOWS);

const ows = fc.constantFrom("", "", " ", "\t", "  ", " \t ");

const field: fc.Arbitrary<Field> = fc.tuple(fieldName, fieldValue);

/**
 * Valid chunk extensions (RFC 9112 §7.1.1): BWS around ";" and "=", token and quoted
 * values, quoted-pairs, obs-text inside a quoted-string (a name is a token, never obs-text).
 */
const chunkExt = fc.constantFrom(
  "",
  "",
  ";a",
  ";a=b",
  ' ;x="q s"',
  "\t;k=v;flag",
  ';q="\xe9\\\xff"',
  ' ; a = b ;c\t=\t"\\""',
);

export const responseModel: fc.Arbitrary<ResponseModel> = fc
  .record({
    informational: fc.array(
      fc.record({
        status: fc.constantFrom(100, 102, 103, 150, 199),
        reason: fc.string({ unit: valueChar, maxLength: 12 }),
        fields: fc.array(field, { maxLength: 3 }),
      }),
      { maxLength: 3 },
    ),
    version: fc.constantFrom<"1.0" | "1.1">("1.0", "1.1", "1.1"),
    status: fc.oneof(fc.integer({ min: 200, max: 599 }), fc.constantFrom(200, 204, 304)),
    reason: fc.string({ unit: valueChar, maxLength: 20 }),
    noReasonSpace: fc.boolean(),
    fields: fc.array(fc.record({ name: fieldName, value: fieldValue, before: ows, after: ows }), {
      maxLength: 8,
    }),
    framingAt: fc.nat(),
    connection: fc.constantFrom<"close" | "keep-alive" | null>("close", "keep-alive", null),
    keepAliveTimeout: fc.option(fc.integer({ min: 0, max: 999_999 })),
    isHead: fc.boolean(),
    framing: fc.constantFrom<"length" | "chunked" | "eof">("length", "chunked", "eof"),
    chunks: fc.array(
      fc.record({
        data: fc.uint8Array({ minLength: 1, maxLength: 40 }),
        upper: fc.boolean(),
        zeros: fc.integer({ min: 0, max: 3 }),
        ext: chunkExt,
      }),
      { maxLength: 6 },
    ),
    lastExt: chunkExt,
    trailers: fc.array(field, { maxLength: 3 }),
  })
  .map((m) => {
    // HTTP/1.0 has no chunked coding (RFC 9112 §6.1) and no 1xx (RFC 9110 §15.2).
    if (m.version === "1.0")
      return { ...m, informational: [], framing: m.framing === "chunked" ? "length" : m.framing };
    return m;
  });

const bodyOf = (m: ResponseModel): Buffer => Buffer.concat(m.chunks.map((c) => c.data));

const bodyless = (m: ResponseModel): boolean => m.isHead || m.status === 204 || m.status === 304;

function fieldLines(fields: Field[]): string {
  return fields.map(([n, v]) => `${n}: ${v}\r\n`).join("");
}

function sizeLine(c: Chunk): string {
  if (!c.upper && c.zeros === 0 && c.ext === "") return chunkHeader(c.data.length);
  const hex = c.data.length.toString(16);
  return `${"0".repeat(c.zeros)}${c.upper ? hex.toUpperCase() : hex}${c.ext}\r\n`;
}

/** The framing, connection and other fields of the final head, in wire order. */
function headFields(m: ResponseModel): Array<{ name: string; value: string; before: string; after: string }> {
  const out = m.fields.slice();
  const framing =
    m.framing === "length"
      ? { name: "Content-Length", value: String(bodyOf(m).length) }
      : m.framing === "chunked"
        ? { name: "Transfer-Encoding", value: "chunked" }
        : null;
  if (framing) out.splice(m.framingAt % (out.length + 1), 0, { ...framing, before: " ", after: "" });
  if (m.connection) out.push({ name: "Connection", value: m.connection, before: " ", after: "" });
  if (m.keepAliveTimeout !== null) {
    out.push({ name: "Keep-Alive", value: `timeout=${m.keepAliveTimeout}, max=5`, before: " ", after: "" });
  }
  return out;
}

/** The response as bytes on the wire. */
export function wire(m: ResponseModel): Buffer {
  let head = "";
  for (const info of m.informational) {
    head += `HTTP/1.1 ${info.status} ${info.reason}\r\n${fieldLines(info.fields)}\r\n`;
  }
  const space = m.reason === "" && m.noReasonSpace ? "" : " ";
  head += `HTTP/${m.version} ${m.status}${space}${m.reason}\r\n`;
  for (const f of headFields(m)) head += `${f.name}:${f.before}${f.value}${f.after}\r\n`;
  head += "\r\n";
  const parts: Buffer[] = [Buffer.from(head, "latin1")];
  if (!bodyless(m)) {
    if (m.framing === "chunked") {
      for (const c of m.chunks)
        parts.push(Buffer.from(sizeLine(c), "latin1"), Buffer.from(c.data), Buffer.from("\r\n"));
      if (m.lastExt === "") {
        parts.push(Buffer.from(lastChunk(m.trailers.length ? new Headers(m.trailers) : null), "latin1"));
      } else {
        parts.push(Buffer.from(`0${m.lastExt}\r\n${fieldLines(m.trailers)}\r\n`, "latin1"));
      }
    } else {
      parts.push(bodyOf(m));
    }
  }
  return Buffer.concat(parts);
}

/** What the parser must report for wire(m), with finish() called at the end. */
export function expected(m: ResponseModel): Outcome {
  const none = bodyless(m);
  const body = bodyOf(m);
  let keepAlive = m.version === "1.1" ? m.connection !== "close" : m.connection === "keep-alive";
  if (!none && m.framing === "eof") keepAlive = false;
  let contentLength = m.framing === "length" ? body.length : -1;
  if (m.status === 204 && !m.isHead) contentLength = 0;
  const head: RecordedHead = {
    version: m.version,
    status: m.status,
    statusText: m.reason,
    headers: headFields(m).map((f): Field => [f.name, f.value]),
    framing: none ? "none" : m.framing,
    contentLength,
    keepAlive,
    keepAliveTimeout: m.keepAliveTimeout ?? -1,
  };
  const events: Outcome["events"] = m.informational.map((info) => ({
    kind: "informational" as const,
    head: {
      version: "1.1" as const,
      status: info.status,
      statusText: info.reason,
      headers: info.fields,
      framing: "none" as const,
      contentLength: -1,
      keepAlive: true,
      keepAliveTimeout: -1,
    },
  }));
  events.push({ kind: "head", head });
  const order: string[] = events.map((e) => e.kind);
  const bodyText = none ? "" : body.toString("latin1");
  if (bodyText !== "") order.push("data");
  if (!none && m.framing === "chunked" && m.trailers.length > 0) {
    events.push({ kind: "trailers", fields: m.trailers });
    order.push("trailers");
  }
  events.push({ kind: "complete" });
  order.push("complete");
  return { events, body: bodyText, order, error: null, rest: "", state: State.DONE };
}

/** Cuts `bytes` at the given points (any numbers; taken modulo the length, sorted). */
export function cutAt(bytes: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of at) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Byte-level edits that turn a valid response into a suspicious one. */
export type Mutation =
  | { op: "set"; at: number; byte: number }
  | { op: "insert"; at: number; byte: number }
  | { op: "delete"; at: number; count: number }
  | { op: "duplicate"; at: number; count: number }
  | { op: "truncate"; at: number };

/** Bytes that matter to the grammar, weighted above random ones. */
const interesting = fc.constantFrom(
  0x0d,
  0x0a,
  0x20,
  0x09,
  0x3a,
  0x3b,
  0x2c,
  0x00,
  0x30,
  0x66,
  0x2d,
  0x2b,
  0x7f,
  0xff,
);
const anyByte = fc.oneof(interesting, fc.integer({ min: 0, max: 255 }));

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), byte: anyByte }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), byte: anyByte }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant("duplicate" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
);

export function mutate(bytes: Buffer, mutations: Mutation[]): Buffer {
  let b: Buffer = Buffer.from(bytes);
  for (const m of mutations) {
    const at = m.at % (b.length + 1);
    switch (m.op) {
      case "set":
        if (at < b.length) b[at] = m.byte;
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), Buffer.of(m.byte), b.subarray(at)]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
        break;
      case "duplicate":
        b = Buffer.concat([b.subarray(0, at + m.count), b.subarray(at)]);
        break;
      case "truncate":
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}
