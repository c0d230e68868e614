/**
 * Go's http.ServeContent for node:http: validators, preconditions, Content-Type, Range, and
 * the body. `serveContent` is the public entry for any random-access content; `serveResolved`
 * is the shared core that serveFile calls with a file it has already opened and checked.
 */
import { extname } from "node:path";
import { ownOptions } from "../options.js";
import { evaluatePreconditions } from "./conditional.js";
import { formatHttpDate } from "./http-date.js";
import { contentTypeByExtension } from "./mime.js";
import { multipartByteranges } from "./multipart.js";
import { contentRange, parseRange, tooCostly } from "./range.js";
import { failure, rejectMethod, replyError } from "./reply.js";
import {
  type Reply,
  type Request,
  type Response,
  reply,
  type Segment,
  type Source,
  sendBody,
  sendHeadOnly,
  type Transfer,
} from "./send.js";
import { detectContentType, SNIFF_LENGTH } from "./sniff.js";

/**
 * Random-access content: anything with positional reads. A `FileHandle` from
 * `fs.promises.open()` is one, and its `fd` lets the body go out with sendfile(2).
 */
export interface ContentReader {
  /** Descriptor of a regular file. When present, the body may be sent zero-copy from it. */
  readonly fd?: number;
  /** Reads up to `length` bytes at byte `position` into `buffer` at `offset`. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  /** Called once when serving is over, whatever the outcome. */
  close?(): Promise<void> | void;
}

/** What `serveContent` serves. */
export interface ServeContentSource {
  /**
   * A file name whose extension picks the Content-Type; never sent. Default `""`: the type
   * is sniffed from the first 512 bytes, unless `res` already has a Content-Type.
   */
  name?: string;
  /**
   * Last modification, as a Date or ms since the epoch. Sent as Last-Modified and used for
   * If-Modified-Since, If-Unmodified-Since and If-Range. Default: unknown (no Last-Modified,
   * date preconditions ignored); the epoch itself also counts as unknown, as in Go.
   */
  modified?: Date | number;
  /** Length of the content in bytes. Required: ranges and Content-Length depend on it. */
  size: number;
  /**
   * Entity tag, quoted, optionally weak: `"abc"` or `W/"abc"`. Sent as ETag and used for
   * If-Match, If-None-Match and If-Range. An ETag already set on `res` wins. Default: none.
   */
  etag?: string;
  /**
   * Opens the content. Called at most once, and only when bytes are needed (a 304 or a
   * HEAD with a known type never opens it); the returned reader is closed when done.
   * May return the bytes themselves.
   */
  open(): ContentReader | Uint8Array | Promise<ContentReader | Uint8Array>;
}

/** Options shared by serveContent and serveFile. */
export interface ServeOptions {
  /**
   * Answer methods other than GET and HEAD with 405 and `Allow: GET, HEAD`. Default `true`.
   * With `false` any method is served like GET, as Go's ServeContent does.
   */
  rejectOtherMethods?: boolean;
  /**
   * Most ranges honoured in one request; a Range field with more is ignored and the whole
   * content is sent (200). Guards against multipart amplification. Default `100`.
   */
  maxRanges?: number;
  /**
   * Allow the socket route (sendfile(2) when the native addon is live) for file content on
   * plain-TCP HTTP/1 connections. Default `true`; `false` forces the res.write loop.
   */
  zeroCopy?: boolean;
  /**
   * On the socket route, hold the connection in TCP_CORK from the head to the end of the
   * body, as nginx's `tcp_nopush on` does: the head leaves in one segment with the first
   * body bytes, every segment is full, and the tail is pushed as soon as the body is in.
   * Needs the native addon (ignored without it). Default `false`; see docs/server.md for
   * what it changes (on loopback it moves the kernel's transmit work to the client).
   */
  tcpCork?: boolean;
}

/** What happened, for logging; the promise never rejects. */
export interface ServeResult {
  /** Status code sent (or that would have been, if the client left first). */
  status: number;
  /** Body bytes handed to the connection. */
  bytes: number;
  /**
   * `"socket"`: the body went straight to the TCP socket (sendfile(2) if the addon is live);
   * `"stream"`: through res.write; `"none"`: no body, or an error page.
   */
  transfer: Transfer;
  /** Why serving failed or was cut short: a file system error, a client abort. */
  error?: Error;
}

/** Content as the core needs it, whoever opened it. */
export interface Resolved {
  name: string;
  modified: number | undefined;
  size: number;
  etag: string | undefined;
  /** Opens on first call, then returns the same source. */
  source(): Promise<Source>;
}

const DEFAULT_MAX_RANGES = 100;

/**
 * Replies to `req` with `content`, as Go's http.ServeContent does: Last-Modified and ETag,
 * preconditions (412/304), Content-Type by `name`'s extension else by sniffing, single and
 * multipart ranges (206/416), HEAD, and the body, zero-copy where the connection allows.
 *
 * Headers the caller set on `res` beforehand are kept; a Content-Type or ETag set there
 * is used instead of the computed one. Never rejects: failures are answered with a plain
 * error status (no details) before the head is sent, or by destroying the connection after,
 * and are reported in the result.
 */
export async function serveContent(
  req: Request,
  res: Response,
  content: ServeContentSource,
  options: ServeOptions = {},
): Promise<ServeResult> {
  // Own properties only: an option inherited from a polluted Object.prototype is ignored.
  options = ownOptions(options);
  let opened: ContentReader | Uint8Array | undefined;
  let openPromise: Promise<Source> | undefined;
  const resolved: Resolved = {
    name: content.name ?? "",
    modified: content.modified === undefined ? undefined : +content.modified,
    size: content.size,
    etag: content.etag,
    source() {
      openPromise ??= Promise.resolve()
        .then(() => content.open())
        .then((r) => {
          opened = r;
          return toSource(r);
        });
      return openPromise;
    },
  };
  try {
    return await serveResolved(req, reply(res), resolved, options);
  } finally {
    if (opened && !(opened instanceof Uint8Array)) {
      try {
        await opened.close?.();
      } catch {
        // Closing is best effort here; the response is already decided.
      }
    }
  }
}

/** The core: never rejects; whatever throws becomes an error page or a cut connection. */
export async function serveResolved(
  req: Request,
  res: Reply,
  content: Resolved,
  options: ServeOptions,
): Promise<ServeResult> {
  try {
    return await respond(req, res, content, options);
  } catch (err) {
    return failure(res, err);
  }
}

async function respond(
  req: Request,
  res: Reply,
  content: Resolved,
  options: ServeOptions,
): Promise<ServeResult> {
  const method = req.method ?? "GET";
  if (res.headersSent) {
    return { status: res.statusCode, bytes: 0, transfer: "none", error: new Error("headers already sent") };
  }
  const refused = rejectMethod(req, res, options);
  if (refused) return refused;
  if (!Number.isSafeInteger(content.size) || content.size < 0) {
    return replyError(res, 500, new RangeError(`invalid content size ${content.size}`));
  }
  const size = content.size;

  // Go's isZeroTime: the epoch is how many sources spell "unknown".
  const modified =
    content.modified !== undefined && Number.isFinite(content.modified) && content.modified !== 0
      ? content.modified
      : undefined;
  if (modified !== undefined) res.setHeader("Last-Modified", formatHttpDate(modified));
  if (content.etag !== undefined && !res.hasHeader("etag")) res.setHeader("ETag", content.etag);
  const etagHeader = res.getHeader("etag");
  const etag = typeof etagHeader === "string" ? etagHeader : undefined;

  const verdict = evaluatePreconditions(method, req.headers, { etag, modified });
  if (verdict.kind === "precondition-failed") {
    res.setHeader("Content-Length", "0");
    return { ...(await sendHeadOnly(res, 412)), status: 412 };
  }
  if (verdict.kind === "not-modified") {
    // RFC 9110 15.4.5: no representation metadata beyond what helps caches update.
    for (const name of ["content-type", "content-length", "content-encoding"]) res.removeHeader(name);
    if (etag !== undefined) res.removeHeader("last-modified");
    return { ...(await sendHeadOnly(res, 304)), status: 304 };
  }

  let type = res.getHeader("content-type");
  if (type === undefined) {
    type = contentTypeByExtension(extname(content.name)) ?? (await sniff(content, size));
    res.setHeader("Content-Type", type);
  }
  const partType = Array.isArray(type) ? (type[0] ?? "") : String(type);

  let status = 200;
  let segments: Segment[] = size > 0 ? [{ start: 0, length: size }] : [];
  let length = size;
  const range = parseRange(verdict.range, size);
  if (range.kind === "invalid") return replyError(res, 416);
  if (range.kind === "unsatisfiable") {
    // Go: some clients send Range with every request; an empty file just gets a 200.
    if (size > 0) {
      res.setHeader("Content-Range", `bytes */${size}`);
      return replyError(res, 416);
    }
  } else if (
    range.kind === "ranges" &&
    !tooCostly(range.ranges, size, options.maxRanges ?? DEFAULT_MAX_RANGES)
  ) {
    status = 206;
    if (range.ranges.length === 1) {
      const r = range.ranges[0]!;
      res.setHeader("Content-Range", contentRange(r, size));
      segments = [r];
      length = r.length;
    } else {
      // RFC 9110 14.6: one part per range, in the order requested.
      const body = multipartByteranges(range.ranges, partType, size);
      res.setHeader("Content-Type", body.contentType);
      segments = body.segments;
      length = body.length;
    }
  }

  res.setHeader("Accept-Ranges", "bytes");
  // Go's compromise: a caller who set Content-Encoding is probably compressing on the fly,
  // so the length is unknown unless this is a range response (which is then their problem).
  if (status === 206 || !res.hasHeader("content-encoding")) res.setHeader("Content-Length", String(length));

  if (method === "HEAD" || length === 0) {
    return { ...(await sendHeadOnly(res, status)), status };
  }
  const source = await content.source();
  const route = { zeroCopy: options.zeroCopy !== false, tcpCork: options.tcpCork === true };
  return { ...(await sendBody(req, res, status, source, segments, route)), status };
}

async function sniff(content: Resolved, size: number): Promise<string> {
  const source = await content.source();
  const buf = Buffer.allocUnsafe(Math.min(SNIFF_LENGTH, size));
  let got = 0;
  while (got < buf.length) {
    const n = await source.read(buf, got, buf.length - got, got);
    if (n === 0) break;
    got += n;
  }
  return detectContentType(buf.subarray(0, got));
}

function toSource(r: ContentReader | Uint8Array): Source {
  if (r instanceof Uint8Array) {
    return {
      fd: undefined,
      read(buf, offset, length, position) {
        const chunk = r.subarray(position, position + length);
        buf.set(chunk, offset);
        return Promise.resolve(chunk.length);
      },
    };
  }
  return {
    fd: typeof r.fd === "number" ? r.fd : undefined,
    read: (buf, offset, length, position) => r.read(buf, offset, length, position).then((x) => x.bytesRead),
  };
}
