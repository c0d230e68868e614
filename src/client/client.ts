/**
 * Client: redirects, cookies, one deadline for the whole exchange, basic auth from URL
 * userinfo — on top of any RoundTripper (a Transport by default). It never touches a
 * socket; each hop is one transport.roundTrip.
 */
import type { BodyInit } from "../body/outgoing.js";
import { RoundtripError, redactURL } from "../errors.js";
import { isToken, printable } from "../http1/chars.js";
import { Headers, type HeadersInit } from "../http1/headers.js";
import { validateMethod } from "../http1/request.js";
import { type AfterResponseHook, type BeforeRequestHook, withHooks } from "../middleware/hooks.js";
import { ownOptions } from "../options.js";
import { handOver, type RequestOptions, type TransportRequest } from "../transport/prepared.js";
import type { Response } from "../transport/response.js";
import { type RoundTripper, Transport } from "../transport/transport.js";
import { parseBaseURL, resolveAgainstBase } from "./base-url.js";
import {
  BODY_HEADERS,
  isCrossOrigin,
  isRelativeLocation,
  isReplayableInit,
  keepsCredentials,
  REDIRECT_STATUSES,
  redirectPlan,
  resolveLocation,
  SENSITIVE_HEADERS,
} from "./redirect.js";

/** Any cookie store with these two methods; tough-cookie's CookieJar fits as is. */
export interface CookieJar {
  getCookieString(url: string): string | Promise<string>;
  setCookie(cookie: string, url: string): unknown;
}

/**
 * What checkRedirect sees of a request: the next one, or one already sent (`via`).
 * Editing `headers` of the next request changes what is sent.
 */
export interface RedirectRequest {
  /** With the userinfo, if any, as the URL was given or resolved. */
  url: URL;
  method: string;
  /** The caller's headers as they go on this hop (before cookies and basic auth are added). */
  headers: Headers;
  /**
   * The 3xx response that caused this request; absent on the first one. Its body is
   * drained once checkRedirect returns (unless it returns false: then it is the result).
   */
  response?: Response;
}

/**
 * Called before each redirect is followed with the next request and every request sent
 * so far, oldest first (`via[0]` is the original). Return (or resolve to) false to stop
 * and get the 3xx response as is (Go's ErrUseLastResponse); anything else follows.
 * Throw (or reject) to fail the call with ERR_REDIRECT and the error as `cause`.
 */
export type CheckRedirect = (
  req: RedirectRequest,
  via: RedirectRequest[],
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing means "follow".
) => void | boolean | Promise<void | boolean>;

export interface ClientOptions {
  /** Sends each hop. Default: the shared default Transport (getDefaultTransport()). */
  transport?: RoundTripper;
  /**
   * ms for the whole exchange: every hop, every redirect, the jar and checkRedirect, and
   * reading the body to its end. Fails with ERR_TIMEOUT, phase "client". 0 = none.
   * Default 0. The Transport's own timeouts (dial, responseHeader, body stall) still apply.
   */
  timeout?: number;
  /** Cookie store asked before each hop and told after it. Default: none (no cookies kept). */
  jar?: CookieJar;
  /** Decides each redirect; see CheckRedirect. Default: follow (up to maxRedirects). */
  checkRedirect?: CheckRedirect;
  /** Redirects followed at most; one more is ERR_TOO_MANY_REDIRECTS (0: none followed). Default 10. */
  maxRedirects?: number;
  /**
   * Base for request URLs. A relative URL is joined under the base path with one slash
   * (`https://h/v1` + `users` or `/users` → `https://h/v1/users`; `../x` and `./x` then
   * resolve as usual); an empty one is the base itself. A URL naming an origin — absolute,
   * `//host`, `/\host`, or a URL object — must have the base's origin (scheme, host, port)
   * unless allowAbsoluteUrls, else ERR_INVALID_REQUEST: client-wide credentials never go
   * to another host (axios CVE-2025-27152). No query or fragment. Default: none.
   */
  baseURL?: string | URL;
  /**
   * With a baseURL: let a request URL name another origin (resolved against the base, the
   * WHATWG way). Without a baseURL every URL is absolute and this changes nothing.
   * Default false.
   */
  allowAbsoluteUrls?: boolean;
  /** Sent with every request unless the request sets a header of the same name (any case). Default: none. */
  headers?: HeadersInit;
  /**
   * More request headers (names, any case) to drop on a redirect to another origin
   * (scheme, host or port), e.g. `["X-Api-Key"]` for a custom credential. Once dropped
   * they stay dropped for the rest of the chain; checkRedirect sees the request without
   * them. Added to what is always dropped when a redirect leaves the first request's host
   * and its subdomains (Go's rule): Authorization, Cookie, Cookie2, Proxy-Authorization,
   * Proxy-Authenticate, WWW-Authenticate. A name that is not a token is ERR_INVALID_REQUEST.
   * Default: none.
   */
  stripHeadersOnCrossOriginRedirect?: string[];
  /** Runs before each hop (every redirect too) reaches the transport; may edit it. See docs/middleware.md. */
  beforeRequest?: BeforeRequestHook;
  /** Runs on each hop's response head; may return a replacement. See docs/middleware.md. */
  afterResponse?: AfterResponseHook;
}

export interface ClientRequestOptions extends RequestOptions {
  /** Appended to the URL's query (after what the URL already has). */
  searchParams?: URLSearchParams | Record<string, string | number | boolean> | string;
  /** Overrides the client's timeout for this call (ms, 0 = none). */
  timeout?: number;
}

export interface ClientRequest extends ClientRequestOptions {
  url: string | URL;
}

let defaultTransport: Transport | null = null;
/** The Transport shared by the default Client and by clients given none. */
export function getDefaultTransport(): Transport {
  defaultTransport ??= new Transport();
  return defaultTransport;
}

const kPrefixed = Symbol("roundtrip.prefixed");

export class Client {
  readonly transport: RoundTripper;
  readonly timeout: number;
  readonly jar: CookieJar | undefined;
  readonly checkRedirect: CheckRedirect | undefined;
  readonly maxRedirects: number;
  readonly baseURL: URL | undefined;
  readonly allowAbsoluteUrls: boolean;
  readonly headers: Headers | null;
  /** Lower-cased; see ClientOptions.stripHeadersOnCrossOriginRedirect. */
  readonly stripHeadersOnCrossOriginRedirect: readonly string[];
  /** Nothing client-wide to add to a request: the lean path applies. */
  readonly #lean: boolean;

  constructor(options: ClientOptions = {}) {
    // Own properties only: a polluted Object.prototype.jar or .headers is not an option.
    options = ownOptions(options);
    // The hooks are a middleware under the redirect loop: they see every hop.
    this.transport = withHooks(options.transport ?? getDefaultTransport(), options);
    this.timeout = options.timeout ?? 0;
    this.jar = options.jar;
    this.checkRedirect = options.checkRedirect;
    this.maxRedirects = options.maxRedirects ?? 10;
    this.headers = options.headers === undefined ? null : new Headers(options.headers);
    this.stripHeadersOnCrossOriginRedirect = headerNames(
      options.stripHeadersOnCrossOriginRedirect,
      "stripHeadersOnCrossOriginRedirect",
    );
    if (!Number.isFinite(this.timeout) || this.timeout < 0) {
      throw new RoundtripError("ERR_INVALID_REQUEST", "Client timeout must be a number ≥ 0");
    }
    if (!Number.isSafeInteger(this.maxRedirects) || this.maxRedirects < 0) {
      throw new RoundtripError("ERR_INVALID_REQUEST", "Client maxRedirects must be an integer ≥ 0");
    }
    this.baseURL = options.baseURL === undefined ? undefined : parseBaseURL(options.baseURL);
    this.allowAbsoluteUrls = options.allowAbsoluteUrls === true;
    this.#lean =
      this.jar === undefined && this.timeout === 0 && this.baseURL === undefined && this.headers === null;
  }

  request(url: string | URL, opts?: ClientRequestOptions): Promise<Response> {
    return this.#send(url, opts, undefined);
  }
  get(url: string | URL, opts?: ClientRequestOptions): Promise<Response> {
    return this.#send(url, opts, "GET");
  }
  head(url: string | URL, opts?: ClientRequestOptions): Promise<Response> {
    return this.#send(url, opts, "HEAD");
  }
  post(url: string | URL, opts?: ClientRequestOptions): Promise<Response> {
    return this.#send(url, opts, "POST");
  }
  put(url: string | URL, opts?: ClientRequestOptions): Promise<Response> {
    return this.#send(url, opts, "PUT");
  }
  patch(url: string | URL, opts?: ClientRequestOptions): Promise<Response> {
    return this.#send(url, opts, "PATCH");
  }
  delete(url: string | URL, opts?: ClientRequestOptions): Promise<Response> {
    return this.#send(url, opts, "DELETE");
  }

  /** Sends `req`, following redirects, and resolves with the final response. */
  do(req: ClientRequest): Promise<Response> {
    const own = ownOptions(req);
    return this.#send(own.url, own, undefined);
  }

  /**
   * URL and options travel separately: merging them with a spread ({ ...opts, url })
   * cost ~8 µs a request here, the spread object keeping the callers from being optimized.
   */
  #send(
    url: string | URL,
    opts: ClientRequestOptions | undefined,
    method: string | undefined,
  ): Promise<Response> {
    // Own properties only: a polluted Object.prototype.host or .headers is not an option.
    const o = ownOptions(opts) ?? EMPTY_OPTIONS;
    if (this.#lean && o.searchParams === undefined && o.timeout === undefined && !hasUserinfo(url)) {
      return this.#leanDo(url, o, method ?? o.method);
    }
    return this.#fullDo(withTarget(o, url, method));
  }

  /**
   * The common case — no jar, deadline, base URL, default headers, query additions or
   * userinfo — straight to the transport; the redirect loop joins only for a 3xx with a
   * Location. Behaviour is the same as the full path's; it just skips building what the
   * request does not use.
   */
  async #leanDo(url: string | URL, req: ClientRequestOptions, method: string | undefined): Promise<Response> {
    let res: Response;
    try {
      res = await this.transport.roundTrip({
        url,
        method,
        headers: req.headers,
        body: req.body,
        json: req.json,
        form: req.form,
        signal: req.signal,
        trace: req.trace,
        expectContinue: req.expectContinue,
        onUploadProgress: req.onUploadProgress,
        onDownloadProgress: req.onDownloadProgress,
        idempotent: req.idempotent,
        getBody: req.getBody,
        host: req.host,
        close: req.close,
      });
    } catch (err) {
      throw prefix(err, String(method ?? "GET"), url);
    }
    if (!REDIRECT_STATUSES.has(res.status) || !res.headers.has("location")) return res;
    const current: Hop = { url: new URL(res.url), method: sentMethod(method) };
    try {
      return await this.#follow(withTarget(req, url, method), current, req.signal, res);
    } catch (err) {
      throw prefix(err, current.method, current.url);
    }
  }

  async #fullDo(req: ClientRequest): Promise<Response> {
    const url = this.#resolveURL(req);
    const method = sentMethod(req.method);
    const timeout = req.timeout ?? this.timeout;
    if (!Number.isFinite(timeout) || timeout < 0) {
      throw new RoundtripError("ERR_INVALID_REQUEST", "timeout must be a number ≥ 0");
    }
    // The caller's fast path: no deadline, so no extra signal or timer.
    let deadline: Deadline | null = null;
    let signal = req.signal;
    if (timeout > 0) {
      deadline = new Deadline(timeout, req.signal, redactURL(url));
      signal = deadline.signal;
    }
    // The request being sent (or refused) when something fails: errors name that one, as Go's url.Error.
    const current: Hop = { url, method };
    try {
      const res = await this.#follow(req, current, signal, null);
      if (deadline !== null) {
        const d = deadline;
        res._onBodySettled(() => d.clear());
        deadline = null;
      }
      return res;
    } catch (err) {
      throw prefix(err, current.method, current.url);
    } finally {
      deadline?.clear();
    }
  }

  /** @internal A request URL as this Client sends it (baseURL applied); ERR_INVALID_REQUEST if it cannot be. */
  _resolveURL(input: string | URL): URL {
    if (this.baseURL !== undefined) return resolveAgainstBase(input, this.baseURL, this.allowAbsoluteUrls);
    try {
      return new URL(String(input));
    } catch (cause) {
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        `invalid URL ${JSON.stringify(maskURL(String(input)))}`,
        {
          cause,
        },
      );
    }
  }

  #resolveURL(req: ClientRequest): URL {
    const url = this._resolveURL(req.url);
    const sp = req.searchParams;
    if (sp !== undefined) {
      const extra =
        typeof sp === "string" || sp instanceof URLSearchParams ? new URLSearchParams(sp) : toParams(sp);
      for (const [k, v] of extra) url.searchParams.append(k, v);
    }
    return url;
  }

  /** The redirect loop. `first`: the response to the first hop when it was already sent. */
  async #follow(
    req: ClientRequest,
    current: Hop,
    signal: AbortSignal | undefined,
    first: Response | null,
  ): Promise<Response> {
    const initial = current.url;
    let url = current.url;
    let method = current.method;
    let headers = mergeHeaders(this.headers, req.headers);
    let body: BodyInit | null | undefined = req.body;
    let json = req.json;
    let form = req.form;
    let getBody = req.getBody;
    // A custom Host, from the option or a Host header (the option wins, as in the Transport).
    let host = req.host;
    if (headers.size > 0) {
      host ??= headers.get("host") ?? undefined;
      headers.delete("host");
    }
    let hop = 0;
    // Every request sent so far, oldest first; each later one is the object checkRedirect was shown.
    const via: RedirectRequest[] = [];
    let sent: RedirectRequest = { url, method, headers };

    while (true) {
      let target = url;
      let res: Response;
      if (first !== null) {
        res = first;
        first = null;
      } else {
        const sendHeaders = new Headers(headers);
        target = stripUserinfo(url, sendHeaders);
        if (this.jar !== undefined) {
          const cookies = await bounded(this.jar.getCookieString(target.href), signal);
          if (cookies) {
            const prev = sendHeaders.get("cookie");
            sendHeaders.set("Cookie", prev ? `${prev}; ${cookies}` : cookies);
          }
        }
        // Built field by field (no spread, no delete): one stable object shape on the hot path.
        const opts: TransportRequest = {
          url: target,
          method,
          headers: handOver(sendHeaders),
          // A stream already sent once is replaced by getBody's fresh one.
          body: hop > 0 && body != null && !isReplayableInit(body) && getBody ? getBody() : body,
          json,
          form,
          signal,
          trace: req.trace,
          expectContinue: req.expectContinue,
          onUploadProgress: req.onUploadProgress,
          onDownloadProgress: req.onDownloadProgress,
          idempotent: req.idempotent,
          getBody,
          host,
          close: req.close,
        };
        res = await this.transport.roundTrip(opts);
      }
      res.url = withoutUserinfo(url).href;
      res.redirected = hop > 0;
      if (this.jar !== undefined) {
        try {
          await bounded(storeCookies(this.jar, res, target.href), signal);
        } catch (err) {
          await res.close();
          throw err;
        }
      }

      if (!REDIRECT_STATUSES.has(res.status)) return res;
      const location = res.headers.get("location");
      if (location === null) return res;
      const plan = redirectPlan(res.status, method);
      if (plan.keepBody && body != null && !isReplayableInit(body) && getBody === undefined) {
        // 307/308 after a one-shot stream and no getBody: it cannot be sent again, and
        // sending the new request without it would change its meaning. Return the 3xx.
        return res;
      }
      let next: URL;
      try {
        next = resolveLocation(location, url);
      } catch (cause) {
        await res.close();
        throw new RoundtripError(
          "ERR_BAD_RESPONSE",
          `redirect to an invalid Location ${JSON.stringify(location.slice(0, 200))}`,
          { cause },
        );
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") return res;

      const nextHeaders = new Headers(headers);
      if (!plan.keepBody) for (const h of BODY_HEADERS) nextHeaders.delete(h);
      if (!keepsCredentials(initial, next)) for (const h of SENSITIVE_HEADERS) nextHeaders.delete(h);
      if (isCrossOrigin(url, next))
        for (const h of this.stripHeadersOnCrossOriginRedirect) nextHeaders.delete(h);
      const nextHost = host !== undefined && isRelativeLocation(location) ? host : undefined;

      via.push(sent);
      const nextReq: RedirectRequest = {
        url: next,
        method: plan.method,
        headers: nextHeaders,
        response: res,
      };
      current.url = next;
      current.method = plan.method;
      if (via.length > this.maxRedirects) {
        await res.close();
        throw new RoundtripError("ERR_TOO_MANY_REDIRECTS", `stopped after ${this.maxRedirects} redirects`);
      }
      if (this.checkRedirect !== undefined) {
        // biome-ignore lint/suspicious/noConfusingVoidType: what CheckRedirect returns.
        let verdict: void | boolean;
        try {
          verdict = await bounded(this.checkRedirect(nextReq, via.slice()), signal);
        } catch (cause) {
          await res.close();
          if (signal?.aborted && cause === abortReason(signal)) throw cause;
          const why = cause instanceof Error ? `: ${cause.message}` : "";
          throw new RoundtripError("ERR_REDIRECT", `checkRedirect refused the redirect${why}`, { cause });
        }
        if (verdict === false) {
          current.url = url;
          current.method = method;
          return res;
        }
      }
      // Drain (bounded) so the next hop can reuse the connection.
      await res.close();

      sent = nextReq;
      url = nextReq.url;
      method = nextReq.method;
      headers = nextHeaders;
      host = nextHost;
      if (!plan.keepBody) {
        body = undefined;
        json = undefined;
        form = undefined;
        getBody = undefined;
      }
      hop++;
    }
  }
}

interface Hop {
  url: URL;
  method: string;
}

/**
 * `value`, or the abort reason if `signal` fires first: a jar or checkRedirect that
 * hangs cannot outlive the deadline or the caller's abort.
 */
function bounded<T>(value: T | Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!(value instanceof Promise) || signal === undefined) return Promise.resolve(value);
  if (signal.aborted) {
    value.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    value.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

const abortErrors = new WeakMap<AbortSignal, RoundtripError>();
/** The signal's reason as a RoundtripError (ERR_ABORTED wrapping the caller's reason), the same object each time. */
function abortReason(signal: AbortSignal): RoundtripError {
  const reason: unknown = signal.reason;
  if (reason instanceof RoundtripError) return reason;
  let err = abortErrors.get(signal);
  if (err === undefined) {
    err = new RoundtripError("ERR_ABORTED", "the request was aborted", { cause: reason });
    abortErrors.set(signal, err);
  }
  return err;
}

/**
 * Stores a response's cookies. A cookie the jar refuses (another domain, a public
 * suffix, a bad attribute) is dropped, as Go's cookiejar drops it: never fatal.
 */
async function storeCookies(jar: CookieJar, res: Response, url: string): Promise<void> {
  for (const c of res.headers.getSetCookie()) {
    try {
      await jar.setCookie(c, url);
    } catch {
      // Refused by the jar's rules: ignored.
    }
  }
}

/** One deadline for a whole exchange, told apart from the caller's own abort. */
class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #caller: AbortSignal | undefined;
  readonly #onCallerAbort: (() => void) | null = null;

  constructor(ms: number, caller: AbortSignal | undefined, url: string) {
    this.#caller = caller;
    this.#timer = setTimeout(() => {
      this.#controller.abort(
        new RoundtripError("ERR_TIMEOUT", `client timeout of ${ms} ms exceeded`, { phase: "client", url }),
      );
    }, ms);
    if (caller !== undefined) {
      const onAbort = () => {
        const reason = caller.reason;
        this.#controller.abort(
          reason instanceof RoundtripError
            ? reason
            : new RoundtripError("ERR_ABORTED", "the request was aborted", { cause: reason, url }),
        );
      };
      if (caller.aborted) onAbort();
      else caller.addEventListener("abort", onAbort, { once: true });
      this.#onCallerAbort = onAbort;
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  clear(): void {
    clearTimeout(this.#timer);
    if (this.#onCallerAbort !== null) this.#caller?.removeEventListener("abort", this.#onCallerAbort);
  }
}

function mergeHeaders(defaults: Headers | null, given: HeadersInit | undefined): Headers {
  const h = new Headers(given ?? null);
  if (defaults !== null) {
    for (const [name, value] of defaults.raw()) if (!h.has(name)) h.append(name, value);
  }
  return h;
}

/**
 * Basic auth from the URL's userinfo (percent-decoded) unless the caller set
 * Authorization; the userinfo never goes on the wire or to another hop.
 */
function stripUserinfo(url: URL, headers: Headers): URL {
  if (url.username === "" && url.password === "") return url;
  if (!headers.has("authorization")) {
    let user: string;
    let pass: string;
    try {
      user = decodeURIComponent(url.username);
      pass = decodeURIComponent(url.password);
    } catch (cause) {
      throw new RoundtripError("ERR_INVALID_REQUEST", "invalid percent-encoding in the URL's userinfo", {
        cause,
      });
    }
    headers.set("Authorization", "Basic " + Buffer.from(`${user}:${pass}`, "utf8").toString("base64"));
  }
  return withoutUserinfo(url);
}

function withoutUserinfo(url: URL): URL {
  if (url.username === "" && url.password === "") return url;
  const clean = new URL(url.href);
  clean.username = "";
  clean.password = "";
  return clean;
}

/**
 * A URL string as it may appear in messages, even when it does not parse: the password
 * between "scheme://user:" and the last "@" of the authority becomes ***.
 * @internal
 */
export function maskURL(text: string): string {
  return redactURL(text);
}

/** A list of header names, validated and lower-cased. */
function headerNames(names: string[] | undefined, option: string): readonly string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names))
    throw new RoundtripError("ERR_INVALID_REQUEST", `Client ${option} must be an array`);
  return Object.freeze(
    names.map((n) => {
      if (typeof n !== "string" || !isToken(n)) {
        throw new RoundtripError(
          "ERR_INVALID_REQUEST",
          `Client ${option}: invalid header name ${printable(String(n))}`,
        );
      }
      return n.toLowerCase();
    }),
  );
}

function toParams(obj: Record<string, string | number | boolean>): URLSearchParams {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) p.append(k, String(v));
  return p;
}

/**
 * The method as the transport sends it (a standard name upper-cased: `head` is HEAD), so
 * the redirect rules see what went on the wire. An invalid one is left for the transport
 * to refuse.
 */
function sentMethod(method: string | undefined): string {
  const m = String(method ?? "GET");
  try {
    return validateMethod(m);
  } catch {
    return m;
  }
}

/**
 * Prefixes an error message with the method and (redacted) URL of the request that
 * failed or was refused, once, as Go's url.Error; `err.url` is that same URL.
 */
function prefix(err: unknown, method: string, url: URL | string): unknown {
  if (!(err instanceof RoundtripError) || (err as unknown as Record<symbol, boolean>)[kPrefixed]) return err;
  const shown = redactURL(url);
  err.message = `${method} ${shown}: ${err.message}`;
  err.url = shown;
  (err as unknown as Record<symbol, boolean>)[kPrefixed] = true;
  return err;
}

const EMPTY_OPTIONS: ClientRequestOptions = Object.freeze(Object.create(null));

/**
 * The request options with its URL (and method) set, as an object with no prototype: a
 * spread into `{}` would let a polluted Object.prototype answer for every option the
 * caller did not set.
 */
function withTarget(o: ClientRequestOptions, url: string | URL, method: string | undefined): ClientRequest {
  const req = Object.assign(Object.create(null) as ClientRequest, o);
  req.url = url;
  if (method !== undefined) req.method = method;
  return req;
}

let defaultClient: Client | null = null;
/** The Client used by `fetch` and the module-level helpers; over the default Transport. */
export function getDefaultClient(): Client {
  defaultClient ??= new Client();
  return defaultClient;
}

/** Whether a request URL carries userinfo (then the full path turns it into basic auth). */
function hasUserinfo(url: string | URL): boolean {
  // Any "@" sends the request down the full path, which parses the URL: WHATWG URL finds
  // userinfo in shapes a quick pattern would miss ("http:/u:p@h", "http:\\u:p@h").
  if (typeof url === "string") return url.includes("@");
  return url.username !== "" || url.password !== "";
}
