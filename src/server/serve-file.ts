/**
 * Go's http.ServeFile: picks the file, refuses unsafe requests and paths, opens it, and
 * hands it to the serveContent core with validators from fstat.
 *
 * Path safety, in order:
 * 1. A request whose URL path has a `..` segment, raw or percent-encoded, is refused with
 *    400 before the file system is touched (Go does the same for raw `..`): it guards
 *    callers who build `path` from `req.url`.
 * 2. With `root`, `path` is taken relative to the root (a leading `/` included), and a
 *    path that leaves it lexically is refused with 403.
 * 3. With `root`, the file actually opened is located through its descriptor
 *    (/proc/self/fd on Linux) and must lie inside the root's real path, so a symlink
 *    pointing out of the root is refused with 403, with no window between check and open.
 */
import { type BigIntStats, constants } from "node:fs";
import { readlink, realpath, stat } from "node:fs/promises";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ownOptions } from "../options.js";
import { fileETag } from "./etag.js";
import { FileDescriptor } from "./file-descriptor.js";
import { failure, rejectMethod, replyError } from "./reply.js";
import { type Reply, type Request, type Response, reply } from "./send.js";
import { type ServeOptions, type ServeResult, serveResolved } from "./serve-content.js";

export interface ServeFileOptions extends ServeOptions {
  /**
   * Directory the file must stay inside, after symlinks are resolved. `path` is then
   * relative to it. Default: none; `path` is used as given and symlinks are followed
   * anywhere, as Go's ServeFile does.
   */
  root?: string;
  /**
   * File name served when `path` is a directory, e.g. `"index.html"`. A directory request
   * whose URL lacks the trailing slash is redirected (301) to add it, so relative links in
   * the page work. Default `false`: directories answer 404 (there are no listings).
   */
  index?: string | false;
  /**
   * ETag generated from the file's size and nanosecond mtime (see docs/server.md):
   * `"strong"`, `"weak"` (W/ prefix; If-Range then never matches it) or `false` for none.
   * An ETag already set on `res` is kept instead. Default `"strong"`.
   */
  etag?: "strong" | "weak" | false;
}

// O_NONBLOCK: opening a FIFO must not park a thread-pool thread until a writer shows up.
// It changes nothing for regular files.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * Replies to `req` with the file at `path` (see Go's http.ServeFile), with everything
 * serveContent does. A missing file is 404, a permission error 403, a directory 404 unless
 * `index` is set. Never rejects; the result says what happened.
 */
export async function serveFile(
  req: Request,
  response: Response,
  path: string,
  options: ServeFileOptions = {},
): Promise<ServeResult> {
  // Own properties only: a polluted Object.prototype.root is not an option.
  options = ownOptions(options);
  const res = reply(response);
  if (res.headersSent) {
    return { status: res.statusCode, bytes: 0, transfer: "none", error: new Error("headers already sent") };
  }
  if (urlHasDotDot(req.url ?? "/")) return replyError(res, 400);
  const refused = rejectMethod(req, res, options);
  if (refused) return refused;

  let handle: FileDescriptor | undefined;
  try {
    const root = options.root === undefined ? undefined : resolve(options.root);
    const target = root === undefined ? resolve(path) : join(root, path);
    if (path.includes("\0") || (root !== undefined && !inside(root, target))) return replyError(res, 403);
    const realRoot = root === undefined ? undefined : realpath(root);
    // A rejected realpath would otherwise be unhandled if open() fails first.
    realRoot?.catch(() => {});

    let opened = await openInside(target, realRoot);
    if (!opened) return replyError(res, 403);
    ({ handle } = opened);

    let name = target;
    if (opened.info.isDirectory()) {
      const index = options.index;
      if (!index || index.includes("/") || index.includes(sep) || index === "..") return replyError(res, 404);
      const url = req.url ?? "/";
      const urlPath = url.split("?")[0]!;
      if (!urlPath.endsWith("/"))
        return redirect(res, `${slashRedirect(urlPath)}${url.slice(urlPath.length)}`);
      await handle.close();
      handle = undefined;
      name = join(target, index);
      opened = await openInside(name, realRoot);
      if (!opened) return replyError(res, 403);
      ({ handle } = opened);
    }
    const { info, handle: file } = opened;
    // Devices, FIFOs and sockets have no size to serve; a nested directory has no index.
    if (!info.isFile()) return replyError(res, 404);

    const etag = options.etag === undefined ? "strong" : options.etag;
    return await serveResolved(
      req,
      res,
      {
        name,
        modified: Number(info.mtimeNs / 1_000_000n),
        size: Number(info.size),
        etag: etag === false ? undefined : fileETag(Number(info.size), info.mtimeNs, etag === "weak"),
        source: () => Promise.resolve(file),
      },
      options,
    );
  } catch (err) {
    return failure(res, err);
  } finally {
    await handle?.close().catch(() => {});
  }
}

/**
 * Opens `path`; with a root, also checks that the file actually opened lies inside it
 * (closing it and returning undefined when it does not).
 */
async function openInside(
  path: string,
  realRoot: Promise<string> | undefined,
): Promise<{ handle: FileDescriptor; info: BigIntStats } | undefined> {
  const handle = await FileDescriptor.open(path, OPEN_FLAGS);
  try {
    const info = await handle.stat();
    if (realRoot && !inside(await realRoot, await openedPath(handle, path, info))) {
      await handle.close();
      return undefined;
    }
    return { handle, info };
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
}

/** Whether `path` is `dir` or below it; both absolute and normalized. */
function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * The real path of the file behind an open descriptor. On Linux /proc/self/fd names it
 * exactly, whatever happened to the path since open(). Elsewhere, realpath() of the name
 * is trusted only if it still leads to the same inode.
 */
async function openedPath(handle: FileDescriptor, name: string, info: BigIntStats): Promise<string> {
  try {
    return await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    const real = await realpath(name);
    const again = await stat(real, { bigint: true });
    if (again.dev !== info.dev || again.ino !== info.ino)
      throw Object.assign(new Error("file moved"), { code: "ENOENT" });
    return real;
  }
}

/**
 * The Location adding the trailing slash to a directory's URL path: its last segment and
 * a slash, relative as in Go's localRedirect (so it works under a path prefix the server
 * strips). A segment that would not read as a relative path — one starting with a
 * backslash (`/\\evil.test` would give `\\evil.test/`, which browsers and WHATWG URL
 * resolve as `//evil.test/`, another origin) or holding a colon (`https:evil.test/` is
 * an absolute URL) — is prefixed with `./`, which keeps it a path on the same origin.
 */
function slashRedirect(urlPath: string): string {
  const last = basename(urlPath);
  return /^\\|:/.test(last) ? `./${last}/` : `${last}/`;
}

function redirect(res: Reply, location: string): ServeResult {
  res.setHeader("Location", location);
  res.setHeader("Content-Length", "0");
  res.writeHead(301);
  res.end();
  return { status: 301, bytes: 0, transfer: "none" };
}

/**
 * Whether the request target's path has a `..` segment, as sent or after percent-decoding
 * (up to three rounds, for callers who decode more than once). Backslashes count as
 * separators too, for paths that end up on Windows. A malformed escape in the raw path is
 * treated like `..`: the URL is invalid either way.
 */
export function urlHasDotDot(url: string): boolean {
  let path = url;
  const q = path.search(/[?#]/);
  if (q >= 0) path = path.slice(0, q);
  for (let round = 0; round < 4; round++) {
    if (path.split(/[/\\]/).includes("..")) return true;
    if (!path.includes("%")) return false;
    try {
      path = decodeURIComponent(path);
    } catch {
      return round === 0;
    }
  }
  return false;
}
