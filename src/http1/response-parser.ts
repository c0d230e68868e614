/**
 * Incremental HTTP/1.1 response parser (RFC 9112), sans I/O: bytes in, callbacks out.
 * Bytes may be split at any offset; the parser never looks ahead of what it was given.
 *
 * States, in the order a response moves through them:
 *
 *   HEAD        collecting the status line and fields until the empty line. A 1xx other
 *               than 101 is reported and the parser stays in HEAD for the next head.
 *   LENGTH      Content-Length body: `remaining` bytes to go.
 *   CHUNK_SIZE  chunked: reading a chunk-size line (hex, then ";ext", then CRLF).
 *   CHUNK_DATA  chunked: `remaining` bytes of chunk data.
 *   CHUNK_END   chunked: the CRLF after chunk data.
 *   TRAILERS    chunked: trailer fields until the empty line.
 *   UNTIL_EOF   no framing: everything until the peer closes is body.
 *   DONE        the message is complete; further bytes are not ours (execute stops).
 *   UPGRADED    a 101 was parsed; the rest of the bytes belong to the new protocol.
 *
 * Strictness (reject, never guess): bare CR or LF, obs-fold, whitespace before a colon,
 * invalid bytes in names or values, bad or conflicting Content-Length, a Transfer-Encoding
 * other than "chunked", malformed chunk sizes or overflow, all fail with
 * ERR_BAD_RESPONSE naming the rule. Heads and trailers longer than `maxHeaderBytes`
 * fail with ERR_HEADERS_TOO_LARGE.
 */
import { RoundtripError } from "../errors.js";
import { FIELD_VALUE, TOKEN } from "./chars.js";

export enum State {
  HEAD = 0,
  LENGTH = 1,
  CHUNK_SIZE = 2,
  CHUNK_DATA = 3,
  CHUNK_END = 4,
  TRAILERS = 5,
  UNTIL_EOF = 6,
  DONE = 7,
  UPGRADED = 8,
}

export type BodyFraming = "none" | "length" | "chunked" | "eof";

export interface ResponseHead {
  version: "1.0" | "1.1";
  status: number;
  statusText: string;
  /** Field names as received, parallel to `values`. */
  names: string[];
  values: string[];
  framing: BodyFraming;
  /** Declared length (Content-Length), or -1 when unknown or chunked. */
  contentLength: number;
  /** The server allows another request on this connection after this response. */
  keepAlive: boolean;
  /** `Keep-Alive: timeout=N` in seconds, or -1. */
  keepAliveTimeout: number;
  /** Content-Encoding, found during the framing scan (lines joined with ","), or null. */
  contentEncoding: string | null;
}

export interface ResponseHandler {
  /** An informational (1xx, not 101) head; the parser goes on to the next head. */
  onInformational(head: ResponseHead): void;
  /** The final head. Body callbacks follow unless framing is "none". */
  onHead(head: ResponseHead): void;
  onData(chunk: Buffer): void;
  onTrailers(names: string[], values: string[]): void;
  /** The message is complete (body and trailers read). */
  onComplete(): void;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const SEMI = 0x3b;

/** Chunk-size lines (size and extensions) longer than this are refused. */
const MAX_CHUNK_LINE = 4096;

function bad(rule: string): RoundtripError {
  return new RoundtripError("ERR_BAD_RESPONSE", `malformed response: ${rule}`);
}

export class ResponseParser {
  state: State = State.HEAD;
  /** Bytes still to read in LENGTH or CHUNK_DATA. */
  remaining = 0;
  /**
   * Bytes of a head or trailer section seen so far but not yet complete: the first
   * #pendingLen bytes of a buffer that grows by doubling (up to maxHeaderBytes), so a
   * head trickling in one byte per read costs linear time, not quadratic.
   */
  #pending: Buffer | null = null;
  #pendingLen = 0;
  /** Where the end-of-section search resumes in #pending (avoids rescanning). */
  readonly #cursor: SectionCursor = { line: 0, from: 0 };
  #chunkLine = 0;
  #chunkDigits = 0;
  #chunkState = 0; // 0: size digits, 1: BWS/ext, 2: saw CR
  #sawBytes = false;
  #isHeadRequest = false;
  readonly maxHeaderBytes: number;
  readonly handler: ResponseHandler;

  constructor(handler: ResponseHandler, maxHeaderBytes: number) {
    this.handler = handler;
    this.maxHeaderBytes = maxHeaderBytes;
  }

  /** Prepares for the response to a new request. */
  reset(isHeadRequest: boolean): void {
    this.state = State.HEAD;
    this.remaining = 0;
    this.#pending = null;
    this.#pendingLen = 0;
    this.#cursor.line = this.#cursor.from = 0;
    this.#sawBytes = false;
    this.#isHeadRequest = isHeadRequest;
  }

  /** True once any byte of the response has arrived. */
  get started(): boolean {
    return this.#sawBytes;
  }

  /**
   * Consumes bytes from `buf` starting at `offset`. Returns the offset where it stopped:
   * `buf.length`, or earlier when the message completed (DONE) or was upgraded (UPGRADED).
   * Throws RoundtripError on malformed input; the parser is then unusable.
   */
  execute(buf: Buffer, offset = 0): number {
    const len = buf.length;
    if (offset < len) this.#sawBytes = true;
    let i = offset;
    while (i < len) {
      switch (this.state) {
        case State.HEAD:
        case State.TRAILERS:
          i = this.#section(buf, i);
          break;
        case State.LENGTH: {
          const n = Math.min(this.remaining, len - i);
          this.remaining -= n;
          this.handler.onData(i === 0 && n === len ? buf : buf.subarray(i, i + n));
          i += n;
          if (this.remaining === 0) this.#complete();
          break;
        }
        case State.CHUNK_SIZE:
          i = this.#chunkSize(buf, i);
          break;
        case State.CHUNK_DATA: {
          const n = Math.min(this.remaining, len - i);
          this.remaining -= n;
          this.handler.onData(buf.subarray(i, i + n));
          i += n;
          if (this.remaining === 0) {
            this.state = State.CHUNK_END;
            this.#chunkState = 0;
          }
          break;
        }
        case State.CHUNK_END: {
          const b = buf[i++]!;
          if (this.#chunkState === 0) {
            if (b !== CR) throw bad("chunk data not followed by CRLF");
            this.#chunkState = 2;
          } else {
            if (b !== LF) throw bad("chunk data not followed by CRLF");
            this.#startChunkSize();
          }
          break;
        }
        case State.UNTIL_EOF:
          this.handler.onData(i === 0 ? buf : buf.subarray(i));
          i = len;
          break;
        case State.DONE:
        case State.UPGRADED:
          return i;
      }
    }
    return i;
  }

  /**
   * The peer closed the connection (FIN). Completes a body framed by EOF; anything else
   * unfinished is an error: ERR_CONNECTION_CLOSED before the head is complete,
   * ERR_UNEXPECTED_EOF inside a framed body.
   */
  finish(): void {
    switch (this.state) {
      case State.UNTIL_EOF:
        this.#complete();
        return;
      case State.DONE:
      case State.UPGRADED:
        return;
      case State.HEAD:
        throw new RoundtripError(
          "ERR_CONNECTION_CLOSED",
          this.#sawBytes
            ? "connection closed in the middle of the response head"
            : "connection closed before any response byte arrived",
        );
      case State.LENGTH:
        throw new RoundtripError(
          "ERR_UNEXPECTED_EOF",
          `connection closed with ${this.remaining} bytes of the response body still to come`,
        );
      default:
        throw new RoundtripError(
          "ERR_UNEXPECTED_EOF",
          "connection closed in the middle of a chunked response body",
        );
    }
  }

  #complete(): void {
    this.state = State.DONE;
    this.handler.onComplete();
  }

  #startChunkSize(): void {
    this.state = State.CHUNK_SIZE;
    this.remaining = 0;
    this.#chunkLine = 0;
    this.#chunkDigits = 0;
    this.#chunkState = 0;
  }

  /** Reads a chunk-size line byte by byte: 1*HEXDIG [ BWS ";" ext ] CRLF. */
  #chunkSize(buf: Buffer, i: number): number {
    const len = buf.length;
    while (i < len) {
      const b = buf[i++]!;
      if (++this.#chunkLine > MAX_CHUNK_LINE) throw bad("chunk-size line too long");
      if (this.#chunkState === 2) {
        if (b !== LF) throw bad("bare CR in chunk-size line");
        if (this.#chunkDigits === 0) throw bad("empty chunk size");
        if (this.remaining === 0) {
          this.state = State.TRAILERS;
          this.#pendingLen = 0;
          this.#cursor.line = this.#cursor.from = 0;
        } else {
          this.state = State.CHUNK_DATA;
        }
        return i;
      }
      if (b === CR) {
        // RFC 9112 §7.1: whitespace after the size is only BWS before ";" chunk-ext.
        if (this.#chunkState === 3) throw bad("whitespace in chunk size not followed by an extension");
        this.#chunkState = 2;
        continue;
      }
      if (b === LF) throw bad("bare LF in chunk-size line");
      if (this.#chunkState === 0) {
        const d = hexValue(b);
        if (d >= 0) {
          this.#chunkDigits++;
          // Exact: remaining * 16 is exact, and crosses 2^53 only if the sum does.
          // Leading zeros cost nothing; the line length limit bounds how many there are.
          this.remaining = this.remaining * 16 + d;
          if (this.remaining > Number.MAX_SAFE_INTEGER) throw bad("chunk size too large");
          continue;
        }
        if (this.#chunkDigits === 0) throw bad("chunk size is not hexadecimal");
        if (b === SEMI) {
          this.#chunkState = 1;
          continue;
        }
        if (b === SP || b === HTAB) {
          this.#chunkState = 3; // BWS, then ";" must follow
          continue;
        }
        throw bad("chunk size is not hexadecimal");
      }
      if (this.#chunkState === 3) {
        if (b === SP || b === HTAB) continue;
        if (b === SEMI) {
          this.#chunkState = 1;
          continue;
        }
        throw bad("whitespace in chunk size not followed by an extension");
      }
      // chunk-ext: ignored, but it may not hold control bytes (HTAB allowed).
      if (FIELD_VALUE[b] !== 1) throw bad("control byte in chunk extension");
    }
    return i;
  }

  /**
   * Collects a head or trailer section up to its empty line, then parses it whole.
   * The section is contiguous in `buf` in the common case; otherwise its pieces are joined.
   */
  #section(buf: Buffer, i: number): number {
    const max = this.maxHeaderBytes;
    const held = this.#pendingLen;
    let data = buf;
    let start = i;
    if (held > 0) {
      // Append to what we hold; never more than the section may be (findSectionEnd
      // looks at no byte past `max`).
      const take = Math.min(buf.length - i, max - held);
      this.#reserve(held + take);
      buf.copy(this.#pending!, held, i, i + take);
      data = this.#pending!.subarray(0, held + take);
      start = 0;
    }
    const end = findSectionEnd(data, start, this.#cursor, this.state === State.TRAILERS, max);
    if (end === TOO_LARGE) throw this.#tooLarge();
    if (end === INCOMPLETE) {
      // Not complete (so fewer than `max` bytes): keep them; the cursor says where the
      // search resumes.
      if (held === 0) {
        this.#reserve(buf.length - i);
        buf.copy(this.#pending!, 0, i);
      }
      this.#pendingLen = data.length - start;
      return buf.length;
    }
    // Complete. Field strings are copies, so the held bytes may go.
    this.#pending = null;
    this.#pendingLen = 0;
    this.#cursor.line = this.#cursor.from = 0;
    if (this.state === State.TRAILERS) {
      const names: string[] = [];
      const values: string[] = [];
      parseFields(data, start, end, names, values);
      if (names.length > 0) this.handler.onTrailers(names, values);
      this.#complete();
    } else {
      this.#head(data, start, end);
    }
    // Offset in `buf` just past the section.
    return held === 0 ? end : i + (end - held);
  }

  /** Makes #pending hold at least `n` bytes (keeping the first #pendingLen), doubling. */
  #reserve(n: number): void {
    const cur = this.#pending;
    if (cur !== null && cur.length >= n) return;
    const size = Math.min(Math.max(n, (cur?.length ?? 0) * 2, 256), Math.max(n, this.maxHeaderBytes));
    const next = Buffer.allocUnsafe(size);
    if (cur !== null) cur.copy(next, 0, 0, this.#pendingLen);
    this.#pending = next;
  }

  #tooLarge(): RoundtripError {
    return new RoundtripError(
      "ERR_HEADERS_TOO_LARGE",
      `response ${this.state === State.TRAILERS ? "trailers" : "head"} exceed maxResponseHeaderBytes (${this.maxHeaderBytes})`,
    );
  }

  #head(data: Buffer, start: number, end: number): void {
    // Status line: HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF
    const lineEnd = data.indexOf(LF, start);
    if (lineEnd - start < 13) throw bad("status line too short");
    if (
      data[start] !== 0x48 || // H
      data[start + 1] !== 0x54 || // T
      data[start + 2] !== 0x54 || // T
      data[start + 3] !== 0x50 || // P
      data[start + 4] !== 0x2f || // /
      data[start + 5] !== 0x31 || // 1
      data[start + 6] !== 0x2e // .
    ) {
      throw bad("status line does not start with HTTP/1.");
    }
    const minor = data[start + 7];
    if (minor !== 0x30 && minor !== 0x31) throw bad("unsupported HTTP version");
    if (data[start + 8] !== SP) throw bad("no space after HTTP version");
    const d0 = data[start + 9]! - 0x30;
    const d1 = data[start + 10]! - 0x30;
    const d2 = data[start + 11]! - 0x30;
    if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9)
      throw bad("status code is not three digits");
    const status = d0 * 100 + d1 * 10 + d2;
    const crPos = lineEnd - 1; // findSectionEnd guarantees CRLF line ends
    let statusText = "";
    if (crPos > start + 12) {
      if (data[start + 12] !== SP) throw bad("status code is not three digits");
      for (let j = start + 13; j < crPos; j++) {
        if (FIELD_VALUE[data[j]!] !== 1) throw bad("control byte in reason phrase");
      }
      statusText = latin1(data, start + 13, crPos);
    }

    const names: string[] = [];
    const values: string[] = [];
    parseFields(data, lineEnd + 1, end, names, values);
    const version = minor === 0x31 ? "1.1" : "1.0";
    const head = frame(version, status, statusText, names, values, this.#isHeadRequest);

    if (status < 200 && status !== 101) {
      // Informational: report it and stay in HEAD for the next one.
      this.handler.onInformational(head);
      return;
    }
    if (status === 101) {
      this.state = State.UPGRADED;
      this.handler.onHead(head);
      return;
    }
    switch (head.framing) {
      case "none":
        this.state = State.DONE;
        this.handler.onHead(head);
        this.handler.onComplete();
        return;
      case "length":
        this.remaining = head.contentLength;
        if (this.remaining === 0) {
          this.state = State.DONE;
          this.handler.onHead(head);
          this.handler.onComplete();
          return;
        }
        this.state = State.LENGTH;
        break;
      case "chunked":
        this.#startChunkSize();
        break;
      case "eof":
        this.state = State.UNTIL_EOF;
        break;
    }
    this.handler.onHead(head);
  }
}

/** findSectionEnd's answers besides an end offset. */
const INCOMPLETE = -1;
const TOO_LARGE = -2;

/**
 * How far an unfinished section has been checked, as offsets from the section's start:
 * `line` is where its last, unfinished line begins; bytes from `line` up to `from` hold
 * no LF and no CR. The next search resumes at `from`, so a long line arriving one byte
 * per read is scanned once, not once per read.
 */
interface SectionCursor {
  line: number;
  from: number;
}

/**
 * Finds the end of a header section: the offset just past the CRLF of its empty line.
 * Checks on the way that every LF is preceded by CR and no CR stands alone. Returns
 * INCOMPLETE (and updates `cur`) when the section has not ended yet.
 * `emptyAllowed`: a trailer section may be empty (just CRLF at the start).
 *
 * Only the first `max` bytes of the section are ever looked at: once that many have
 * arrived without the empty line, the answer is TOO_LARGE, whatever follows. So the
 * verdict on a given byte stream does not depend on how it was split into reads (a bare
 * LF past the limit cannot turn ERR_HEADERS_TOO_LARGE into ERR_BAD_RESPONSE).
 */
function findSectionEnd(
  data: Buffer,
  start: number,
  cur: SectionCursor,
  emptyAllowed: boolean,
  max: number,
): number {
  let lineStart = start + cur.line;
  let from = start + cur.from;
  const len = data.length;
  const stop = start + max; // the section's last byte must come before this offset
  while (true) {
    let lf = data.indexOf(LF, from);
    if (lf >= stop) lf = -1;
    // Defects are reported in byte order, as an incremental reader meets them: a CR
    // followed by anything but LF comes first, then an LF without its CR.
    const cr = data.indexOf(CR, from);
    if (lf < 0) {
      // No LF in the window: a CR with a byte after it (in the window) is a bare CR.
      if (cr >= 0 && cr < Math.min(len, stop) - 1) throw bad("bare CR in header section");
      if (len >= stop) return TOO_LARGE;
      cur.line = lineStart - start;
      cur.from = (cr >= 0 ? cr : len) - start; // a CR at the very end is checked again
      return INCOMPLETE;
    }
    if (cr >= 0 && cr < lf - 1) throw bad("bare CR in header section");
    if (lf === start || data[lf - 1] !== CR) throw bad("bare LF in header section");
    if (lf - 1 === lineStart) {
      if (lineStart === start && !emptyAllowed) throw bad("empty line where the status line belongs");
      return lf + 1;
    }
    lineStart = lf + 1;
    from = lineStart;
  }
}

/** Parses field lines in [pos, end) (CRLF-terminated, ending with the empty line). */
function parseFields(data: Buffer, pos: number, end: number, names: string[], values: string[]): void {
  while (pos < end) {
    const lf = data.indexOf(LF, pos);
    const lineEnd = lf - 1; // the CR
    if (lineEnd === pos) return; // the empty line
    const first = data[pos]!;
    if (first === SP || first === HTAB) throw bad("obsolete line folding (obs-fold)");
    let j = pos;
    while (j < lineEnd && TOKEN[data[j]!] === 1) j++;
    if (j === pos) throw bad("header field name is empty or not a token");
    if (j === lineEnd || data[j] !== COLON) {
      const b = data[j];
      throw bad(
        b === SP || b === HTAB
          ? "whitespace before the colon of a header field"
          : "invalid byte in header field name",
      );
    }
    const nameEnd = j;
    j++;
    while (j < lineEnd && (data[j] === SP || data[j] === HTAB)) j++;
    let vEnd = lineEnd;
    while (vEnd > j && (data[vEnd - 1] === SP || data[vEnd - 1] === HTAB)) vEnd--;
    for (let k = j; k < vEnd; k++) {
      if (FIELD_VALUE[data[k]!] !== 1) throw bad("control byte in header field value");
    }
    names.push(latin1(data, pos, nameEnd));
    values.push(j === vEnd ? "" : latin1(data, j, vEnd));
    pos = lf + 1;
  }
}

/** Buffer#latin1Slice: the fastest bytes-to-string for header text (1 byte = 1 char). */
const latin1 = (b: Buffer, start: number, end: number): string =>
  (b as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Applies RFC 9112 §6.3 to a parsed head: how the body is framed, and reuse. */
function frame(
  version: "1.0" | "1.1",
  status: number,
  statusText: string,
  names: string[],
  values: string[],
  isHeadRequest: boolean,
): ResponseHead {
  let contentLength = -1;
  let te: string | null = null;
  let connClose = false;
  let connKeepAlive = false;
  let keepAliveTimeout = -1;
  let contentEncoding: string | null = null;
  let clIndex = -1;
  for (let k = 0; k < names.length; k++) {
    const name = names[k]!;
    switch (name.length) {
      case 14:
        if (name.toLowerCase() === "content-length") {
          const n = parseContentLength(values[k]!);
          if (contentLength !== -1 && n !== contentLength) throw bad("conflicting Content-Length values");
          contentLength = n;
          clIndex = k;
        }
        break;
      case 16:
        if (name.toLowerCase() === "content-encoding") {
          contentEncoding = contentEncoding === null ? values[k]! : contentEncoding + "," + values[k]!;
        }
        break;
      case 17:
        if (name.toLowerCase() === "transfer-encoding") te = te === null ? values[k]! : te + "," + values[k]!;
        break;
      case 10:
        if (name.toLowerCase() === "connection") {
          const v = values[k]!.toLowerCase();
          // The two common single-token values without splitting.
          if (v === "keep-alive") connKeepAlive = true;
          else if (v === "close") connClose = true;
          else {
            for (const tok of v.split(",")) {
              const t = tok.trim();
              if (t === "close") connClose = true;
              else if (t === "keep-alive") connKeepAlive = true;
            }
          }
        } else if (name.toLowerCase() === "keep-alive") {
          // A number too long to be a sane hint (or cut short by the regex) is no hint.
          const m = /(?:^|[,;\s])timeout\s*=\s*(\d{1,9})(?!\d)/i.exec(values[k]!);
          if (m) keepAliveTimeout = Number(m[1]);
        }
        break;
    }
  }

  let framing: BodyFraming;
  let reusable = version === "1.1" ? !connClose : connKeepAlive && !connClose;
  if (te !== null) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
    if (version === "1.0") throw bad("Transfer-Encoding in an HTTP/1.0 response");
    const codings = te
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== "");
    if (codings.length !== 1 || codings[0] !== "chunked") {
      throw bad(`unsupported Transfer-Encoding ${JSON.stringify(te)}: only "chunked" is accepted`);
    }
    if (clIndex !== -1) {
      // §6.3 (3): Transfer-Encoding overrides Content-Length; the message may be a
      // smuggling attempt, so drop the length and never reuse the connection.
      removeField(names, values, "content-length");
      contentLength = -1;
      reusable = false;
    }
  }

  const bodyless = isHeadRequest || (status >= 100 && status < 200) || status === 204 || status === 304;
  if (bodyless) {
    framing = "none";
    if (!isHeadRequest && status !== 304) contentLength = status === 204 ? 0 : contentLength;
  } else if (te !== null) {
    framing = "chunked";
  } else if (contentLength >= 0) {
    framing = "length";
  } else {
    framing = "eof";
    reusable = false;
  }

  return {
    version,
    status,
    statusText,
    names,
    values,
    framing,
    contentLength,
    keepAlive: reusable,
    keepAliveTimeout,
    contentEncoding,
  };
}

/** Content-Length = 1*DIGIT, or a list of identical values (RFC 9110 §8.6). */
function parseContentLength(value: string): number {
  let result = -1;
  for (const part of value.split(",")) {
    const v = part.trim();
    if (!/^[0-9]{1,15}$/.test(v)) throw bad(`invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
    const n = Number(v);
    if (result !== -1 && n !== result) throw bad("conflicting Content-Length values");
    result = n;
  }
  return result;
}

function removeField(names: string[], values: string[], lowerName: string): void {
  for (let k = names.length - 1; k >= 0; k--) {
    if (names[k]!.toLowerCase() === lowerName) {
      names.splice(k, 1);
      values.splice(k, 1);
    }
  }
}
