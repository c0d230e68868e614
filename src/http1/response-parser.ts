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
 * other than "chunked", malformed chunk sizes or extensions, overflow, all fail with
 * ERR_BAD_RESPONSE naming the rule. Heads and trailers longer than `maxHeaderBytes`
 * fail with ERR_HEADERS_TOO_LARGE.
 *
 * Every byte of a head, of trailers and of a chunk-size line is judged when it arrives,
 * in wire order: the first byte that no valid response could have at its place fails the
 * parse at once, whatever follows it and however the bytes were split into reads. So a
 * peer that sends garbage (a TLS record, an SSH banner, a NUL, a folded line) and then
 * holds the connection open is refused on the spot, not when a line end arrives, which
 * may be never. Only a CR waits for the byte after it (which must be LF), and rules over
 * whole fields (Content-Length, Transfer-Encoding) apply when the head is complete.
 *
 * Versions (RFC 9110 §2.5): HTTP/1.0 and HTTP/1.1; a higher 1.x minor is read as 1.1 (the
 * highest minor we implement); any other major is refused.
 *
 * Chunk extensions (RFC 9112 §7.1.1) are checked against their grammar and ignored:
 * `*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )`. Their cost is
 * bounded twice: a chunk-size line may not exceed MAX_CHUNK_LINE bytes (Go's
 * maxLineLength), and over a body, framing overhead beyond a fair share per chunk may not
 * pile up past MAX_CHUNK_OVERHEAD (Go's rule since CVE-2023-39326, see #endChunkLine).
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
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Chunk-size lines (size, extensions, CRLF) longer than this are refused (Go: 4096). */
const MAX_CHUNK_LINE = 4096;
/** Framing overhead a chunked body may pile up beyond its fair share (Go: 16 KiB). */
const MAX_CHUNK_OVERHEAD = 16 * 1024;
/** The fair share of framing per chunk: this many bytes, plus twice its data (Go's). */
const CHUNK_OVERHEAD_ALLOWANCE = 16;

// Where the parser is in a chunk-size line (#chunkState), RFC 9112 §7.1 and §7.1.1:
//   chunk-size [ chunk-ext ] CRLF
//   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
// CHUNK_END uses CS_SIZE for "the CR is due" and CS_CR for "the LF is due".
const CS_SIZE = 0; // hex digits
const CS_SIZE_WS = 1; // BWS after the size: ";" must come
const CS_NAME_START = 2; // after ";": BWS, then a token
const CS_NAME = 3; // in chunk-ext-name
const CS_NAME_WS = 4; // BWS after a name: "=" or ";" must come
const CS_VALUE_START = 5; // after "=": BWS, then a token or a quoted-string
const CS_TOKEN_VALUE = 6; // in a token value
const CS_QUOTED = 7; // in a quoted-string
const CS_QUOTED_PAIR = 8; // after "\" in a quoted-string
const CS_QUOTED_END = 9; // after the closing DQUOTE: ";", BWS or the CR
const CS_VALUE_WS = 10; // BWS after a value: ";" must come
const CS_CR = 11; // the CR ending the line was seen: LF must come

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
  /** How far the section being read has been checked (avoids rescanning). */
  readonly #cursor: SectionCursor = { line: 0, from: 0, colon: -1 };
  /**
   * Fields of the section being read, stored line by line as each line is checked.
   * Owned here until the section completes, then handed over with the head or trailers
   * (and replaced by fresh arrays for the next section).
   */
  #names: string[] = [];
  #values: string[] = [];
  /** The status line of the head being read, once it is complete. */
  #version: "1.0" | "1.1" = "1.1";
  #status = 0;
  #statusText = "";
  #chunkLine = 0;
  #chunkDigits = 0;
  #chunkState = CS_SIZE;
  /** Framing overhead of this chunked body beyond its fair share (see #endChunkLine). */
  #chunkExcess = 0;
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
    this.#resetCursor();
    if (this.#names.length > 0) {
      // Fields of a section that never completed.
      this.#names = [];
      this.#values = [];
    }
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
            this.#chunkState = CS_SIZE;
          }
          break;
        }
        case State.CHUNK_END: {
          const b = buf[i++]!;
          if (this.#chunkState !== CS_CR) {
            if (b !== CR) throw bad("chunk data not followed by CRLF");
            this.#chunkState = CS_CR;
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

  #resetCursor(): void {
    const cur = this.#cursor;
    cur.line = cur.from = 0;
    cur.colon = -1;
  }

  #startChunkSize(): void {
    this.state = State.CHUNK_SIZE;
    this.remaining = 0;
    this.#chunkLine = 0;
    this.#chunkDigits = 0;
    this.#chunkState = CS_SIZE;
  }

  /** Reads a chunk-size line byte by byte: 1*HEXDIG [ chunk-ext ] CRLF. */
  #chunkSize(buf: Buffer, i: number): number {
    const len = buf.length;
    while (i < len) {
      const b = buf[i++]!;
      if (++this.#chunkLine > MAX_CHUNK_LINE) throw bad("chunk-size line too long");
      const s = this.#chunkState;
      if (s === CS_CR) {
        if (b !== LF) throw bad("bare CR in chunk-size line");
        this.#endChunkLine();
        return i;
      }
      if (b === CR) {
        if (s === CS_SIZE) {
          if (this.#chunkDigits === 0) throw bad("empty chunk size");
        } else if (s !== CS_NAME && s !== CS_TOKEN_VALUE && s !== CS_QUOTED_END) {
          throw extensionCutShort(s);
        }
        this.#chunkState = CS_CR;
        continue;
      }
      if (b === LF) throw bad("bare LF in chunk-size line");
      if (s !== CS_SIZE) {
        this.#chunkState = nextInExtension(s, b);
        continue;
      }
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
      if (b === SEMI) this.#chunkState = CS_NAME_START;
      else if (b === SP || b === HTAB)
        this.#chunkState = CS_SIZE_WS; // BWS: ";" must follow
      else throw bad("chunk size is not hexadecimal");
    }
    return i;
  }

  /**
   * A chunk-size line ended (its LF is consumed). Charges its framing to the body, then
   * goes on to the data, or to the trailers after the last chunk.
   *
   * The charge is Go's (net/http/internal/chunked.go, the fix of CVE-2023-39326): each
   * chunk costs its size line plus the CRLF after its data, and may spend 16 bytes plus
   * twice its data for free; what is left over piles up, a later large chunk paying it
   * back, and more than 16 KiB piled up is refused. One-byte chunks ("1\r\nX\r\n") stay
   * free, so does any extension no longer than twice its chunk, while a sender padding
   * tiny chunks with long extensions (or long runs of leading zeros) is stopped within
   * 16 KiB instead of making us read megabytes for a few bytes of body.
   */
  #endChunkLine(): void {
    const lineWithoutCRLF = this.#chunkLine - 2;
    this.#chunkExcess += lineWithoutCRLF + 2 - CHUNK_OVERHEAD_ALLOWANCE - 2 * this.remaining;
    if (this.#chunkExcess < 0) this.#chunkExcess = 0;
    else if (this.#chunkExcess > MAX_CHUNK_OVERHEAD) {
      throw bad(
        `chunked body carries too much non-data (chunk-size lines and extensions over ${MAX_CHUNK_OVERHEAD} bytes beyond the data they frame)`,
      );
    }
    if (this.remaining === 0) {
      this.state = State.TRAILERS;
      this.#pendingLen = 0;
      this.#resetCursor();
    } else {
      this.state = State.CHUNK_DATA;
    }
  }

  /**
   * Collects a head or trailer section up to its empty line, checking and storing each
   * line as it completes (#scanSection), then hands the section over.
   * The section is contiguous in `buf` in the common case; otherwise its pieces are joined.
   */
  #section(buf: Buffer, i: number): number {
    const max = this.maxHeaderBytes;
    const held = this.#pendingLen;
    let data = buf;
    let start = i;
    if (held > 0) {
      // Append to what we hold; never more than the section may be (#scanSection
      // looks at no byte past `max`).
      const take = Math.min(buf.length - i, max - held);
      this.#reserve(held + take);
      buf.copy(this.#pending!, held, i, i + take);
      data = this.#pending!.subarray(0, held + take);
      start = 0;
    }
    const end = this.#scanSection(data, start);
    if (end === TOO_LARGE) throw this.#tooLarge();
    if (end === INCOMPLETE) {
      // Not complete (so fewer than `max` bytes): keep them; the cursor says where the
      // check resumes.
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
    this.#resetCursor();
    const names = this.#names;
    const values = this.#values;
    this.#names = [];
    this.#values = [];
    if (this.state === State.TRAILERS) {
      if (names.length > 0) this.handler.onTrailers(names, values);
      this.#complete();
    } else {
      this.#head(names, values);
    }
    // Offset in `buf` just past the section.
    return held === 0 ? end : i + (end - held);
  }

  /**
   * Checks the section in `data` (which starts at `start`) from where the cursor left off,
   * line by line, each byte in wire order; stores the status line and the fields of each
   * complete line. Returns the offset just past the empty line that ends the section, or
   * INCOMPLETE (cursor updated), or TOO_LARGE.
   *
   * Only the first maxHeaderBytes bytes of the section are ever looked at: once that many
   * have arrived without the empty line, the answer is TOO_LARGE, whatever follows. So the
   * verdict on a given byte stream does not depend on how it was split into reads (a bare
   * LF past the limit cannot turn ERR_HEADERS_TOO_LARGE into ERR_BAD_RESPONSE).
   */
  #scanSection(data: Buffer, start: number): number {
    const cur = this.#cursor;
    const len = data.length;
    const stop = start + this.maxHeaderBytes; // the section's last byte must come before this
    const seen = Math.min(len, stop);
    const head = this.state === State.HEAD;
    let ls = start + cur.line;
    let from = start + cur.from;
    while (true) {
      let lf = data.indexOf(LF, from);
      if (lf >= stop) lf = -1;
      const complete = lf >= 0;
      const to = complete ? lf : seen;
      let at: number;
      if (head && ls === start) {
        at = checkStatusLine(data, ls, from, to, complete);
        if (complete) this.#statusLine(data, ls, lf);
      } else {
        at = checkFieldLine(data, ls, from, to, complete, cur);
        if (at === EMPTY_LINE) return lf + 1;
        if (complete) {
          this.#field(data, ls, ls + cur.colon, lf - 1);
          cur.colon = -1;
        }
      }
      if (!complete) {
        if (len >= stop) return TOO_LARGE;
        cur.line = ls - start;
        cur.from = at - start;
        return INCOMPLETE;
      }
      ls = from = lf + 1;
    }
  }

  /** Stores a checked status line ending with CRLF at `lf`. */
  #statusLine(data: Buffer, ls: number, lf: number): void {
    // RFC 9110 §2.5: a higher minor version is processed as the highest one we implement.
    this.#version = data[ls + 7] === 0x30 ? "1.0" : "1.1";
    this.#status = (data[ls + 9]! - 0x30) * 100 + (data[ls + 10]! - 0x30) * 10 + (data[ls + 11]! - 0x30);
    const cr = lf - 1;
    this.#statusText = cr > ls + 13 ? latin1(data, ls + 13, cr) : "";
  }

  /** Stores a checked field line: name in [ls, colon), value up to the CR, OWS trimmed. */
  #field(data: Buffer, ls: number, colon: number, cr: number): void {
    let v = colon + 1;
    while (v < cr && (data[v] === SP || data[v] === HTAB)) v++;
    let e = cr;
    while (e > v && (data[e - 1] === SP || data[e - 1] === HTAB)) e--;
    this.#names.push(latin1(data, ls, colon));
    this.#values.push(v === e ? "" : latin1(data, v, e));
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

  /** A complete head: frames it and moves on to its body (or to the next head after a 1xx). */
  #head(names: string[], values: string[]): void {
    const status = this.#status;
    const head = frame(this.#version, status, this.#statusText, names, values, this.#isHeadRequest);

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
        this.#chunkExcess = 0;
        this.#startChunkSize();
        break;
      case "eof":
        this.state = State.UNTIL_EOF;
        break;
    }
    this.handler.onHead(head);
  }
}

/** #scanSection's answers besides an end offset. */
const INCOMPLETE = -1;
const TOO_LARGE = -2;

/**
 * How far an unfinished section has been checked, as offsets from the section's start.
 * Lines before `line` are checked and stored. Of the unfinished line that begins at
 * `line`, the bytes before `from` are checked (a CR last among them is checked again
 * with the byte after it, which must be LF). `colon`: where that line's colon is,
 * relative to `line`, or -1 while its name is still arriving.
 */
interface SectionCursor {
  line: number;
  from: number;
  colon: number;
}

/** checkFieldLine's answer for the empty line that ends a section. */
const EMPTY_LINE = -1;

/** "HTTP/1." */
const HTTP_1 = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e];

/*
 * The line checkers. Each judges the bytes [from, to) of a line that starts at `ls`, in
 * wire order, and throws at the first one that breaks the grammar. `complete`: the line's
 * LF is at `to`; otherwise `to` is where the bytes seen so far end, and the answer is
 * where the next check resumes. A CR is the line's end only when LF comes right after it:
 * with a byte after it that is not LF it is a bare CR; last in what was seen, it waits.
 */

/** A CR at `j`: the line's end, a bare CR, or (last byte seen) the resume point. */
function lineEndAt(j: number, to: number, complete: boolean): number {
  if (j + 1 < to) throw bad("bare CR in header section");
  return complete ? to : j;
}

/**
 * status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF (RFC 9112 §4), with
 * HTTP-version "HTTP/1." DIGIT, and the SP after the code optional when no reason follows
 * (Go, llhttp and hyper accept "HTTP/1.1 200\r\n").
 */
function checkStatusLine(data: Buffer, ls: number, from: number, to: number, complete: boolean): number {
  let j = from;
  for (; j < to && j - ls < 13; j++) {
    const b = data[j]!;
    const k = j - ls;
    if (k < 7) {
      if (b !== HTTP_1[k]) throw notHTTP1(k, b);
    } else if (k === 12) {
      if (b === CR) return lineEndAt(j, to, complete);
      if (b !== SP) throw bad("status code is not three digits");
    } else if (b === CR) {
      throw bad("status line too short");
    } else if (k === 7) {
      if (b < 0x30 || b > 0x39) throw bad("unsupported HTTP version");
    } else if (k === 8) {
      if (b !== SP) throw bad("no space after HTTP version");
    } else if (b < (k === 9 ? 0x31 : 0x30) || b > 0x39) {
      throw bad("status code is not three digits");
    }
  }
  // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ), up to the CR.
  while (j < to && FIELD_VALUE[data[j]!] === 1) j++;
  if (j < to) {
    if (data[j] !== CR) throw bad("control byte in reason phrase");
    return lineEndAt(j, to, complete);
  }
  if (complete) throw bad("bare LF in header section");
  return j;
}

/** The byte at offset `k` of a status line is not the `k`th of "HTTP/1.": say what it is. */
function notHTTP1(k: number, b: number): RoundtripError {
  if (k === 0) {
    if (b === CR) return bad("empty line where the status line belongs");
    // TLS content types 20-23 (a handshake record is 0x16 0x03 ...): a TLS server on
    // the other end, answering a plain-text request.
    if (b >= 0x14 && b <= 0x17) {
      return bad(
        `status line does not start with HTTP/1.: a TLS record (first byte 0x${b.toString(16)}), the server speaks TLS (use https://)`,
      );
    }
  }
  if (k === 5 && b >= 0x30 && b <= 0x39) {
    return bad(`status line does not start with HTTP/1.: HTTP major version ${b - 0x30} is not supported`);
  }
  return bad("status line does not start with HTTP/1.");
}

/**
 * field-line = field-name ":" OWS field-value OWS (RFC 9112 §5), or the empty line (then
 * EMPTY_LINE). A line starting with SP or HTAB is obs-fold, refused (RFC 9112 §5.2).
 * Stores the colon's offset in `cur.colon` once it is seen.
 */
function checkFieldLine(
  data: Buffer,
  ls: number,
  from: number,
  to: number,
  complete: boolean,
  cur: SectionCursor,
): number {
  let j = from;
  if (cur.colon < 0) {
    if (j === ls && j < to) {
      const b = data[j]!;
      if (b === CR) {
        const at = lineEndAt(j, to, complete);
        return complete ? EMPTY_LINE : at;
      }
      if (b === SP || b === HTAB) throw bad("obsolete line folding (obs-fold)");
      if (TOKEN[b] !== 1) throw bad("header field name is empty or not a token");
      j++;
    }
    while (j < to && TOKEN[data[j]!] === 1) j++;
    if (j === to) {
      if (complete) throw bad("bare LF in header section");
      return j;
    }
    const b = data[j]!;
    if (b !== COLON) {
      throw bad(
        b === SP || b === HTAB
          ? "whitespace before the colon of a header field"
          : "invalid byte in header field name",
      );
    }
    cur.colon = j - ls;
    j++;
  }
  while (j < to && FIELD_VALUE[data[j]!] === 1) j++;
  if (j === to) {
    if (complete) throw bad("bare LF in header section");
    return j;
  }
  if (data[j] !== CR) throw bad("control byte in header field value");
  return lineEndAt(j, to, complete);
}

/**
 * The next state in a chunk extension after byte `b` (neither CR nor LF), or the error
 * naming the rule `b` breaks.
 */
function nextInExtension(s: number, b: number): number {
  const ws = b === SP || b === HTAB;
  switch (s) {
    case CS_SIZE_WS:
      if (ws) return s;
      if (b === SEMI) return CS_NAME_START;
      throw bad("whitespace in chunk size not followed by an extension");
    case CS_NAME_START:
      if (ws) return s;
      if (TOKEN[b] === 1) return CS_NAME;
      break;
    case CS_NAME:
      if (TOKEN[b] === 1) return s;
      if (b === EQUALS) return CS_VALUE_START;
      if (b === SEMI) return CS_NAME_START;
      if (ws) return CS_NAME_WS;
      break;
    case CS_NAME_WS:
      if (ws) return s;
      if (b === EQUALS) return CS_VALUE_START;
      if (b === SEMI) return CS_NAME_START;
      break;
    case CS_VALUE_START:
      if (ws) return s;
      if (b === DQUOTE) return CS_QUOTED;
      if (TOKEN[b] === 1) return CS_TOKEN_VALUE;
      break;
    case CS_TOKEN_VALUE:
      if (TOKEN[b] === 1) return s;
      if (b === SEMI) return CS_NAME_START;
      if (ws) return CS_VALUE_WS;
      break;
    case CS_QUOTED:
      // qdtext = HTAB / SP / VCHAR except DQUOTE and "\" / obs-text
      if (b === DQUOTE) return CS_QUOTED_END;
      if (b === BACKSLASH) return CS_QUOTED_PAIR;
      if (FIELD_VALUE[b] === 1) return s;
      break;
    case CS_QUOTED_PAIR:
      // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      if (FIELD_VALUE[b] === 1) return CS_QUOTED;
      break;
    case CS_QUOTED_END:
      if (b === SEMI) return CS_NAME_START;
      if (ws) return CS_VALUE_WS;
      break;
    case CS_VALUE_WS:
      if (ws) return s;
      if (b === SEMI) return CS_NAME_START;
      break;
  }
  if (FIELD_VALUE[b] !== 1) throw bad("control byte in chunk extension");
  switch (s) {
    case CS_NAME_START:
    case CS_NAME:
      throw bad("chunk extension name is not a token");
    case CS_NAME_WS:
      throw bad('whitespace after a chunk extension name not followed by "=" or ";"');
    case CS_VALUE_WS:
      throw bad('whitespace after a chunk extension value not followed by ";"');
    default:
      throw bad("chunk extension value is not a token or a quoted-string");
  }
}

/** The CR ending a chunk-size line came where the extension grammar wants more. */
function extensionCutShort(s: number): RoundtripError {
  switch (s) {
    case CS_SIZE_WS:
      return bad("whitespace in chunk size not followed by an extension");
    case CS_NAME_START:
      return bad('chunk extension without a name after ";"');
    case CS_VALUE_START:
      return bad('chunk extension without a value after "="');
    case CS_QUOTED:
    case CS_QUOTED_PAIR:
      return bad("unterminated quoted-string in chunk extension");
    default:
      return bad("whitespace at the end of a chunk extension");
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
