/**
 * A request URL against the Client's baseURL. Relative inputs are joined under the base
 * path, as got, ky and axios do (`https://h/v1` + `users` → `https://h/v1/users`), not
 * resolved the WHATWG way, which drops `/v1` unless the base ends in a slash and always
 * for `/users`. An input that names an origin (an absolute URL, `//host`, `/\host`, or a
 * URL object) may only name the base's own: client-wide credentials (default headers,
 * the base's userinfo) must not follow an attacker-chosen URL to another host (axios
 * CVE-2025-27152, CVE-2024-39338). `allowAbsoluteUrls: true` lifts that.
 */
import { RoundtripError, redactURL } from "../errors.js";

/** What the WHATWG URL parser ignores around and inside an input: C0 controls and spaces at the ends, tabs and newlines anywhere. */
function asParsed(input: string): string {
  return input.replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, "").replace(/[\t\n\r]/g, "");
}

/**
 * Whether the input names an origin: a scheme (`https:`, but also `localhost:8080`,
 * which WHATWG reads as the scheme `localhost`), or two leading slashes, either way
 * round (special URLs read `\` as `/`).
 */
function namesOrigin(input: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(input) || /^[/\\]{2}/.test(input);
}

/** scheme://host:port; unlike URL#origin also for schemes that are not special ("null" there). */
function originOf(u: URL): string {
  return `${u.protocol}//${u.host}`;
}

/** Checks a baseURL given to the Client: a URL with no query or fragment (they have no place to go in a join). */
export function parseBaseURL(input: string | URL): URL {
  let base: URL;
  try {
    base = new URL(String(input));
  } catch (cause) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `invalid baseURL ${JSON.stringify(redactURL(String(input)))}`,
      {
        cause,
      },
    );
  }
  if (base.search !== "" || base.hash !== "") {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `baseURL ${JSON.stringify(redactURL(base))} has a query or fragment; give query parameters per request (searchParams)`,
    );
  }
  return base;
}

/**
 * `input` against `base` (from parseBaseURL). A relative input is appended to the base
 * path with exactly one slash between them (one leading `/` of the input is dropped, so
 * `/users` and `users` are the same; `./` and `../` then resolve as usual); an empty input
 * is the base itself. An input that names an origin resolves the WHATWG way and must keep
 * the base's origin unless `allowAbsoluteUrls`. Throws ERR_INVALID_REQUEST.
 */
export function resolveAgainstBase(input: string | URL, base: URL, allowAbsoluteUrls: boolean): URL {
  const text = input instanceof URL ? input.href : asParsed(String(input));
  if (input instanceof URL || namesOrigin(text)) {
    let url: URL;
    try {
      url = new URL(text, base);
    } catch (cause) {
      throw new RoundtripError("ERR_INVALID_REQUEST", `invalid URL ${JSON.stringify(redactURL(text))}`, {
        cause,
      });
    }
    if (!allowAbsoluteUrls && originOf(url) !== originOf(base)) {
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        `URL ${JSON.stringify(redactURL(text))} leaves the baseURL's origin ${originOf(base)}; pass allowAbsoluteUrls: true to the Client to allow it`,
      );
    }
    return url;
  }
  if (text === "") return new URL(base.href);
  const prefix = base.href.endsWith("/") ? base.href.slice(0, -1) : base.href;
  const rest = text.startsWith("/") || text.startsWith("\\") ? text.slice(1) : text;
  try {
    return new URL(`${prefix}/${rest}`);
  } catch (cause) {
    throw new RoundtripError("ERR_INVALID_REQUEST", `invalid URL ${JSON.stringify(redactURL(text))}`, {
      cause,
    });
  }
}
