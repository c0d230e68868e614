/**
 * `[METHOD] URL [ITEM…]`: which positional is the method, and the URL shorthands of
 * HTTPie and xh (`:3000/x` is http://localhost:3000/x; a URL without a scheme gets http://).
 */
import { UsageError } from "./args.js";

const METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "TRACE",
  "CONNECT",
  "QUERY",
]);

/**
 * The first positional is a method when another positional follows it and it is a
 * well-known method in any case (`post`), or an upper-case token (`PROPFIND`).
 */
export function splitPositionals(positionals: readonly string[]): {
  method: string | undefined;
  url: string;
  items: string[];
} {
  if (positionals.length === 0) throw new UsageError("no URL given");
  const [first, ...rest] = positionals as [string, ...string[]];
  if (rest.length > 0 && (METHODS.has(first.toUpperCase()) || /^[A-Z][A-Z0-9_-]*$/.test(first))) {
    const [url, ...items] = rest as [string, ...string[]];
    return { method: first.toUpperCase(), url, items };
  }
  return { method: undefined, url: first, items: rest };
}

export function expandURL(arg: string): URL {
  let text = arg;
  if (text.startsWith(":")) {
    // :3000/x, :/x, :3000, : — localhost.
    const m = /^:(\d*)(.*)$/.exec(text)!;
    const port = m[1] === "" ? "" : `:${m[1]}`;
    const rest = m[2] === "" ? "/" : m[2]!;
    text = `http://localhost${port}${rest.startsWith("/") || rest.startsWith("?") ? rest : `/${rest}`}`;
  } else if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(text)) {
    text = `http://${text}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(arg)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`unsupported scheme ${url.protocol.slice(0, -1)} in ${JSON.stringify(arg)}`);
  }
  return url;
}
