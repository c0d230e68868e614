/**
 * `roundtrip serve [DIR]`: a static file server on node:http and serveFile — sendfile(2),
 * ranges, conditional requests, index.html — plus directory listings, and one access log
 * line per request on stdout.
 *
 * Nothing outside DIR is served (decided here, documented in docs/cli.md):
 *  - a path with a `..` segment, raw or percent-encoded, is 400 (serveFile's rule, checked
 *    here too before a listing is made);
 *  - a symlink is followed only if what it points to is inside DIR (after resolving every
 *    link): serveFile checks the file it opened, the listing checks the directory's real
 *    path; one leading out answers 403. Listings still show such a link's name.
 *  - dotfiles are served like any file (as Go's FileServer and python -m http.server do).
 */
import { once } from "node:events";
import { realpath, stat } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { serveFile } from "../server/index.js";
import { type FlagSpec, has, last, nonNegativeInt, parseArgs, UsageError } from "./args.js";
import { EXIT } from "./exit-codes.js";
import { listingPage, readListing } from "./listing.js";
import type { Streams } from "./request.js";
import { formatMs } from "./style.js";

const SERVE_FLAGS: FlagSpec[] = [
  { key: "port", names: ["port", "p"], value: true },
  { key: "host", names: ["host", "b", "bind"], value: true },
  { key: "noListing", names: ["no-listing"] },
  { key: "quiet", names: ["q", "quiet"] },
  { key: "help", names: ["h", "help"] },
];

export interface ServeOptions {
  dir: string;
  port: number;
  host: string;
  listing: boolean;
  quiet: boolean;
}

export function parseServeCommand(
  argv: readonly string[],
): { kind: "help" } | { kind: "serve"; options: ServeOptions } {
  const args = parseArgs(argv, SERVE_FLAGS);
  if (has(args, "help")) return { kind: "help" };
  if (args.positionals.length > 1) throw new UsageError("serve takes one directory");
  const port = nonNegativeInt(last(args, "port"), "--port") ?? 8000;
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  return {
    kind: "serve",
    options: {
      dir: resolve(args.positionals[0] ?? "."),
      port,
      host: last(args, "host") ?? "127.0.0.1",
      listing: !has(args, "noListing"),
      quiet: has(args, "quiet"),
    },
  };
}

function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** The decoded URL path, or null when it is malformed or climbs out (`..`, NUL). */
function decodedPath(url: string): string | null {
  let path = url.split(/[?#]/, 1)[0]!;
  // An absolute-form target (GET http://host/x) names its path after the authority.
  if (!path.startsWith("/")) {
    try {
      path = new URL(path).pathname;
    } catch {
      return null;
    }
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.split(/[/\\]/).includes("..")) return null;
  return decoded;
}

const CLF_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Common Log Format's date, in UTC: 04/Dec/2025:19:02:01 +0000. */
function clfDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getUTCDate())}/${CLF_MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** A request line fit for a log line: quotes, backslashes and control bytes escaped. */
function logSafe(s: string): string {
  return s.replace(
    /["\\\x00-\x1f\x7f-\uffff]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

export function accessLogLine(
  req: http.IncomingMessage,
  client: string,
  status: number,
  bytes: number,
  ms: number,
  transfer: string,
  now = new Date(),
): string {
  const line = `${req.method} ${req.url} HTTP/${req.httpVersion}`;
  return `${client} - - [${clfDate(now)}] "${logSafe(line)}" ${status} ${bytes} ${formatMs(ms)} ${transfer}\n`;
}

async function sendListing(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  dir: string,
  urlPath: string,
  realRoot: string,
): Promise<{ status: number; bytes: number }> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD", "Content-Length": "0" }).end();
    return { status: 405, bytes: 0 };
  }
  const page = Buffer.from(listingPage(urlPath, await readListing(dir, realRoot)), "utf8");
  res.writeHead(200, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Length": String(page.length),
    "X-Content-Type-Options": "nosniff",
  });
  res.end(req.method === "HEAD" ? undefined : page);
  return { status: 200, bytes: req.method === "HEAD" ? 0 : page.length };
}

function plain(res: http.ServerResponse, status: number): { status: number; bytes: number } {
  const body = `${http.STATUS_CODES[status] ?? status}\n`;
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(body.length),
  });
  res.end(body);
  return { status, bytes: body.length };
}

export function serveHandler(
  options: ServeOptions,
  log: (line: string) => void,
): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const root = options.dir;
  const realRoot = realpath(root);
  realRoot.catch(() => {});
  return async (req, res) => {
    const t0 = performance.now();
    // Read now: once a body went out over the socket route the socket may be gone.
    const client = req.socket.remoteAddress ?? "-";
    let outcome: { status: number; bytes: number; transfer?: string };
    const path = decodedPath(req.url ?? "/");
    if (path === null) outcome = plain(res, 400);
    else {
      const target = join(root, path);
      const st = inside(root, target) ? await stat(target).catch(() => null) : null;
      const wantsListing =
        options.listing &&
        st?.isDirectory() === true &&
        path.endsWith("/") &&
        (await stat(join(target, "index.html")).catch(() => null)) === null;
      if (wantsListing) {
        const real = await realpath(target).catch(() => null);
        const rootReal = await realRoot;
        outcome =
          real !== null && inside(rootReal, real)
            ? await sendListing(req, res, target, path, rootReal)
            : plain(res, 403);
      } else {
        // Files, index.html, the slash redirect, 404/403/412/304/206: serveFile's rules.
        outcome = await serveFile(req, res, path, { root, index: "index.html" });
      }
    }
    if (!options.quiet) {
      log(
        accessLogLine(
          req,
          client,
          outcome.status,
          outcome.bytes,
          performance.now() - t0,
          outcome.transfer ?? "none",
        ),
      );
    }
  };
}

export async function runServe(options: ServeOptions, s: Streams): Promise<number> {
  const st = await stat(options.dir).catch(() => null);
  if (st === null || !st.isDirectory()) throw new UsageError(`not a directory: ${options.dir}`);
  const handler = serveHandler(options, (line) => s.stdout.write(line));
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      s.stderr.write(`roundtrip: ${(err as Error).message}\n`);
      if (!res.headersSent) plain(res, 500);
      else res.destroy();
    });
  });
  server.listen(options.port, options.host);
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([err]) => {
      throw new UsageError(`cannot listen on ${options.host}:${options.port}: ${(err as Error).message}`);
    }),
  ]);
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  s.stderr.write(`Serving ${options.dir} on http://${host}:${addr.port}/ (Ctrl-C to stop)\n`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      server.close(() => done());
      server.closeAllConnections();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return EXIT.ok;
}
