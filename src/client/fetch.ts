/**
 * fetch(): the WHATWG Fetch API over roundtrip's Client, so code written for
 * globalThis.fetch gets the pool, retries, zero copy and traces. It returns a standard
 * globalThis.Response. Differences from Node's built-in fetch are listed in docs/fetch.md
 * (and asserted in test/client/fetch-compare.test.ts).
 */
import type { BodyInit } from "../body/outgoing.js";
import { RoundtripError } from "../errors.js";
import { ownOptions } from "../options.js";
import type { Response as RtResponse } from "../transport/response.js";
import { Client, type ClientRequest, getDefaultClient, maskURL } from "./client.js";

export interface FetchInit extends Omit<RequestInit, "body"> {
  /** Every BodyInit of roundtrip: fetch's own kinds, plus file(), Node Readables and async iterables. */
  body?: BodyInit | null;
  /** Node's fetch requires "half" with a stream body; ours accepts it and does not require it. */
  duplex?: "half";
  /** Send with this Client (its transport, timeout, jar, default headers, baseURL) instead of the default one. */
  client?: Client;
}

/** Statuses whose Response has a null body (WHATWG "null body status"). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
/** Methods fetch refuses (WHATWG "forbidden method"). */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
/** RFC 9110 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export async function fetch(
  input: string | URL | Request,
  init: FetchInit = {},
): Promise<globalThis.Response> {
  // Own properties only: a polluted Object.prototype.client or .headers is not an option.
  init = ownOptions(init);
  const client = init.client ?? getDefaultClient();
  let url: string;
  let method = init.method;
  let headers: HeadersInit | undefined = init.headers;
  let body: BodyInit | null | undefined = init.body;
  let signal = init.signal ?? undefined;
  let redirect = init.redirect;
  if (input instanceof Request) {
    url = input.url;
    method ??= input.method;
    headers ??= input.headers;
    if (body === undefined && input.body !== null) body = input.body as ReadableStream<Uint8Array>;
    signal ??= input.signal;
    redirect ??= input.redirect;
  } else {
    url = String(input);
  }
  try {
    client._resolveURL(url);
  } catch (cause) {
    // A URL that does not parse says what Node's fetch says; a baseURL's refusal says why.
    const unparsed = !(cause instanceof RoundtripError) || cause.cause instanceof TypeError;
    throw new TypeError(unparsed ? `Failed to parse URL from ${maskURL(url)}` : cause.message, { cause });
  }
  method = normalizeMethod(method ?? "GET");
  if (!TOKEN.test(method)) throw new TypeError(`'${method}' is not a valid HTTP method.`);
  if (FORBIDDEN_METHODS.has(method.toUpperCase()))
    throw new TypeError(`'${method}' HTTP method is unsupported.`);
  if ((method === "GET" || method === "HEAD") && body != null) {
    throw new TypeError("Request with GET/HEAD method cannot have body.");
  }
  if (signal?.aborted) throw signal.reason;

  const req: ClientRequest = { url, method };
  const h = new globalThis.Headers(headers as globalThis.HeadersInit | undefined);
  // fetch sends Accept: */* unless the request (or the client's defaults) says otherwise.
  if (!h.has("accept") && !(client.headers?.has("accept") ?? false)) h.set("accept", "*/*");
  req.headers = h;
  if (body != null) req.body = body;
  if (signal) req.signal = signal;
  const target = redirect === "manual" || redirect === "error" ? withRedirectMode(client, redirect) : client;

  let res: RtResponse;
  try {
    res = await target.do(req);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new TypeError("fetch failed", { cause: err });
  }
  if (res.status < 200 || res.status > 599) {
    await res.close();
    throw new TypeError("fetch failed", {
      cause: new RoundtripError("ERR_BAD_RESPONSE", `status ${res.status} cannot be returned by fetch`),
    });
  }
  const nullBody = NULL_BODY_STATUS.has(res.status) || method === "HEAD";
  if (nullBody) await res.close();
  // A body that arrived whole with the head goes in as bytes: no stream to pump per chunk.
  const payload: globalThis.BodyInit | null = nullBody
    ? null
    : res.body._complete
      ? ((await res.body.bytes()) as Uint8Array<ArrayBuffer>)
      : bodyStream(res, signal);
  const out = new globalThis.Response(payload, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers.raw(),
  });
  Object.defineProperty(out, "url", { value: res.url.replace(/#.*$/, ""), enumerable: true });
  Object.defineProperty(out, "redirected", { value: res.redirected, enumerable: true });
  return out;
}

/** The same client, with checkRedirect replaced to stop (manual) or fail (error) at the first redirect. */
function withRedirectMode(client: Client, mode: "manual" | "error"): Client {
  return new Client({
    transport: client.transport,
    timeout: client.timeout,
    maxRedirects: client.maxRedirects,
    ...(client.jar ? { jar: client.jar } : {}),
    ...(client.baseURL ? { baseURL: client.baseURL } : {}),
    allowAbsoluteUrls: client.allowAbsoluteUrls,
    ...(client.headers ? { headers: client.headers } : {}),
    stripHeadersOnCrossOriginRedirect: [...client.stripHeadersOnCrossOriginRedirect],
    checkRedirect: () => {
      if (mode === "error") throw new TypeError("unexpected redirect");
      return false;
    },
  });
}

/**
 * The response body as a ReadableStream. Once the caller's signal has fired, a read
 * fails with the signal's reason, as with Node's fetch (not our ERR_ABORTED).
 */
function bodyStream(res: RtResponse, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  const it = res.body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next();
        } catch (err) {
          throw signal?.aborted ? signal.reason : err;
        }
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      async cancel() {
        // Free the connection first (it wakes a pending read); the iterator may never have started.
        await res.close();
        await it.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

const NORMALIZED = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
function normalizeMethod(m: string): string {
  const up = m.toUpperCase();
  return NORMALIZED.has(up) ? up : m;
}
