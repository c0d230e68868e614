/**
 * Error replies. Like Go's http.Error: a short plain-text body naming only the status, so
 * no path, errno or stack trace ever reaches a client; the cause stays in the ServeResult.
 */
import { STATUS_CODES } from "node:http";
import type { Reply, Request } from "./send.js";
import type { ServeOptions, ServeResult } from "./serve-content.js";

/** Representation metadata that described the content, not this error page. */
const CONTENT_HEADERS = ["etag", "last-modified", "cache-control", "content-encoding", "accept-ranges"];

export function replyError(res: Reply, status: number, error?: Error): ServeResult {
  for (const name of CONTENT_HEADERS) res.removeHeader(name);
  // A 416 keeps the `bytes */size` it was given; any other status drops a stale one.
  if (status !== 416) res.removeHeader("content-range");
  const body = `${status} ${STATUS_CODES[status] ?? "Error"}\n`;
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Content-Length", String(Buffer.byteLength(body)));
  res.writeHead(status);
  res.end(body);
  return error ? { status, bytes: 0, transfer: "none", error } : { status, bytes: 0, transfer: "none" };
}

/** 405 for anything but GET and HEAD, unless the caller opted out; undefined to go on. */
export function rejectMethod(req: Request, res: Reply, options: ServeOptions): ServeResult | undefined {
  const method = req.method ?? "GET";
  if (options.rejectOtherMethods === false || method === "GET" || method === "HEAD") return undefined;
  res.setHeader("Allow", "GET, HEAD");
  return replyError(res, 405);
}

/** Go's toHTTPError: missing → 404, not allowed → 403, anything else → 500. */
export function statusForError(err: Error): number {
  switch ((err as NodeJS.ErrnoException).code) {
    case "ENOENT":
    case "ENOTDIR":
    case "ENAMETOOLONG":
    case "ELOOP":
      return 404;
    case "EACCES":
    case "EPERM":
      return 403;
    default:
      return 500;
  }
}

/**
 * Whatever went wrong, as a reply: an error page while the head is not out yet, else a
 * cut connection (the head promised a length the body will not reach).
 */
export function failure(res: Reply, err: unknown): ServeResult {
  const error = err instanceof Error ? err : new Error(String(err));
  if (!res.headersSent) return replyError(res, statusForError(error), error);
  res.destroy();
  return { status: res.statusCode, bytes: 0, transfer: "none", error };
}
